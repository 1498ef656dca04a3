"""Cisco IOS (autonomous Aironet) DOT11 station messages → :class:`L2Event`.

The messages used, as IOS writes them after the ``%DOT11-…:`` tag:

``%DOT11-6-ASSOC``
    ``Interface Dot11Radio0, Station NAME 0011.2233.4455 Associated KEY_MGMT[WPAv2 PSK]``;
    ``Reassociated`` for an 802.11 reassociation (a handover from another AP).
    NAME is the client's name from its Aironet/CCX element: often empty (then
    several spaces), and chosen by the client, so it may contain spaces, hex
    digits, even a MAC-like token or the word ``Associated``. The MAC is
    therefore taken as the token just before the *last* ``Associated`` /
    ``Reassociated`` keyword that has one (FlexConnect APs put ``REAP`` in
    between), never by searching for the first MAC-shaped token.
    Some releases write ``Station NAME MAC, SSID s, Authentication Type a,
    Key Management k Associated``; that form is read too.
``%DOT11-6-ADD``
    ``Interface Dot11Radio0, Station NAME MAC Associated to parent NAME MAC``:
    a station behind a repeater whose parent is this AP; an attach here.
``%DOT11-6-DISASSOC``
    ``Interface Dot11Radio0, Deauthenticating Station MAC Reason: …``; also
    without a reason, with the reason but no ``Reason:`` (Mobility Express), or
    ``MAC NAME, Reason …, SSID ….``; and a ``Station NAME MAC Disassociated
    KEY_MGMT[…]`` form (read by the same keyword rule as ASSOC; not seen in
    Cisco's message guides, accepted in case a release writes it).
``%DOT11-6-ROAMED``
    ``Station MAC Roamed to NEW-AP-MAC``: logged by the AP the station *left*,
    so it is a detach here (the new AP, at this MAG or another, reports the
    attach).
``%DOT11-4-MAXRETRIES``
    ``Packet to client MAC reached max retries, removing the client``: the AP
    dropped the station; a detach.

Every other mnemonic (``%DOT11-4-CCMP_REPLAY``, ``%LINK-…``) is
:class:`Ignored`; the severity digit is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .events import HandoffHint, Ignored, L2Event, ParseResult, Unparsable, station_mac
from .syslog import SyslogMessage, parse_syslog

STATION_FACILITY = "DOT11"


@dataclass(slots=True, frozen=True)
class StationReport:
    """What one DOT11 message says, before it is tied to a source."""

    kind: str
    mac: bytes
    reason: str
    handoff_hint: HandoffHint | None = None
    radio: str | None = None
    detail: str = ""


DotResult = StationReport | Ignored | Unparsable

_INTERFACE = r"(?:Interface\s+(?P<radio>[^\s,]{1,64}),\s*)?"
_ASSOC_HEAD = re.compile(_INTERFACE + r"Station(?:\s+(?P<rest>.*)|$)", re.DOTALL)
_ASSOC_WORD = re.compile(r"(?<!\S)(?P<kw>Reassociated|Associated)(?!\S)")
_DISASSOC_WORD = re.compile(r"(?<!\S)(?P<kw>Disassociated|Deauthenticated)(?!\S)")
# Words an AP may put between the MAC and "Associated": FlexConnect (H-REAP) APs write
# "REAP". Only known words are skipped, so a name token is never passed over.
_QUALIFIERS = frozenset({"REAP"})
_SSID_FORM = re.compile(
    r"(?P<pre>.*?)(?P<mac>[^\s,]+),\s+SSID\s+(?P<ssid>.*?),\s+Authentication Type\s+(?P<auth>.*?),"
    r"\s+Key Management\s+(?P<km>.*?)\s+(?P<kw>Reassociated|Associated)(?P<tail>(?:\s.*)?)",
    re.DOTALL,
)
_DEAUTH = re.compile(
    _INTERFACE
    + r"(?:Deauthenticating|Disassociating)\s+Station(?:\s+(?P<mac>[^\s,]+)(?P<tail>.*))?",
    re.DOTALL,
)
_ROAMED = re.compile(
    r"Station\s+(?P<mac>\S+)\s+Roamed\s+to(?:\s+(?P<new>[^\s,]+)(?P<tail>.*))?", re.DOTALL
)
_MAXRETRIES = re.compile(
    r"Packet\s+to\s+client\s+(?P<mac>[^\s,]+)\s+reached\s+max\s+retries\b(?P<tail>.*)",
    re.DOTALL,
)


def parse_dot11(mnemonic: str, text: str) -> DotResult:
    """The text after ``%DOT11-n-MNEMONIC:`` → a station report, or why not."""
    handler = _HANDLERS.get(mnemonic)
    if handler is None:
        return Ignored("ignored_mnemonic", f"DOT11-{mnemonic}")
    return handler(text.strip())


def parse_cisco(
    message: SyslogMessage,
    *,
    source: str = "",
    received_at: float = 0.0,
    ap: str | None = None,
    interface: str | None = None,
) -> ParseResult:
    """A parsed syslog message from an AP → L2Event, Ignored or Unparsable."""
    tag = message.tag
    if tag is None:
        return Unparsable("no_mnemonic", message.text[:80])
    if tag.facility != STATION_FACILITY:
        return Ignored("ignored_mnemonic", str(tag))
    report = parse_dot11(tag.mnemonic, message.text)
    if not isinstance(report, StationReport):
        return report
    return L2Event(
        kind="attach" if report.kind == "attach" else "detach",
        mac=report.mac,
        source=source,
        ap=ap or message.hostname,
        interface=interface,
        handoff_hint=report.handoff_hint,
        reason=report.reason,
        raw=message.raw,
        received_at=received_at,
        radio=report.radio,
        detail=report.detail,
    )


def parse_cisco_datagram(
    data: bytes | str,
    *,
    source: str = "",
    received_at: float = 0.0,
    ap: str | None = None,
    interface: str | None = None,
) -> ParseResult:
    """One syslog datagram from a Cisco AP → result. Never raises.

    ``ap``: the AP's configured name (else the syslog header's hostname);
    ``interface``: the MAG's access interface for it."""
    try:
        message = parse_syslog(data)
        if isinstance(message, Unparsable):
            return message
        return parse_cisco(
            message, source=source, received_at=received_at, ap=ap, interface=interface
        )
    except Exception as exc:  # a parser bug must cost one message, not the listener
        return Unparsable("parser_error", f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- mnemonics


def _assoc(text: str) -> DotResult:
    head = _ASSOC_HEAD.fullmatch(text)
    if head is None:
        return Unparsable("bad_assoc", text[:80])
    radio = head.group("radio")
    rest = head.group("rest") or ""
    found = _mac_before_keyword(rest, _ASSOC_WORD)
    if isinstance(found, Unparsable):
        ssid_form = _SSID_FORM.fullmatch(rest)
        if ssid_form is None:
            return found
        mac = station_mac(ssid_form.group("mac"))
        if isinstance(mac, Unparsable):
            return mac
        kw = ssid_form.group("kw")
        detail = f"SSID {ssid_form.group('ssid')}, Key Management {ssid_form.group('km')}"
        tail = ssid_form.group("tail").strip()
        found = (mac, kw, f"{detail} {tail}".strip())
    mac, kw, detail = found
    hint: HandoffHint = "reassociation" if kw == "Reassociated" else "new"
    return StationReport("attach", mac, kw, hint, radio, detail)


def _add(text: str) -> DotResult:
    report = _assoc(text)
    if isinstance(report, StationReport):
        # A station joined a repeater below this AP: it is reached through here.
        return StationReport("attach", report.mac, "Associated", "new", report.radio, report.detail)
    return report


def _disassoc(text: str) -> DotResult:
    m = _DEAUTH.fullmatch(text)
    if m is not None:
        if m.group("mac") is None:
            return Unparsable("no_station_mac", text[:80])
        mac = station_mac(m.group("mac"))
        if isinstance(mac, Unparsable):
            return mac
        return StationReport(
            "detach", mac, "Deauthenticated", None, m.group("radio"), _reason_text(m.group("tail"))
        )
    head = _ASSOC_HEAD.fullmatch(text)
    if head is None:
        return Unparsable("bad_disassoc", text[:80])
    found = _mac_before_keyword(head.group("rest") or "", _DISASSOC_WORD)
    if isinstance(found, Unparsable):
        return found
    mac, kw, detail = found
    return StationReport("detach", mac, kw, None, head.group("radio"), detail)


def _roamed(text: str) -> DotResult:
    m = _ROAMED.fullmatch(text)
    if m is None:
        return Unparsable("bad_roamed", text[:80])
    mac = station_mac(m.group("mac"))
    if isinstance(mac, Unparsable):
        return mac
    if m.group("new") is None:
        return Unparsable("truncated", "ROAMED without the new AP")
    detail = f"to {m.group('new')}{m.group('tail').rstrip()}"
    return StationReport("detach", mac, "Roamed", None, None, detail)


def _maxretries(text: str) -> DotResult:
    m = _MAXRETRIES.fullmatch(text)
    if m is None:
        return Unparsable("bad_maxretries", text[:80])
    mac = station_mac(m.group("mac"))
    if isinstance(mac, Unparsable):
        return mac
    return StationReport("detach", mac, "MaxRetries", None, None, m.group("tail").strip(" ,"))


_HANDLERS: dict[str, Callable[[str], DotResult]] = {
    "ASSOC": _assoc,
    "ADD": _add,
    "DISASSOC": _disassoc,
    "ROAMED": _roamed,
    "MAXRETRIES": _maxretries,
}


def _mac_before_keyword(rest: str, keyword: re.Pattern[str]) -> tuple[bytes, str, str] | Unparsable:
    """The station MAC just before the last keyword that has one, with keyword and tail text.

    Scanning from the last keyword backwards keeps a client-chosen station name
    (which may contain the keyword or MAC-like tokens) from being read as the MAC.
    """
    matches = list(keyword.finditer(rest))
    if not matches:
        return Unparsable("truncated", "no Associated/Disassociated keyword")
    first_error: Unparsable | None = None
    for m in reversed(matches):
        tokens = rest[: m.start()].split()
        if tokens and tokens[-1] in _QUALIFIERS:
            tokens.pop()
        if not tokens:
            first_error = first_error or Unparsable("no_station_mac", rest[:80])
            continue
        mac = station_mac(tokens[-1])
        if isinstance(mac, Unparsable):
            first_error = first_error or mac
            continue
        return mac, m.group("kw"), rest[m.end() :].strip()
    assert first_error is not None
    return first_error


def _reason_text(tail: str) -> str:
    """``' Reason: Sending station has left the BSS'`` / ``' NAME, Reason x, SSID y.'`` → text."""
    tail = tail.strip()
    m = re.search(r"(?:^|,\s*)Reason:?\s*(?P<why>.*?)(?:,\s*SSID\s+.*)?\.?$", tail, re.DOTALL)
    if m is not None:
        return m.group("why").strip()
    return tail
