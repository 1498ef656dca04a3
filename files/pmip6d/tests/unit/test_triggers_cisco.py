"""Cisco IOS DOT11 station messages → L2Event: the corpus, station-name confusion, fuzzing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pmip6d.rules import mac_text
from pmip6d.triggers import (
    Ignored,
    L2Event,
    Unparsable,
    handoff_indicator,
    parse_cisco_datagram,
    parse_dot11,
    station_mac,
)
from pmip6d.triggers.syslog import MAX_DATAGRAM
from pmip6d.wire.constants import HandoffIndicator

CORPUS = Path(__file__).resolve().parent.parent / "data" / "cisco_syslog_corpus.jsonl"
HEADER = "<190>123: *Mar  1 00:03:25.123: "


def load_corpus() -> list[dict]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "expect" in entry:
            cases.append(entry)
    return cases


CASES = load_corpus()


def datagram(entry: dict) -> bytes:
    if "hex" in entry:
        return bytes.fromhex(entry["hex"])
    return entry["line"].encode("utf-8")


def test_the_corpus_is_substantial_and_covers_every_outcome():
    outcomes = [e["expect"].get("kind") or next(iter(e["expect"])) for e in CASES]
    assert set(outcomes) == {"attach", "detach", "ignored", "unparsable"}
    assert len(CASES) >= 70
    assert outcomes.count("attach") >= 15 and outcomes.count("detach") >= 10
    assert outcomes.count("unparsable") >= 25


@pytest.mark.parametrize(
    "entry", CASES, ids=[f"{i:02d}-{e['note'][:30] or 'case'}" for i, e in enumerate(CASES)]
)
def test_corpus(entry):
    result = parse_cisco_datagram(datagram(entry), source="192.0.2.10", received_at=5.0)
    expect = entry["expect"]
    if "unparsable" in expect:
        assert isinstance(result, Unparsable), result
        assert result.reason == expect["unparsable"], result
        return
    if "ignored" in expect:
        assert isinstance(result, Ignored), result
        assert result.reason == expect["ignored"]
        return
    assert isinstance(result, L2Event), result
    assert result.kind == expect["kind"]
    assert mac_text(result.mac) == expect["mac"]
    assert result.reason == expect["reason"]
    assert result.handoff_hint == expect["hint"]
    assert result.source == "192.0.2.10"
    assert result.received_at == 5.0
    assert result.interface is None  # the parser does not know the MAG's interfaces
    assert result.raw.startswith(datagram(entry).decode("utf-8", "replace").rstrip("\x00")[:20])
    for key in ("radio", "detail", "ap"):
        if key in expect:
            assert getattr(result, key) == expect[key], key


def test_reassociation_maps_to_handoff_between_mags():
    [assoc] = [e for e in CASES if e["expect"].get("reason") == "Associated"][:1]
    [reassoc] = [e for e in CASES if e["expect"].get("reason") == "Reassociated"][:1]
    a = parse_cisco_datagram(datagram(assoc))
    r = parse_cisco_datagram(datagram(reassoc))
    assert isinstance(a, L2Event) and isinstance(r, L2Event)
    assert handoff_indicator(a) == HandoffIndicator.NEW_INTERFACE
    assert handoff_indicator(r) == HandoffIndicator.SAME_INTERFACE == 3


def test_oversize_datagram_is_refused_even_if_it_starts_like_an_event():
    line = HEADER + "%DOT11-6-ASSOC: Interface Dot11Radio0, Station   0011.2233.4455 Associated "
    big = (line + "x" * MAX_DATAGRAM).encode()
    result = parse_cisco_datagram(big)
    assert isinstance(result, Unparsable) and result.reason == "oversize"
    # Just under the limit is still read.
    fits = (line + "x" * (MAX_DATAGRAM - len(line) - 1)).encode()
    assert isinstance(parse_cisco_datagram(fits), L2Event)


def test_severity_digit_is_not_checked_but_facility_and_mnemonic_are():
    text = "Station 0011.2233.4455 Roamed to 0022.3344.5566"
    assert isinstance(parse_cisco_datagram(HEADER + "%DOT11-5-ROAMED: " + text), L2Event)
    assert isinstance(parse_cisco_datagram(HEADER + "%DOT12-6-ROAMED: " + text), Ignored)
    assert isinstance(parse_cisco_datagram(HEADER + "%DOT11-6-ROAMING: " + text), Ignored)


def test_parse_dot11_directly():
    r = parse_dot11("ASSOC", "Interface Dot11Radio0, Station   0011.2233.4455 Reassociated")
    assert r.kind == "attach" and r.handoff_hint == "reassociation" and r.radio == "Dot11Radio0"
    assert isinstance(parse_dot11("CCMP_REPLAY", "anything"), Ignored)


def test_station_mac_is_strict():
    assert station_mac("0011.2233.4455") == bytes.fromhex("001122334455")
    assert station_mac("00-11-22-33-44-55") == bytes.fromhex("001122334455")
    for bad in ("001122334455", "0011.2233.445", "00:11:22:33:44", "0011:2233:4455", "", "x" * 99):
        assert isinstance(station_mac(bad), Unparsable), bad


# --------------------------------------------------------------------------- properties

unicast_macs = st.binary(min_size=6, max_size=6).map(lambda b: bytes([b[0] & 0xFE | 0x02]) + b[1:])
name_chars = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85\u2028\u2029"
)
station_names = st.one_of(
    st.text(name_chars, max_size=40),
    st.lists(
        st.sampled_from(
            [
                "ab12",
                "cd34",
                "0011.2233",
                "0011.2233.4455",
                "Associated",
                "Reassociated",
                "REAP",
                "KEY_MGMT[NONE]",
                "Station",
                "00:11:22:33:44:55",
                "JOHN-PC",
                "",
                " ",
            ]
        ),
        max_size=6,
    ).map(" ".join),
)


def cisco_mac(mac: bytes) -> str:
    h = mac.hex()
    return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"


@given(name=station_names, mac=unicast_macs, reassoc=st.booleans(), radio=st.integers(0, 3))
@example(
    name="0011.2233.4455 Associated", mac=bytes.fromhex("02aabbccddee"), reassoc=False, radio=0
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_station_name_yields_the_real_mac(name, mac, reassoc, radio):
    keyword = "Reassociated" if reassoc else "Associated"
    line = (
        f"{HEADER}%DOT11-6-ASSOC: Interface Dot11Radio{radio}, Station {name} {cisco_mac(mac)} "
        f"{keyword} KEY_MGMT[WPAv2 PSK]"
    )
    result = parse_cisco_datagram(line.encode("utf-8"))
    assert isinstance(result, L2Event), (line, result)
    assert result.mac == mac
    assert result.kind == "attach"
    assert result.handoff_hint == ("reassociation" if reassoc else "new")
    assert result.radio == f"Dot11Radio{radio}"


@given(name=station_names, mac=unicast_macs)
@settings(max_examples=200)
def test_any_station_name_in_disassociated_form_yields_the_real_mac(name, mac):
    line = (
        f"{HEADER}%DOT11-6-DISASSOC: Interface Dot11Radio0, Station {name} {cisco_mac(mac)} "
        "Disassociated KEY_MGMT[NONE]"
    )
    result = parse_cisco_datagram(line)
    assert isinstance(result, L2Event) and result.kind == "detach" and result.mac == mac


@given(st.binary(max_size=MAX_DATAGRAM + 64))
@settings(max_examples=500)
def test_never_raises_on_arbitrary_bytes(data):
    result = parse_cisco_datagram(data, source="x")
    assert isinstance(result, L2Event | Ignored | Unparsable)


@given(st.text(max_size=600))
@settings(max_examples=300)
def test_never_raises_on_arbitrary_text(text):
    assert isinstance(parse_cisco_datagram(text), L2Event | Ignored | Unparsable)


FRAGMENTS = [
    "<190>",
    "<0>",
    "<191>",
    "<999>",
    "<",
    ">",
    "1 ",
    "- ",
    "123: ",
    "000123: ",
    "ap1: ",
    "ap1 ",
    "*Mar  1 00:03:25.123: ",
    ".Mar 1 2024 00:03:25 UTC: ",
    "1w2d: ",
    "00:03:25: ",
    "Mar  1 00:03:25 ",
    "2024-03-01T00:03:25Z ",
    '[x@1 a="b\\"]"] ',
    "[",
    "]",
    "\ufeff",
    "%DOT11-6-ASSOC: ",
    "%DOT11-6-DISASSOC: ",
    "%DOT11-6-ROAMED: ",
    "%DOT11-4-MAXRETRIES: ",
    "%DOT11-6-ADD: ",
    "%LINK-3-UPDOWN: ",
    "Interface Dot11Radio0, ",
    "Station ",
    "Deauthenticating ",
    "0011.2233.4455 ",
    "ffff.ffff.ffff ",
    "0011.2233 ",
    "ab12 ",
    "REAP ",
    "Associated ",
    "Reassociated ",
    "Disassociated ",
    "Roamed to ",
    "Packet to client ",
    "reached max retries",
    "Reason: ",
    ", SSID x, Authentication Type y, Key Management z ",
    "KEY_MGMT[NONE]",
    " ",
    ",",
    ":",
    "\t",
    "\xff",
    "é",
]


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
@settings(max_examples=1500)
def test_never_raises_on_plausible_fragments(text):
    result = parse_cisco_datagram(text.encode("utf-8", "surrogatepass"))
    assert isinstance(result, L2Event | Ignored | Unparsable)
    if isinstance(result, L2Event):
        # Whatever was accepted names a real station, and the tag was a DOT11 one.
        assert len(result.mac) == 6 and not result.mac[0] & 1 and result.mac != bytes(6)
        assert "%DOT11-" in text
