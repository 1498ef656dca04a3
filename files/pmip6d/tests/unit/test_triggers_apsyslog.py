"""Syslog from APs: hostapd's event lines beside Cisco's DOT11 lines, on one listener."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.triggers import (
    Ignored,
    L2Event,
    SyslogListener,
    Unparsable,
    build_sources,
    handoff_indicator,
    parse_ap_datagram,
)
from pmip6d.wire.constants import HandoffIndicator

MAC = bytes.fromhex("020000000101")

# What the collection's hostapd_cli -a forwarder sends (util-linux logger --rfc3164),
# hostapd's own syslog (-s) through a relay (RFC 5424) and OpenWrt's logd.
LINES = [
    ("<29>Dec  7 22:50:01 ap2 hostapd: wl-ap2: AP-STA-CONNECTED 02:00:00:00:01:01", "attach"),
    (
        "<29>1 2026-12-07T22:50:01.123Z openwrt hostapd 1234 - - "
        "phy0-ap0: AP-STA-DISCONNECTED 02:00:00:00:01:01",
        "detach",
    ),
    (
        "<30>Dec  7 22:50:01 OpenWrt hostapd[1234]: phy0-ap0: AP-STA-CONNECTED "
        "02:00:00:00:01:01 auth_alg=open",
        "attach",
    ),
]


@pytest.mark.parametrize("line,kind", LINES)
def test_hostapd_lines_become_events(line, kind):
    event = parse_ap_datagram(
        line.encode(), source="2001:db8:a2::2", received_at=2.5, interface="acc0"
    )
    assert isinstance(event, L2Event), event
    assert (event.kind, event.mac, event.interface, event.received_at) == (kind, MAC, "acc0", 2.5)
    assert event.ap in ("ap2", "openwrt", "OpenWrt")  # the header's hostname, without a name
    assert event.radio in ("wl-ap2", "phy0-ap0")
    assert event.raw == line
    assert handoff_indicator(event) == HandoffIndicator.UNKNOWN  # no hint configured


def test_the_configured_name_and_hint_apply_to_connects():
    line, _unused = LINES[0]
    event = parse_ap_datagram(line.encode(), ap="ap2-lab", connect_hint="reassociation")
    assert isinstance(event, L2Event)
    assert event.ap == "ap2-lab"
    assert handoff_indicator(event) == HandoffIndicator.SAME_INTERFACE
    leave = parse_ap_datagram(LINES[1][0].encode(), connect_hint="reassociation")
    assert isinstance(leave, L2Event) and leave.handoff_hint is None


@pytest.mark.parametrize(
    "line,result,reason",
    [
        (
            "<29>Dec  7 22:50:01 ap2 hostapd: AP-STA-CONNECTED 02:00:00:00:01:01",
            Unparsable,
            "bad_hostapd_line",
        ),
        (
            "<29>Dec  7 22:50:01 ap2 hostapd: wlan0: AP-STA-CONNECTED ff:ff:ff:ff:ff:ff",
            Unparsable,
            "bad_mac",
        ),
        ("<29>Dec  7 22:50:01 ap2 hostapd: wlan0: AP-ENABLED", Ignored, "ignored_event"),
        (
            "<29>Dec  7 22:50:01 ap2 hostapd: wlan0: STA 02:00:00:00:01:01 IEEE 802.11: associated",
            Ignored,
            "ignored_event",
        ),
    ],
)
def test_other_hostapd_lines(line, result, reason):
    out = parse_ap_datagram(line.encode())
    assert isinstance(out, result) and out.reason == reason, out


def test_cisco_lines_still_parse_on_the_same_path():
    line = (
        "<190>123: *Mar  1 00:03:25.123: %DOT11-6-ASSOC: Interface Dot11Radio0, Station   "
        "0200.0000.0101 Reassociated KEY_MGMT[WPAv2 PSK]"
    )
    event = parse_ap_datagram(line.encode(), connect_hint="new")
    assert isinstance(event, L2Event)
    assert handoff_indicator(event) == HandoffIndicator.SAME_INTERFACE  # the line's word wins


def test_the_listener_takes_each_aps_hint_from_its_configuration():
    (listener,) = build_sources(
        [
            {
                "type": "cisco-syslog",
                "listen": "2001:db8:a2::1",
                "aps": {
                    "2001:db8:a2::2": {
                        "name": "ap2",
                        "interface": "acc0",
                        "connect_hint": "reassociation",
                    },
                    "2001:db8:a3::2": {"name": "ap3"},
                },
            }
        ]
    )
    assert isinstance(listener, SyslogListener)
    line = LINES[0][0].encode()
    hinted = listener.receive(line, "2001:db8:a2::2")
    plain = listener.receive(line, "2001:db8:a3::2")
    stranger = listener.receive(line, "2001:db8:a4::2")
    assert isinstance(hinted, L2Event) and isinstance(plain, L2Event)
    assert handoff_indicator(hinted) == HandoffIndicator.SAME_INTERFACE
    assert handoff_indicator(plain) == HandoffIndicator.UNKNOWN
    assert (hinted.ap, hinted.interface) == ("ap2", "acc0")
    assert isinstance(stranger, Ignored) and stranger.reason == "untrusted_source"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_never_raises(data):
    head = b"<29>Dec  7 22:50:01 ap2 hostapd: "
    for datagram in (data, head + data):
        result = parse_ap_datagram(datagram)
        assert isinstance(result, (L2Event, Ignored, Unparsable))
