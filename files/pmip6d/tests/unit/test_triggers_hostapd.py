"""hostapd control-interface events → L2Event (pure parsing)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.triggers import (
    Ignored,
    L2Event,
    Unparsable,
    handoff_indicator,
    parse_hostapd_event,
    parse_sta_reply,
)
from pmip6d.triggers.hostapd import event_name, is_event
from pmip6d.wire.constants import HandoffIndicator

MAC = bytes.fromhex("020000000101")


@pytest.mark.parametrize(
    "line,kind,radio,detail",
    [
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:01", "attach", None, ""),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:01\n", "attach", None, ""),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:01 keyid=guest", "attach", None, "keyid=guest"),
        (
            "<3>AP-STA-CONNECTED 02:00:00:00:01:01 p2p_dev_addr=02:00:00:00:02:01 keyid=k",
            "attach",
            None,
            "p2p_dev_addr=02:00:00:00:02:01 keyid=k",
        ),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:01  ", "attach", None, ""),
        ("AP-STA-CONNECTED 02:00:00:00:01:01", "attach", None, ""),
        ("IFNAME=wlan0-1 <3>AP-STA-CONNECTED 02:00:00:00:01:01", "attach", "wlan0-1", ""),
        ("<3>AP-STA-DISCONNECTED 02:00:00:00:01:01", "detach", None, ""),
        ("<3>AP-STA-DISCONNECTED 02-00-00-00-01-01", "detach", None, ""),
        ("<2>AP-STA-DISCONNECTED 02:00:00:00:01:01", "detach", None, ""),
    ],
)
def test_station_events(line, kind, radio, detail):
    event = parse_hostapd_event(
        line.encode(), source="/run/hostapd/wlan0", interface="wlan0", received_at=3.0
    )
    assert isinstance(event, L2Event), event
    assert event.kind == kind
    assert event.mac == MAC
    assert event.interface == "wlan0"
    assert event.source == "/run/hostapd/wlan0"
    assert event.radio == radio
    assert event.detail == detail
    assert event.received_at == 3.0
    assert event.handoff_hint is None
    assert event.reason == ("Connected" if kind == "attach" else "Disconnected")
    assert handoff_indicator(event) == HandoffIndicator.UNKNOWN


@pytest.mark.parametrize(
    "line,result,reason",
    [
        ("<3>AP-STA-POSSIBLE-PSK-MISMATCH 02:00:00:00:01:01", Ignored, "ignored_event"),
        ("<3>CTRL-EVENT-EAP-STARTED 02:00:00:00:01:01", Ignored, "ignored_event"),
        ("<3>AP-ENABLED", Ignored, "ignored_event"),
        ("<3>CTRL-EVENT-TERMINATING", Ignored, "ignored_event"),
        ("<3>AP-STA-CONNECTED", Unparsable, "no_station_mac"),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01", Unparsable, "bad_mac"),
        ("<3>AP-STA-CONNECTED ff:ff:ff:ff:ff:ff", Unparsable, "bad_mac"),
        ("<3>AP-STA-CONNECTED 020000000101", Unparsable, "bad_mac"),
        ("<3>ap-sta-connected 02:00:00:00:01:01", Unparsable, "bad_event"),
        ("<33>AP-STA-CONNECTED 02:00:00:00:01:01", Unparsable, "bad_event"),
        (
            "<3>AP-STA-CONNECTED 02:00:00:00:01:01\n<3>AP-STA-CONNECTED 02:00:00:00:02:02",
            Unparsable,
            "control_characters",
        ),
        ("", Unparsable, "empty"),
        ("<3>" + "A" * 5000, Unparsable, "oversize"),
    ],
)
def test_other_lines(line, result, reason):
    parsed = parse_hostapd_event(line)
    assert isinstance(parsed, result), parsed
    assert parsed.reason == reason


def test_event_helpers():
    assert is_event(b"<3>AP-ENABLED") and is_event(b"IFNAME=wlan0 <3>AP-ENABLED")
    assert not is_event(b"PONG\n") and not is_event(b"OK\n")
    assert event_name(b"<3>CTRL-EVENT-TERMINATING") == "CTRL-EVENT-TERMINATING"
    assert event_name(b"IFNAME=wlan0 <3>AP-STA-CONNECTED 02:00:00:00:01:01") == "AP-STA-CONNECTED"
    assert event_name(b"\x00\x01") is None


def test_sta_reply():
    reply = b"02:00:00:00:01:01\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=1\n"
    assert parse_sta_reply(reply) == (MAC, True)
    assert parse_sta_reply(b"02:00:00:00:01:01\nflags=[AUTH]\n") == (MAC, False)
    assert parse_sta_reply(b"02:00:00:00:01:01\n") == (MAC, True)
    for end in (b"", b"FAIL\n", b"UNKNOWN COMMAND\n", b"garbage\n"):
        assert parse_sta_reply(end) is None


@given(st.binary(max_size=5000))
@settings(max_examples=500)
def test_never_raises_on_bytes(data):
    assert isinstance(parse_hostapd_event(data), L2Event | Ignored | Unparsable)
    parse_sta_reply(data)
    event_name(data)


@given(
    st.from_regex(
        r"\A(IFNAME=\S{0,8} )?(<\d>)?(AP-STA-(DIS)?CONNECTED|[A-Z-]{1,20})"
        r"( [0-9a-f:.-]{0,20})?.{0,40}\Z"
    )
)
@settings(max_examples=500)
def test_never_raises_on_event_shaped_text(text):
    result = parse_hostapd_event(text)
    assert isinstance(result, L2Event | Ignored | Unparsable)
    if isinstance(result, L2Event):
        assert result.kind in ("attach", "detach") and len(result.mac) == 6
