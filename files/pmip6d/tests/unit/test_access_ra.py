"""Router Advertisement frames and Router Solicitation parsing, checked against scapy.

Scapy shares no code with :mod:`pmip6d.access.ra`: it dissects the frames we
build and builds the RSs we parse, and expected values are literals.
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
    in6_chksum,
)
from scapy.layers.l2 import Ether

from pmip6d.access.ra import (
    ALL_NODES,
    INFINITY,
    RADVD_NAMES,
    RaSettings,
    build_ra,
    build_ra_frame,
    icmpv6_checksum,
    icmpv6_checksum_ok,
    parse_rs,
)
from pmip6d.wire.prefix import Prefix

MAG_MAC = bytes.fromhex("02504d414701")
MN_MAC = bytes.fromhex("020000000101")
LL = socket.inet_pton(socket.AF_INET6, "fe80::1")
MN_LL = socket.inet_pton(socket.AF_INET6, "fe80::200:ff:fe00:101")
P1 = Prefix.parse("2001:db8:1::/64")
P2 = Prefix.parse("2001:db8:2::/64")
OLD = Prefix.parse("2001:db8:99::/64")


def a6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def frame(settings: RaSettings | None = None, **kw) -> bytes:
    args = {
        "src_mac": MAG_MAC,
        "dst_mac": MN_MAC,
        "src_ip": LL,
    }
    prefixes = kw.pop("prefixes", (P1,))
    args.update(kw)
    return build_ra_frame(settings or RaSettings(), prefixes, **args)


def checksum_by_scapy(raw: bytes) -> int:
    """Scapy recomputes the ICMPv6 checksum of the dissected packet from scratch."""
    pkt = Ether(raw)
    del pkt[ICMPv6ND_RA].cksum
    return Ether(bytes(pkt))[ICMPv6ND_RA].cksum


# --------------------------------------------------------------------------- RA frames


def test_ra_frame_fields_as_scapy_reads_them():
    settings = RaSettings(
        max_rtr_adv_interval=30,
        min_rtr_adv_interval=10,
        adv_default_lifetime=90,
        adv_valid_lifetime=3600,
        adv_preferred_lifetime=1800,
        adv_cur_hop_limit=32,
        adv_reachable_time=20_000,
        adv_retrans_timer=250,
        adv_link_mtu=1400,
    )
    raw = frame(settings, prefixes=(P1, P2))
    pkt = Ether(raw)
    assert pkt.dst == "02:00:00:00:01:01"
    assert pkt.src == "02:50:4d:41:47:01"
    assert pkt.type == 0x86DD
    ip = pkt[IPv6]
    assert (ip.version, ip.tc, ip.fl) == (6, 0, 0)
    assert ip.src == "fe80::1"
    assert ip.dst == "ff02::1"
    assert ip.hlim == 255
    assert ip.nh == 58
    assert ip.plen == len(raw) - 14 - 40
    ra = pkt[ICMPv6ND_RA]
    assert ra.type == 134
    assert ra.code == 0
    assert ra.chlim == 32
    assert (ra.M, ra.O, ra.H, ra.prf, ra.P) == (0, 0, 0, 0, 0)
    assert ra.routerlifetime == 90
    assert ra.reachabletime == 20_000
    assert ra.retranstimer == 250
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == "02:50:4d:41:47:01"
    assert pkt[ICMPv6NDOptMTU].mtu == 1400
    pios = [o for o in _options(pkt) if isinstance(o, ICMPv6NDOptPrefixInfo)]
    assert [(p.prefix, p.prefixlen) for p in pios] == [("2001:db8:1::", 64), ("2001:db8:2::", 64)]
    for p in pios:
        assert (p.L, p.A, p.R) == (1, 1, 0)
        assert p.validlifetime == 3600
        assert p.preferredlifetime == 1800
        assert p.len == 4
    assert ra.cksum == checksum_by_scapy(raw)
    assert ra.cksum != 0
    assert not pkt.haslayer("Raw"), "scapy found trailing bytes it could not dissect"


def _options(pkt) -> list:
    out = []
    layer = pkt[ICMPv6ND_RA].payload
    while layer and layer.name != "NoPayload":
        out.append(layer)
        layer = layer.payload
    return out


def test_radvd_defaults_on_the_wire():
    pkt = Ether(frame())
    ra = pkt[ICMPv6ND_RA]
    assert ra.chlim == 64
    assert ra.routerlifetime == 1800  # 3 × MaxRtrAdvInterval (600)
    assert (ra.reachabletime, ra.retranstimer) == (0, 0)
    assert not pkt.haslayer(ICMPv6NDOptMTU), "AdvLinkMTU 0 means no MTU option"
    pio = pkt[ICMPv6NDOptPrefixInfo]
    assert (pio.validlifetime, pio.preferredlifetime) == (86_400, 14_400)
    assert (pio.L, pio.A) == (1, 1)
    assert [type(o).__name__ for o in _options(pkt)] == [
        "ICMPv6NDOptSrcLLAddr",
        "ICMPv6NDOptPrefixInfo",
    ]


def test_only_the_given_prefixes_are_advertised():
    pkt = Ether(frame(prefixes=(P2,)))
    pios = [o for o in _options(pkt) if isinstance(o, ICMPv6NDOptPrefixInfo)]
    assert [p.prefix for p in pios] == ["2001:db8:2::"]


def test_flags_off_and_infinite_lifetimes():
    settings = RaSettings(
        adv_on_link=False,
        adv_autonomous=False,
        adv_valid_lifetime=INFINITY,
        adv_preferred_lifetime=INFINITY,
        adv_default_lifetime=0,
    )
    pkt = Ether(frame(settings))
    pio = pkt[ICMPv6NDOptPrefixInfo]
    assert (pio.L, pio.A) == (0, 0)
    assert pio.validlifetime == pio.preferredlifetime == 0xFFFFFFFF
    assert pkt[ICMPv6ND_RA].routerlifetime == 0


def test_deprecated_prefixes_carry_zero_lifetimes():
    pkt = Ether(frame(prefixes=(P1,), deprecated=(OLD,)))
    pios = [o for o in _options(pkt) if isinstance(o, ICMPv6NDOptPrefixInfo)]
    assert [(p.prefix, p.validlifetime, p.preferredlifetime) for p in pios] == [
        ("2001:db8:1::", 86_400, 14_400),
        ("2001:db8:99::", 0, 0),
    ]


def test_unicast_destination_and_other_prefix_lengths():
    raw = frame(prefixes=(Prefix.parse("2001:db8:7::/56"),), dst_ip=MN_LL)
    pkt = Ether(raw)
    assert pkt.dst == "02:00:00:00:01:01"
    assert pkt[IPv6].dst == "fe80::200:ff:fe00:101"
    assert (pkt[ICMPv6NDOptPrefixInfo].prefix, pkt[ICMPv6NDOptPrefixInfo].prefixlen) == (
        "2001:db8:7::",
        56,
    )
    assert pkt[ICMPv6ND_RA].cksum == checksum_by_scapy(raw)


def test_no_prefix_still_makes_a_default_router():
    pkt = Ether(frame(prefixes=()))
    assert not pkt.haslayer(ICMPv6NDOptPrefixInfo)
    assert pkt[ICMPv6ND_RA].routerlifetime == 1800


@given(
    src=st.binary(min_size=16, max_size=16),
    dst=st.binary(min_size=16, max_size=16),
    n=st.integers(0, 4),
    mtu=st.sampled_from([0, 1280, 1500, 9000]),
)
@settings(max_examples=60, deadline=None)
def test_checksum_agrees_with_scapy(src, dst, n, mtu):
    prefixes = tuple(Prefix(bytes([0x20, 0x01, 0x0D, 0xB8, i]) + bytes(11), 40) for i in range(n))
    raw = build_ra_frame(
        RaSettings(adv_link_mtu=mtu),
        prefixes,
        src_mac=MAG_MAC,
        dst_mac=MN_MAC,
        src_ip=src,
        dst_ip=dst,
    )
    assert Ether(raw)[ICMPv6ND_RA].cksum == checksum_by_scapy(raw)
    assert icmpv6_checksum_ok(src, dst, raw[54:])


def test_checksum_functions():
    message = build_ra(RaSettings(), (P1,), source_mac=MAG_MAC)
    assert message[2:4] == b"\0\0"
    value = icmpv6_checksum(LL, ALL_NODES, message)
    filled = message[:2] + struct.pack("!H", value) + message[4:]
    assert icmpv6_checksum_ok(LL, ALL_NODES, filled)
    assert not icmpv6_checksum_ok(LL, ALL_NODES, message)
    assert not icmpv6_checksum_ok(MN_LL, ALL_NODES, filled)
    # Odd lengths: scapy's own RFC 2460 checksum over the same pseudo-header.
    for data in (b"\x01", b"\x86\x00\x00\x00\xab"):
        expected = in6_chksum(58, IPv6(src="fe80::1", dst="ff02::1"), data)
        assert icmpv6_checksum(LL, ALL_NODES, data) == expected


def test_ra_without_source_link_layer_option():
    message = build_ra(RaSettings(), (P1,), source_mac=None)
    assert len(message) == 16 + 32


@pytest.mark.parametrize(
    "kw",
    [
        {"src_mac": b"\x02"},
        {"dst_mac": bytes(7)},
        {"src_ip": bytes(4)},
        {"dst_ip": bytes(15)},
        {"prefixes": (Prefix(bytes(16), 129),)},
        {"prefixes": (Prefix(bytes(8), 64),)},
    ],
)
def test_bad_arguments_are_refused(kw):
    with pytest.raises(ValueError):
        frame(**kw)


# --------------------------------------------------------------------------- settings


def test_derived_defaults_follow_radvd():
    s = RaSettings()
    assert s.max_rtr_adv_interval == 600
    assert s.min_rtr_adv_interval == pytest.approx(198)
    assert s.adv_default_lifetime == 1800
    s = RaSettings(max_rtr_adv_interval=4)
    assert s.min_rtr_adv_interval == pytest.approx(1.32)
    assert s.adv_default_lifetime == 12
    assert s.initial_ras == 3
    assert 0 < s.initial_ra_interval <= 1


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"max_rtr_adv_interval": 0.05}, "MaxRtrAdvInterval"),
        ({"max_rtr_adv_interval": 70_000}, "MaxRtrAdvInterval"),
        ({"max_rtr_adv_interval": 10, "min_rtr_adv_interval": 7.6}, "MinRtrAdvInterval"),
        ({"max_rtr_adv_interval": 10, "min_rtr_adv_interval": 0.01}, "MinRtrAdvInterval"),
        ({"max_rtr_adv_interval": 10, "adv_default_lifetime": 9}, "AdvDefaultLifetime"),
        ({"adv_default_lifetime": 70_000}, "AdvDefaultLifetime"),
        ({"adv_valid_lifetime": 100, "adv_preferred_lifetime": 101}, "AdvPreferredLifetime"),
        ({"adv_valid_lifetime": -1}, "AdvValidLifetime"),
        ({"adv_valid_lifetime": 2**32}, "AdvValidLifetime"),
        ({"adv_cur_hop_limit": 256}, "AdvCurHopLimit"),
        ({"adv_reachable_time": 3_600_001}, "AdvReachableTime"),
        ({"adv_retrans_timer": -1}, "AdvRetransTimer"),
        ({"adv_link_mtu": 1279}, "AdvLinkMTU"),
        ({"adv_link_mtu": 200_000}, "AdvLinkMTU"),
        ({"adv_on_link": 1}, "AdvOnLink"),
        ({"adv_autonomous": "yes"}, "AdvAutonomous"),
        ({"min_delay_between_ras": 0.01}, "MinDelayBetweenRAs"),
        ({"initial_ras": 0}, "InitialRtrAdvertisements"),
        ({"initial_ra_interval": 0}, "InitialRtrAdvInterval"),
        ({"adv_cur_hop_limit": 1.5}, "AdvCurHopLimit"),
    ],
)
def test_invalid_settings_name_the_radvd_variable(kw, name):
    with pytest.raises(ValueError, match=name):
        RaSettings(**kw)


def test_boundary_settings_are_accepted():
    RaSettings(max_rtr_adv_interval=10, min_rtr_adv_interval=7.5, adv_default_lifetime=10)
    RaSettings(max_rtr_adv_interval=0.07, min_rtr_adv_interval=0.03)
    RaSettings(adv_default_lifetime=0)
    RaSettings(adv_valid_lifetime=100, adv_preferred_lifetime=100)
    RaSettings(adv_link_mtu=1280)


def test_from_radvd_names():
    s = RaSettings.from_radvd(
        {
            "MaxRtrAdvInterval": 10,
            "minrtradvinterval": 3,
            "AdvValidLifetime": "infinity",
            "AdvPreferredLifetime": "Infinity",
            "AdvLinkMTU": 1500,
        }
    )
    assert (s.max_rtr_adv_interval, s.min_rtr_adv_interval) == (10, 3)
    assert s.adv_valid_lifetime == s.adv_preferred_lifetime == INFINITY
    assert s.adv_default_lifetime == 30
    assert s.radvd()["AdvLinkMTU"] == 1500
    with pytest.raises(ValueError, match="unknown RA setting 'AdvSendAdvert'"):
        RaSettings.from_radvd({"AdvSendAdvert": True})


def test_every_setting_has_a_radvd_name():
    assert sorted(RADVD_NAMES.values()) == sorted(RaSettings.__dataclass_fields__)
    assert set(RaSettings().radvd()) == set(RADVD_NAMES)


# --------------------------------------------------------------------------- RS parsing


def rs(
    src: str = "fe80::200:ff:fe00:101",
    slla: str | None = "02:00:00:00:01:01",
    hlim: int = 255,
    code: int = 0,
    ether_src: str = "02:00:00:00:01:01",
) -> bytes:
    pkt = (
        Ether(src=ether_src, dst="33:33:00:00:00:02")
        / IPv6(src=src, dst="ff02::2", hlim=hlim)
        / ICMPv6ND_RS(code=code)
    )
    if slla is not None:
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=slla)
    return bytes(pkt)


def test_parse_rs_from_scapy():
    got = parse_rs(rs())
    assert got is not None
    assert got.src_mac == MN_MAC
    assert got.src_ip == MN_LL
    assert got.slla == MN_MAC
    assert got.dst_mac == bytes.fromhex("333300000002")
    assert got.dst_ip == a6("ff02::2")


def test_parse_rs_unspecified_source_without_option():
    got = parse_rs(rs(src="::", slla=None))
    assert got is not None
    assert got.src_ip == bytes(16)
    assert got.slla is None


def test_parse_rs_ignores_ethernet_padding_and_unknown_options():
    pkt = (
        Ether(src="02:00:00:00:01:01", dst="33:33:00:00:00:02")
        / IPv6(src="fe80::1:2", dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptMTU(mtu=1500)
        / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:09:09")
    )
    got = parse_rs(bytes(pkt) + bytes(10))
    assert got is not None
    assert got.slla == bytes.fromhex("020000000909")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (rs(hlim=64), "hop limit not 255"),
        (rs(code=1), "ICMPv6 code not 0"),
        (rs(src="::"), "SLLA option with an unspecified source"),
        (rs()[:-1], "truncated option"),
        (rs()[:60], "truncated message"),
        (b"", "empty"),
        (bytes(13), "shorter than Ethernet"),
        (frame(), "a Router Advertisement"),
        (rs()[:12] + b"\x08\x00" + rs()[14:], "not IPv6"),
        (rs()[:14] + b"\x40" + rs()[15:], "IP version 4 in the header"),
    ],
)
def test_parse_rs_rejects(raw, why):
    assert parse_rs(raw) is None, why


def test_parse_rs_rejects_bad_checksum():
    raw = bytearray(rs())
    raw[56] ^= 0xFF
    assert parse_rs(bytes(raw)) is None


def test_parse_rs_rejects_zero_length_option():
    raw = bytearray(rs())
    raw[62 + 1] = 0  # SLLA option length
    # Keep the checksum right so only the option length is wrong.
    message = bytes(raw[54:56]) + b"\0\0" + bytes(raw[58:])
    value = icmpv6_checksum(bytes(raw[22:38]), bytes(raw[38:54]), message)
    raw[56:58] = struct.pack("!H", value)
    assert icmpv6_checksum_ok(bytes(raw[22:38]), bytes(raw[38:54]), bytes(raw[54:]))
    assert parse_rs(bytes(raw)) is None


def test_parse_rs_rejects_extension_headers():
    pkt = (
        Ether(src="02:00:00:00:01:01", dst="33:33:00:00:00:02")
        / IPv6(src="fe80::1:2", dst="ff02::2", hlim=255)
        / IPv6ExtHdrHopByHop()
        / ICMPv6ND_RS()
    )
    assert parse_rs(bytes(pkt)) is None


@given(st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_parse_rs_never_raises_on_random_bytes(data):
    parse_rs(data)


@given(st.data())
@settings(max_examples=500, deadline=None)
def test_parse_rs_never_raises_on_mutated_solicitations(data):
    raw = bytearray(rs(slla=data.draw(st.sampled_from([None, "02:00:00:00:01:01"]))))
    for _unused in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    got = parse_rs(bytes(raw[:cut]))
    if got is not None:
        assert len(got.src_mac) == 6
        assert len(got.src_ip) == 16
        assert got.slla is None or len(got.slla) == 6


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_parse_rs_accepts_what_scapy_builds(data):
    mac = data.draw(st.binary(min_size=6, max_size=6))
    src = socket.inet_ntop(
        socket.AF_INET6, b"\xfe\x80" + bytes(6) + data.draw(st.binary(min_size=8, max_size=8))
    )
    mac_text = ":".join(f"{b:02x}" for b in mac)
    got = parse_rs(rs(src=src, slla=mac_text, ether_src=mac_text))
    assert got is not None
    assert (got.src_mac, got.slla, got.src_ip) == (mac, mac, a6(src))
