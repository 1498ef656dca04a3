"""Syslog framing: RFC 3164 with/without hostname, RFC 5424, IOS counters and timestamps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.triggers import CiscoTag, SyslogMessage, Unparsable, parse_syslog
from pmip6d.triggers.syslog import MAX_DATAGRAM

MSG = "Interface Dot11Radio0, Station   0011.2233.4455 Associated KEY_MGMT[WPAv2 PSK]"
TAG = "%DOT11-6-ASSOC: "
ASSOC = CiscoTag("DOT11", 6, "ASSOC")

# (datagram, expected fields); every case carries the same message text and tag.
FRAMINGS = [
    # IOS as sent by the AP itself: counter, then a timestamp in one of its forms.
    (
        f"<190>123: *Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(
            framing="rfc3164",
            facility=23,
            severity=6,
            sequence=123,
            device_time="Mar  1 00:03:25.123",
            clock_synced=False,
            hostname=None,
            timestamp=None,
        ),
    ),
    (
        f"<190>000123: Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(sequence=123, device_time="Mar  1 00:03:25.123", clock_synced=True),
    ),
    (
        f"<190>45: .Mar  1 2024 00:03:25.123 UTC: {TAG}{MSG}",
        dict(sequence=45, device_time="Mar  1 2024 00:03:25.123 UTC", clock_synced=False),
    ),
    (f"<190>7: 00:03:25: {TAG}{MSG}", dict(sequence=7, device_time="00:03:25")),
    (f"<190>7: 1w2d: {TAG}{MSG}", dict(sequence=7, device_time="1w2d")),
    (f"<190>{TAG}{MSG}", dict(sequence=None, device_time=None, clock_synced=None)),
    (f"<190>*Mar  1 00:03:25.123: {TAG}{MSG}", dict(sequence=None, clock_synced=False)),
    # IOS with "logging origin-id": the hostname follows the counter.
    (
        f"<190>123: ap1.example.net: *Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(sequence=123, hostname="ap1.example.net", device_time="Mar  1 00:03:25.123"),
    ),
    (f"<190>ap1: *Mar  1 00:03:25.123: {TAG}{MSG}", dict(sequence=None, hostname="ap1")),
    (
        f"<6>13279: AP:00f6.6353.1418: *Apr 20 08:53:30.767: {TAG}{MSG}",
        dict(hostname="AP:00f6.6353.1418", facility=0),
    ),
    # RFC 3164 as written by a relaying syslog daemon: with and without HOSTNAME.
    (
        f"<190>Mar  1 00:03:25 ap1 123: *Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(timestamp="Mar  1 00:03:25", hostname="ap1", sequence=123),
    ),
    (
        f"<190>Mar  1 00:03:25 ap1 {TAG}{MSG}",
        dict(timestamp="Mar  1 00:03:25", hostname="ap1", sequence=None),
    ),
    (
        f"<190>Mar  1 00:03:25 {TAG}{MSG}",
        dict(timestamp="Mar  1 00:03:25", hostname=None),
    ),
    (
        f"<190>Mar  1 00:03:25 123: *Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(timestamp="Mar  1 00:03:25", hostname=None, sequence=123),
    ),
    (
        f"<190>Mar 11 00:03:25 2001:db8:1::2 99: {TAG}{MSG}",
        dict(timestamp="Mar 11 00:03:25", hostname="2001:db8:1::2", sequence=99),
    ),
    (
        f"<190>Mar  1 00:03:25 ap1 iosd[1234]: {TAG}{MSG}",
        dict(hostname="ap1", app="iosd"),
    ),
    (
        f"<190>2024-03-01T00:03:25.123+01:00 ap1 {TAG}{MSG}",
        dict(timestamp="2024-03-01T00:03:25.123+01:00", hostname="ap1"),
    ),
    # RFC 5424.
    (
        f"<190>1 2024-03-01T00:03:25.123456Z ap1 iosd 1234 DOT11 - {TAG}{MSG}",
        dict(
            framing="rfc5424",
            timestamp="2024-03-01T00:03:25.123456Z",
            hostname="ap1",
            app="iosd",
            sequence=None,
        ),
    ),
    (
        f"<190>1 - - - - - - {TAG}{MSG}",
        dict(framing="rfc5424", timestamp=None, hostname=None, app=None),
    ),
    (
        f'<190>1 2024-03-01T00:03:25Z ap1 - - - [meta sequenceId="7"][x@9 a="]\\"["] 000123: '
        f"*Mar  1 00:03:25.123: {TAG}{MSG}",
        dict(framing="rfc5424", hostname="ap1", sequence=123, clock_synced=False),
    ),
    (
        f"<190>1 2024-03-01T00:03:25Z ap1 - - - - \ufeff{TAG}{MSG}",
        dict(framing="rfc5424", hostname="ap1"),
    ),
    # No PRI at all (a log file line).
    (f"*Mar  1 00:03:25.123: {TAG}{MSG}", dict(facility=None, severity=None, clock_synced=False)),
]


@pytest.mark.parametrize("line,fields", FRAMINGS, ids=[f[0][:40] for f in FRAMINGS])
def test_framings(line, fields):
    parsed = parse_syslog(line.encode())
    assert isinstance(parsed, SyslogMessage), parsed
    assert parsed.tag == ASSOC
    assert parsed.text == MSG
    assert parsed.raw == line
    for key, value in fields.items():
        assert getattr(parsed, key) == value, key


def test_message_without_cisco_tag_keeps_its_content():
    parsed = parse_syslog(b"<13>Mar  1 00:03:25 host sshd[99]: Accepted publickey for root")
    assert isinstance(parsed, SyslogMessage)
    assert parsed.tag is None
    assert (parsed.hostname, parsed.app) == ("host", "sshd")
    assert parsed.text == "Accepted publickey for root"


def test_tag_with_hyphenated_facility_and_no_text():
    parsed = parse_syslog(b"<189>1: %PLATFORM-ENVMON-6-FAN_OK:")
    assert isinstance(parsed, SyslogMessage)
    assert parsed.tag == CiscoTag("PLATFORM-ENVMON", 6, "FAN_OK")
    assert parsed.text == ""


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"\r\n\x00", "empty"),
        (b"<192>1: %DOT11-6-ASSOC: x", "bad_pri"),
        (b"<1a>1: x", "bad_pri"),
        (b"<190>1 2024-03-01T00:03:25Z ap1", "bad_rfc5424_header"),
        (b"<190>1 - ap1 - - - [open", "bad_structured_data"),
        (b"<190>1 - ap1 - - - [a][b]x", "bad_structured_data"),
        (b"<190>1: a\nb", "control_characters"),
        (b"<190>1: a\x1bb", "control_characters"),
        (b"<190>" + b"a" * MAX_DATAGRAM, "oversize"),
    ],
)
def test_unparsable(data, reason):
    parsed = parse_syslog(data)
    assert isinstance(parsed, Unparsable)
    assert parsed.reason == reason


def test_invalid_utf8_is_replaced_not_fatal():
    parsed = parse_syslog(b"<190>1: %DOT11-6-ASSOC: Station Caf\xe9 0011.2233.4455 Associated")
    assert isinstance(parsed, SyslogMessage)
    assert "\ufffd" in parsed.text and parsed.tag == ASSOC


@given(st.binary(max_size=5000))
@settings(max_examples=500)
def test_never_raises_on_bytes(data):
    assert isinstance(parse_syslog(data), SyslogMessage | Unparsable)


@given(
    st.from_regex(
        r"\A(<\d{1,3}>)?(1 )?(\d{1,6}: )?"
        r"([*.]?[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(\.\d{3})?: )?"
        r"(%[A-Z0-9_-]{1,12}-\d-[A-Z_]{1,12}: )?.{0,80}\Z"
    )
)
@settings(max_examples=500)
def test_never_raises_on_syslog_shaped_text(text):
    assert isinstance(parse_syslog(text), SyslogMessage | Unparsable)
