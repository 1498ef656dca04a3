"""What a layer-2 trigger source reports, and what a parser returns instead of raising.

A trigger source (Cisco syslog, hostapd, …) turns whatever the access point
says into :class:`L2Event` values; the MAG turns those into ``attach()`` /
``detach()`` calls (:func:`handoff_indicator` gives the RFC 5213 value for an
attach). Lines that are not station events come back as :class:`Ignored`,
lines that cannot be read at all as :class:`Unparsable`; both carry a short,
stable ``reason`` fit to be a counter name, like :class:`~pmip6d.wire.messages.Malformed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..rules import is_multicast_mac, is_zero_mac, mac_text
from ..wire.constants import HandoffIndicator

EventKind = Literal["attach", "detach"]
HandoffHint = Literal["new", "reassociation"]


@dataclass(slots=True, frozen=True)
class L2Event:
    """A mobile node associated with, or left, an access point of this MAG."""

    kind: EventKind
    mac: bytes
    """The station's 6-byte MAC address (always a unicast address)."""
    source: str
    """Where the report came from: the AP's IP address (syslog) or the hostapd socket path."""
    ap: str | None
    """The access point's name: the configured name, else the hostname in the syslog header."""
    interface: str | None
    """The MAG's access interface serving that AP (from the source's configuration)."""
    handoff_hint: HandoffHint | None
    """``reassociation`` for an 802.11 reassociation, ``new`` for a fresh association."""
    reason: str
    """``Associated``, ``Reassociated``, ``Disassociated``, ``Deauthenticated``, ``Roamed``, …"""
    raw: str
    """The report as received (decoded, for the log)."""
    received_at: float = 0.0
    """Monotonic time of reception, set by the I/O layer."""
    radio: str | None = None
    """The AP's radio interface (``Dot11Radio0``) or hostapd BSS interface, when reported."""
    detail: str = ""
    """Anything else the AP said: disassociation reason text, the AP roamed to, key management."""

    def __str__(self) -> str:
        where = self.ap or self.source
        return f"{self.kind} {mac_text(self.mac)} at {where} ({self.reason})"


@dataclass(slots=True, frozen=True)
class Ignored:
    """A well-formed report that is not a station attach/detach (another mnemonic or event)."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(slots=True, frozen=True)
class Unparsable:
    """A report that could not be read: bad framing, truncated, a bad MAC address, …"""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


ParseResult = L2Event | Ignored | Unparsable


def handoff_indicator(event: L2Event) -> HandoffIndicator:
    """The RFC 5213 Handoff Indicator a MAG should put in the PBU for this attach.

    A reassociation means the station kept its interface and moved from another
    AP (perhaps at another MAG): 3, handoff between MAGs for the same interface.
    A fresh association is an attachment over a new interface (1). When the
    source cannot tell (hostapd), the state is unknown (4).
    """
    if event.handoff_hint == "reassociation":
        return HandoffIndicator.SAME_INTERFACE
    if event.handoff_hint == "new":
        return HandoffIndicator.NEW_INTERFACE
    return HandoffIndicator.UNKNOWN


# --------------------------------------------------------------------------- MAC addresses

_MAC_FORMS = re.compile(
    r"(?:[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})"  # Cisco 0011.2233.4455
    r"|(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})"  # 00:11:22:33:44:55
    r"|(?:[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})",  # 00-11-22-33-44-55
    re.ASCII,
)


def looks_like_mac(token: str) -> bool:
    """True for one MAC address in Cisco dotted, colon or dash notation (nothing else)."""
    return _MAC_FORMS.fullmatch(token) is not None


def station_mac(token: str) -> bytes | Unparsable:
    """A station MAC in one consistent notation → 6 bytes, or why it is not one.

    Stricter than :func:`pmip6d.rules.parse_mac` on purpose: a bare run of 12
    hex digits or mixed separators is not accepted, since station names in
    Cisco messages may look like that. Group (multicast/broadcast) and
    all-zero addresses are never stations.
    """
    if not looks_like_mac(token):
        return Unparsable("bad_mac", f"{token[:40]!r} is not a MAC address")
    mac = bytes.fromhex(token.replace(".", "").replace(":", "").replace("-", ""))
    if is_multicast_mac(mac):
        return Unparsable("bad_mac", f"{token} is a group address, not a station")
    if is_zero_mac(mac):
        return Unparsable("bad_mac", "the all-zero MAC address is not a station")
    return mac
