"""One syslog datagram → its parts, as pure functions that never raise.

Framings understood:

* RFC 3164 (BSD): ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: content``; the
  timestamp, hostname and tag are each optional in practice.
* RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`` with
  ``-`` for absent fields and structured data skipped.
* Cisco IOS content, alone or inside either of the above:
  ``000123: ap1: *Mar  1 00:03:25.123: %DOT11-6-ASSOC: text`` — a message
  counter, an origin hostname (``logging origin-id``), a timestamp (``*`` =
  clock not synchronised, ``.`` = sync lost; or uptime like ``1w2d``) and the
  ``%FACILITY-SEVERITY-MNEMONIC:`` tag, each optional.

A datagram without ``<PRI>`` is read as RFC 3164 content with no priority
(log files, hand-written test lines). Timestamps are kept as the text the
device wrote: AP clocks are often unsynchronised and only the receive time
(set by the I/O layer) is trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .events import Unparsable

MAX_DATAGRAM = 4096
"""Longer datagrams are refused (RFC 5426 asks receivers for 2048 octets; IOS stays under 1024)."""

Framing = Literal["rfc3164", "rfc5424"]


@dataclass(slots=True, frozen=True)
class CiscoTag:
    """``%DOT11-6-ASSOC`` → facility ``DOT11``, severity 6, mnemonic ``ASSOC``."""

    facility: str
    severity: int
    mnemonic: str

    def __str__(self) -> str:
        return f"%{self.facility}-{self.severity}-{self.mnemonic}"


@dataclass(slots=True, frozen=True)
class SyslogMessage:
    framing: Framing
    facility: int | None
    """Syslog facility from ``<PRI>``; None when the datagram had no PRI."""
    severity: int | None
    timestamp: str | None
    """Header timestamp as written (RFC 3164 ``Mar  1 00:03:25`` or RFC 5424 ISO form)."""
    hostname: str | None
    """Header hostname, else the IOS origin id (``logging origin-id``)."""
    app: str | None
    """RFC 3164 TAG (without ``[pid]``) or RFC 5424 APP-NAME."""
    sequence: int | None
    """IOS message counter (``000123:``)."""
    device_time: str | None
    """IOS timestamp in the content, without its ``*``/``.`` mark."""
    clock_synced: bool | None
    """False when IOS marked its timestamp with ``*`` (or ``.``); None without a timestamp."""
    tag: CiscoTag | None
    text: str
    """The message: the text after the Cisco tag, else the whole content."""
    raw: str
    """The datagram as decoded text (trailing newline/NUL removed)."""


ParsedSyslog = SyslogMessage | Unparsable

# --------------------------------------------------------------------------- patterns

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PRI = re.compile(r"<(\d{1,3})>")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"

# RFC 3164 header timestamp (followed by a space, not a colon: "Mar  1 00:03:25 host ...").
# Relays also write the year, sub-seconds or an RFC 3339 time here.
_BSD_TIME = re.compile(
    rf"(?P<ts>{_MONTH}\s+\d{{1,2}}(?:\s+\d{{4}})?\s+\d\d:\d\d:\d\d(?:\.\d{{1,6}})?"
    rf"|\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{{1,9}})?(?:Z|[+-]\d\d:\d\d)?) +"
)
_BSD_HOST = re.compile(r"(?P<host>[^\s%*:\[][^\s]{0,254}(?<!:)) +")
_BSD_TAG = re.compile(r"(?P<tag>[A-Za-z][\w.\-/]{0,47})(?:\[(?P<pid>\d{1,10})\])?: +")

# IOS content prefixes.
_IOS_SEQ = re.compile(r"(?P<seq>\d{1,10}): +")
_IOS_TIME = re.compile(
    rf"(?P<mark>[*.]?)(?P<ts>"
    rf"{_MONTH}\s+\d{{1,2}}(?:\s+\d{{4}})?\s+\d{{1,2}}:\d\d:\d\d(?:\.\d{{1,6}})?"
    rf"(?:\s+[A-Za-z]{{2,6}}(?:[+-]\d{{1,2}}(?::\d\d)?)?)?"  # " UTC", " CET", " GMT+1"
    rf"|\d{{1,2}}:\d\d:\d\d(?:\.\d{{1,6}})?"  # uptime 00:03:25
    rf"|\d{{1,3}}[ywd]\d{{1,2}}[wdh]"  # uptime 1w2d, 2y3w, 4d05h
    rf"): +"
)
_IOS_ORIGIN = re.compile(r"(?P<origin>[^\s%*:][^\s]{0,254}): +")
_CISCO_TAG = re.compile(
    r"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-(?P<sev>[0-7])-(?P<mn>[A-Z][A-Z0-9_]*):"
    r"(?: +|$)"
)

_RFC5424_START = re.compile(r"[1-9]\d{0,2} (?:-|\d{4}-)")
_RFC5424_HEADER = re.compile(
    rf"(?P<ver>[1-9]\d{{0,2}}) (?P<ts>-|{_ISO_TIME}) (?P<host>[!-~]{{1,255}}) "
    r"(?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
)


# --------------------------------------------------------------------------- parsing


def decode(data: bytes | str) -> str | Unparsable:
    """Bytes off the wire → text; invalid UTF-8 is replaced, not fatal (station names vary)."""
    if isinstance(data, str):
        text = data
        if len(text) > MAX_DATAGRAM:
            return Unparsable("oversize", f"{len(text)} characters")
    else:
        if len(data) > MAX_DATAGRAM:
            return Unparsable("oversize", f"{len(data)} bytes")
        text = bytes(data).decode("utf-8", errors="replace")
    text = text.rstrip("\r\n\x00")
    if not text.strip():
        return Unparsable("empty")
    if _CONTROL.search(text):
        # One datagram is one message; embedded newlines or NULs are not IOS and
        # would let one line smuggle a second one past a naive reader.
        return Unparsable("control_characters")
    return text


def parse_syslog(data: bytes | str) -> ParsedSyslog:
    """Parse one syslog datagram; returns :class:`Unparsable` instead of raising."""
    try:
        return _parse(data)
    except Exception as exc:  # never raise on input; a bug here must not stop the listener
        return Unparsable("parser_error", f"{type(exc).__name__}: {exc}")


def _parse(data: bytes | str) -> ParsedSyslog:
    text = decode(data)
    if isinstance(text, Unparsable):
        return text
    facility = severity = None
    rest = text
    if rest.startswith("<"):
        m = _PRI.match(rest)
        if m is None or int(m.group(1)) > 191:
            return Unparsable("bad_pri", text[:16])
        pri = int(m.group(1))
        facility, severity = pri >> 3, pri & 7
        rest = rest[m.end() :]
        if _RFC5424_START.match(rest):
            return _rfc5424(text, rest, facility, severity)
    return _rfc3164(text, rest, facility, severity)


def _rfc3164(raw: str, rest: str, facility: int | None, severity: int | None) -> ParsedSyslog:
    timestamp = hostname = app = None
    m = _BSD_TIME.match(rest)
    if m is not None:
        timestamp = m.group("ts")
        rest = rest[m.end() :]
        # RFC 3164: a HOSTNAME follows the TIMESTAMP. A token ending in ':' is a
        # TAG or an IOS counter instead (senders that omit the hostname).
        h = _BSD_HOST.match(rest)
        if h is not None and not _CISCO_TAG.match(rest):
            hostname = h.group("host")
            rest = rest[h.end() :]
        t = _BSD_TAG.match(rest)
        if t is not None:
            app = t.group("tag")
            rest = rest[t.end() :]
    return _ios_content(raw, rest, "rfc3164", facility, severity, timestamp, hostname, app)


def _rfc5424(raw: str, rest: str, facility: int, severity: int) -> ParsedSyslog:
    m = _RFC5424_HEADER.match(rest)
    if m is None:
        return Unparsable("bad_rfc5424_header", raw[:80])
    rest = rest[m.end() :]
    sd_end = _structured_data_end(rest)
    if sd_end is None:
        return Unparsable("bad_structured_data", raw[:80])
    rest = rest[sd_end:]
    if rest and not rest.startswith(" "):
        return Unparsable("bad_structured_data", raw[:80])
    msg = rest[1:].removeprefix("\ufeff")

    def nil(v: str) -> str | None:
        return None if v == "-" else v

    return _ios_content(
        raw,
        msg,
        "rfc5424",
        facility,
        severity,
        nil(m.group("ts")),
        nil(m.group("host")),
        nil(m.group("app")),
    )


def _structured_data_end(s: str) -> int | None:
    """Index just past RFC 5424 STRUCTURED-DATA at the start of ``s`` (``-`` or ``[...]...``)."""
    if s.startswith("-"):
        return 1
    i, n = 0, len(s)
    if not s.startswith("["):
        return None
    while i < n and s[i] == "[":
        i += 1
        in_quotes = False
        while True:
            if i >= n:
                return None
            c = s[i]
            if in_quotes:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    in_quotes = False
            elif c == '"':
                in_quotes = True
            elif c == "]":
                i += 1
                break
            i += 1
    return i


def _ios_content(
    raw: str,
    rest: str,
    framing: Framing,
    facility: int | None,
    severity: int | None,
    timestamp: str | None,
    hostname: str | None,
    app: str | None,
) -> SyslogMessage:
    """Strip the IOS prefixes ``SEQ: [ORIGIN: ][*TIME: ]`` and split off ``%FAC-SEV-MN:``."""
    rest = rest.lstrip(" ")
    sequence = None
    device_time = None
    clock_synced = None
    m = _IOS_SEQ.match(rest)
    if m is not None:
        sequence = int(m.group("seq"))
        rest = rest[m.end() :]
    t = _IOS_TIME.match(rest)
    if t is None and not rest.startswith("%"):
        o = _IOS_ORIGIN.match(rest)
        if o is not None and (sequence is not None or _after_origin_is_ios(rest[o.end() :])):
            hostname = hostname or o.group("origin")
            rest = rest[o.end() :]
            t = _IOS_TIME.match(rest)
    if t is not None:
        device_time = t.group("ts")
        clock_synced = t.group("mark") == ""
        rest = rest[t.end() :]
    tag = None
    c = _CISCO_TAG.match(rest)
    if c is not None:
        tag = CiscoTag(c.group("fac"), int(c.group("sev")), c.group("mn"))
        rest = rest[c.end() :]
    return SyslogMessage(
        framing=framing,
        facility=facility,
        severity=severity,
        timestamp=timestamp,
        hostname=hostname,
        app=app,
        sequence=sequence,
        device_time=device_time,
        clock_synced=clock_synced,
        tag=tag,
        text=rest,
        raw=raw,
    )


def _after_origin_is_ios(rest: str) -> bool:
    """Without a counter, ``word: `` is an origin id only if an IOS time or tag follows."""
    return _IOS_TIME.match(rest) is not None or _CISCO_TAG.match(rest) is not None
