"""Syslog from an access point → :class:`L2Event`: Cisco DOT11 lines or hostapd event lines.

One listener serves both kinds of AP. A Cisco Aironet writes ``%DOT11-6-ASSOC``
and friends (:mod:`.cisco`). A Linux or OpenWrt AP running hostapd sends
hostapd's own event lines, tagged ``hostapd``, either from hostapd's syslog
(``hostapd -s``, OpenWrt's ``logd`` forwarding) or from the collection's
``hostapd_cli -a`` forwarder::

    <29>Dec  7 22:50:01 ap2 hostapd: wlan0: AP-STA-CONNECTED 02:00:00:00:01:01
    <30>Dec  7 22:50:01 OpenWrt hostapd[1234]: phy0-ap0: AP-STA-DISCONNECTED 02:00:00:00:01:01

The text after ``IFNAME: `` is read like the control interface's events
(:mod:`.hostapd`); as there, a connect carries the hint the AP's configuration
gives (``connect_hint``), hostapd does not say whether it was a reassociation.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .cisco import parse_cisco
from .events import HandoffHint, L2Event, ParseResult, Unparsable
from .hostapd import parse_hostapd_event
from .syslog import SyslogMessage, parse_syslog

HOSTAPD_APPS = frozenset({"hostapd"})
"""Syslog tags (RFC 3164 TAG, RFC 5424 APP-NAME) whose lines are hostapd events."""

_IFNAME = re.compile(r"(?P<ifname>[^\s:]{1,32}): (?P<event>.*)", re.DOTALL)


def parse_hostapd_syslog(
    message: SyslogMessage,
    *,
    source: str = "",
    received_at: float = 0.0,
    ap: str | None = None,
    interface: str | None = None,
    connect_hint: HandoffHint | None = None,
) -> ParseResult:
    """``IFNAME: AP-STA-CONNECTED MAC …`` (hostapd's syslog line) → result."""
    m = _IFNAME.fullmatch(message.text)
    if m is None:
        return Unparsable("bad_hostapd_line", message.text[:80])
    result = parse_hostapd_event(
        m.group("event"),
        source=source,
        interface=interface,
        received_at=received_at,
        connect_hint=connect_hint,
    )
    if isinstance(result, L2Event):
        result = replace(
            result, ap=ap or message.hostname, radio=m.group("ifname"), raw=message.raw
        )
    return result


def parse_ap_datagram(
    data: bytes | str,
    *,
    source: str = "",
    received_at: float = 0.0,
    ap: str | None = None,
    interface: str | None = None,
    connect_hint: HandoffHint | None = None,
) -> ParseResult:
    """One syslog datagram from an AP (Cisco or hostapd) → result. Never raises.

    ``ap``: the AP's configured name (else the syslog header's hostname);
    ``interface``: the MAG's access interface for it; ``connect_hint``: what a
    hostapd connect means at this AP (Cisco lines say it themselves)."""
    try:
        message = parse_syslog(data)
        if isinstance(message, Unparsable):
            return message
        if message.tag is None and message.app in HOSTAPD_APPS:
            return parse_hostapd_syslog(
                message,
                source=source,
                received_at=received_at,
                ap=ap,
                interface=interface,
                connect_hint=connect_hint,
            )
        return parse_cisco(
            message, source=source, received_at=received_at, ap=ap, interface=interface
        )
    except Exception as exc:  # a parser bug must cost one message, not the listener
        return Unparsable("parser_error", f"{type(exc).__name__}: {exc}")
