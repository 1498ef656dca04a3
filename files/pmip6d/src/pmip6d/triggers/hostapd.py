"""hostapd control-interface messages → :class:`L2Event`, as pure functions.

After ``ATTACH`` hostapd sends unsolicited events on the control socket,
``<level>EVENT args``::

    <3>AP-STA-CONNECTED 02:00:00:00:01:01
    <3>AP-STA-CONNECTED 02:00:00:00:01:01 keyid=guest p2p_dev_addr=02:00:00:00:02:01
    <3>AP-STA-DISCONNECTED 02:00:00:00:01:01

The global control interface prefixes ``IFNAME=wlan0 ``. Replies to commands
(``OK``, ``PONG``, ``STA-FIRST`` output) carry no ``<level>`` and are read by
:func:`is_event` / :func:`parse_sta_reply`. hostapd does not say whether a
connection was an 802.11 reassociation: attaches carry the hint the MAG's
configuration gives (``connect_hint``), by default none (Handoff Indicator 4).
"""

from __future__ import annotations

import re

from .events import HandoffHint, Ignored, L2Event, ParseResult, Unparsable, station_mac

MAX_MESSAGE = 4096
CONNECTED = "AP-STA-CONNECTED"
DISCONNECTED = "AP-STA-DISCONNECTED"
TERMINATING = "CTRL-EVENT-TERMINATING"
"""hostapd is shutting down (or the interface went away): reconnect later."""

_EVENT = re.compile(
    r"(?:IFNAME=(?P<ifname>[^\s]{1,32}) )?(?:<(?P<level>\d)>)?(?P<name>[A-Z][A-Z0-9_-]{0,63})"
    r"(?: +(?P<args>.*))?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _text(data: bytes | str) -> str | Unparsable:
    if isinstance(data, str):
        text = data
    else:
        text = bytes(data).decode("utf-8", errors="replace")
    if len(text) > MAX_MESSAGE:
        return Unparsable("oversize", f"{len(text)} characters")
    text = text.rstrip("\r\n\x00")
    if not text.strip():
        return Unparsable("empty")
    if _CONTROL.search(text):
        return Unparsable("control_characters")
    return text


def is_event(data: bytes) -> bool:
    """An unsolicited event (``<3>…``, ``IFNAME=… <3>…``) rather than a command reply."""
    return data.startswith(b"<") or data.startswith(b"IFNAME=")


def event_name(data: bytes | str) -> str | None:
    """``<3>CTRL-EVENT-TERMINATING`` → ``CTRL-EVENT-TERMINATING``; None if not an event line."""
    text = _text(data)
    if isinstance(text, Unparsable):
        return None
    m = _EVENT.fullmatch(text)
    return m.group("name") if m is not None else None


def parse_hostapd_event(
    data: bytes | str,
    *,
    source: str = "",
    interface: str | None = None,
    received_at: float = 0.0,
    connect_hint: HandoffHint | None = None,
) -> ParseResult:
    """One hostapd event message → :class:`L2Event` / :class:`Ignored` / :class:`Unparsable`.

    ``connect_hint`` goes into every attach: what the site knows and hostapd
    cannot say (``reassociation`` where each MN has one Wi-Fi interface).
    """
    try:
        return _parse(data, source, interface, received_at, connect_hint)
    except Exception as exc:  # never raise on input
        return Unparsable("parser_error", f"{type(exc).__name__}: {exc}")


def _parse(
    data: bytes | str,
    source: str,
    interface: str | None,
    received_at: float,
    connect_hint: HandoffHint | None,
) -> ParseResult:
    text = _text(data)
    if isinstance(text, Unparsable):
        return text
    m = _EVENT.fullmatch(text)
    if m is None:
        return Unparsable("bad_event", text[:80])
    name = m.group("name")
    if name not in (CONNECTED, DISCONNECTED):
        return Ignored("ignored_event", name)
    args = (m.group("args") or "").split()
    if not args:
        return Unparsable("no_station_mac", text[:80])
    mac = station_mac(args[0])
    if isinstance(mac, Unparsable):
        return mac
    attach = name == CONNECTED
    return L2Event(
        kind="attach" if attach else "detach",
        mac=mac,
        source=source,
        ap=None,
        interface=interface,
        handoff_hint=connect_hint if attach else None,
        reason="Connected" if attach else "Disconnected",
        raw=text,
        received_at=received_at,
        radio=m.group("ifname"),
        detail=" ".join(args[1:]),
    )


def parse_sta_reply(data: bytes | str) -> tuple[bytes, bool] | None:
    """Reply to ``STA-FIRST``/``STA-NEXT``: (station MAC, associated?) or None at the end.

    The reply is the MAC on the first line, then ``key=value`` lines; the
    ``flags=`` line lists ``[ASSOC]`` for an associated station. An empty reply
    or ``FAIL`` ends the list.
    """
    text = bytes(data).decode("utf-8", "replace") if isinstance(data, bytes) else data
    if len(text) > 64 * 1024:
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() in ("", "FAIL", "UNKNOWN COMMAND"):
        return None
    mac = station_mac(lines[0].strip())
    if isinstance(mac, Unparsable):
        return None
    associated = True
    for line in lines[1:]:
        if line.startswith("flags="):
            associated = "[ASSOC]" in line
    return mac, associated
