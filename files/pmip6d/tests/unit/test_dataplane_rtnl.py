"""Our netlink bytes against pyroute2's encoder and parser (an independent implementation).

pyroute2 0.9.7 cannot express everything we send (``RTA_NH_ID``, nexthop
objects, seg6 ``encap.red``), so where it can, the bytes must be identical;
where it cannot, pyroute2 must at least parse our message into the fields we
meant, and the remaining attribute is checked by hand against the kernel
headers.
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pmip6d.dataplane import rtnl, seg6genl
from pmip6d.dataplane.rtnl import RouteTemplate
from pmip6d.wire.prefix import Prefix

HNP = Prefix.parse("2001:db8:100:1::/64")
MAG = "2001:db8:c::11"


def pyroute2_route(kind: int, flags: int, attrs: list, dst_len: int = 64, table: int = 254):
    msg = rtmsg()
    msg["family"] = socket.AF_INET6
    msg["dst_len"] = dst_len
    msg["table"] = table if table < 256 else 0
    msg["proto"] = 213
    msg["type"] = rtnl.RTN_UNICAST if kind == rtnl.RTM_NEWROUTE else 0
    msg["attrs"] = attrs
    msg["header"]["type"] = kind
    msg["header"]["flags"] = flags
    msg.encode()
    return bytes(msg.data)


def decode_route(data: bytes) -> rtmsg:
    msg = rtmsg(data)
    msg.decode()
    return msg


# --------------------------------------------------------------------------- routes


def test_device_route_is_byte_identical_to_pyroute2():
    mine = rtnl.route_message(rtnl.RTM_NEWROUTE, HNP, table=254, protocol=213, oif=7)
    theirs = pyroute2_route(
        rtnl.RTM_NEWROUTE,
        rtnl.REPLACE_FLAGS,
        [("RTA_TABLE", 254), ("RTA_DST", "2001:db8:100:1::"), ("RTA_OIF", 7)],
    )
    assert mine == theirs


def test_delete_is_byte_identical_to_pyroute2():
    mine = rtnl.route_message(rtnl.RTM_DELROUTE, HNP, table=5300, protocol=213, oif=3)
    theirs = pyroute2_route(
        rtnl.RTM_DELROUTE,
        rtnl.DEL_FLAGS,
        [("RTA_TABLE", 5300), ("RTA_DST", "2001:db8:100:1::"), ("RTA_OIF", 3)],
        table=5300,
    )
    assert mine == theirs


def test_nexthop_route_parses_in_pyroute2_and_carries_nh_id():
    mine = rtnl.route_message(rtnl.RTM_NEWROUTE, HNP, table=254, protocol=213, nh_id=52130007)
    parsed = decode_route(mine)
    assert parsed["header"]["type"] == rtnl.RTM_NEWROUTE
    assert parsed["header"]["flags"] & rtnl.NLM_F_REPLACE
    assert parsed["header"]["flags"] & rtnl.NLM_F_ACK
    assert (parsed["family"], parsed["dst_len"], parsed["proto"]) == (socket.AF_INET6, 64, 213)
    assert parsed.get_attr("RTA_DST") == "2001:db8:100:1::"
    assert parsed.get_attr("RTA_TABLE") == 254
    # pyroute2 does not know RTA_NH_ID (30): it is the one attribute it leaves unknown.
    unknown = [a for a in parsed["attrs"] if a[0] == "UNKNOWN"]
    assert [a[1]["header"]["type"] for a in unknown] == [rtnl.RTA_NH_ID]
    # ... and it is a u32 holding the id, as include/uapi/linux/rtnetlink.h says.
    assert mine[-8:] == struct.pack("=HHI", 8, rtnl.RTA_NH_ID, 52130007)
    assert rtnl.parse_route(mine[rtnl.NLMSGHDR_LEN :]).nh_id == 52130007


def test_seg6_encap_red_differs_from_pyroute2_encap_only_in_mode():
    """pyroute2 encodes mode "encap" (1); encap.red (3) is the same structure, mode 3."""
    theirs = pyroute2_route(
        rtnl.RTM_NEWROUTE,
        rtnl.REPLACE_FLAGS,
        [
            ("RTA_TABLE", 254),
            ("RTA_DST", "2001:db8:100:1::"),
            ("RTA_OIF", 5),
            ("RTA_ENCAP_TYPE", rtnl.LWTUNNEL_ENCAP_SEG6),
            ("RTA_ENCAP", {"attrs": [("SEG6_IPTUNNEL_SRH", {"mode": "encap", "segs": [MAG]})]}),
        ],
    )
    as_encap = rtnl.route_message(
        rtnl.RTM_NEWROUTE,
        HNP,
        table=254,
        protocol=213,
        oif=5,
        encap=rtnl.seg6_encap([MAG], mode=rtnl.SEG6_IPTUN_MODE_ENCAP),
    )
    red = rtnl.route_message(
        rtnl.RTM_NEWROUTE, HNP, table=254, protocol=213, oif=5, encap=rtnl.seg6_encap([MAG])
    )

    def without_nested_flag(data: bytes) -> bytes:
        # iproute2 and we mark RTA_ENCAP as nested (NLA_F_NESTED); pyroute2 does not.
        i = data.index(struct.pack("=H", rtnl.RTA_ENCAP | rtnl.NLA_F_NESTED))
        return data[:i] + struct.pack("=H", rtnl.RTA_ENCAP) + data[i + 2 :]

    assert without_nested_flag(as_encap) == theirs
    diff = [i for i, (a, b) in enumerate(zip(red, as_encap, strict=True)) if a != b]
    assert len(diff) == 1
    assert red[diff[0]] == rtnl.SEG6_IPTUN_MODE_ENCAP_RED


def test_seg6_one_segment_layout():
    encap = rtnl.seg6_encap([MAG])
    attrs = rtnl.parse_attrs(encap.body)
    srh = attrs[rtnl.SEG6_IPTUNNEL_SRH]
    fields = struct.unpack_from("=iBBBBBBH", srh)
    # mode 3 (encap.red), next header (kernel's), length 2 (one segment), type 4,
    # segments left 0, last entry 0, flags 0, tag 0
    assert fields == (3, 0, 2, 4, 0, 0, 0, 0)
    assert srh[12:] == socket.inet_pton(socket.AF_INET6, MAG)
    with pytest.raises(ValueError):
        rtnl.seg6_encap([])


def test_seg6local_end_dt6():
    encap = rtnl.seg6local_end_dt6(254)
    assert encap.kind == rtnl.LWTUNNEL_ENCAP_SEG6_LOCAL
    attrs = rtnl.parse_attrs(encap.body)
    assert struct.unpack("=I", attrs[rtnl.SEG6_LOCAL_ACTION]) == (7,)
    assert struct.unpack("=I", attrs[rtnl.SEG6_LOCAL_TABLE]) == (254,)


@given(
    address=st.binary(min_size=16, max_size=16),
    length=st.integers(min_value=0, max_value=128),
    seq=st.integers(min_value=0, max_value=0xFFFFFFFF),
    nh_id=st.integers(min_value=1, max_value=0xFFFFFFFF),
    kind=st.sampled_from([rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE]),
)
def test_template_renders_exactly_what_route_message_builds(address, length, seq, nh_id, kind):
    prefix = Prefix(address, length)
    template = RouteTemplate(kind, table=254, protocol=213, nh_id=nh_id)
    expected = bytearray(rtnl.route_message(kind, prefix, table=254, protocol=213, nh_id=nh_id))
    rtnl.set_seq(expected, seq)
    assert template.render(prefix, seq) == bytes(expected)


def test_template_batch_parses_back_message_by_message():
    prefixes = [Prefix(bytes([0x20, 0x01, 0x0D, 0xB8, 0, i]) + bytes(10), 48) for i in range(50)]
    template = RouteTemplate(rtnl.RTM_NEWROUTE, table=254, protocol=213, nh_id=9)
    buf = bytearray(template.size * len(prefixes))
    offset = 0
    for i, p in enumerate(prefixes):
        offset = template.render_into(buf, offset, p, 100 + i)
    messages = list(rtnl.iter_messages(buf))
    assert [h.seq for h, _unused in messages] == list(range(100, 150))
    assert [rtnl.parse_route(b).dst for _unused, b in messages] == prefixes
    # and pyroute2 agrees on every one
    for i, p in enumerate(prefixes):
        parsed = decode_route(bytes(buf[i * template.size : (i + 1) * template.size]))
        assert f"{parsed.get_attr('RTA_DST')}/{parsed['dst_len']}" == str(p)
        assert parsed["header"]["sequence_number"] == 100 + i


# --------------------------------------------------------------------------- rules


def test_rule_is_byte_identical_to_pyroute2():
    mine = rtnl.rule_message(
        rtnl.RTM_NEWRULE, priority=1000, table=5300, protocol=213, src=HNP, iifname="acc0"
    )
    msg = fibmsg()
    msg["family"] = socket.AF_INET6
    msg["src_len"] = 64
    msg["action"] = 1
    msg["attrs"] = [
        ("FRA_PRIORITY", 1000),
        ("FRA_TABLE", 5300),
        ("FRA_PROTOCOL", 213),
        ("FRA_SRC", "2001:db8:100:1::"),
        ("FRA_IIFNAME", "acc0"),
    ]
    msg["header"]["type"] = rtnl.RTM_NEWRULE
    msg["header"]["flags"] = rtnl.NEW_FLAGS
    msg.encode()
    assert mine == bytes(msg.data)


def test_decap_rule_parses_in_pyroute2():
    local = Prefix(socket.inet_pton(socket.AF_INET6, "2001:db8:c::1"), 128)
    mine = rtnl.rule_message(
        rtnl.RTM_NEWRULE, priority=50, table=5213, protocol=213, dst=local, ip_proto=41
    )
    parsed = fibmsg(mine)
    parsed.decode()
    assert parsed["dst_len"] == 128
    assert parsed.get_attr("FRA_DST") == "2001:db8:c::1"
    assert parsed.get_attr("FRA_IP_PROTO") == 41
    assert parsed.get_attr("FRA_PRIORITY") == 50
    assert parsed["header"]["flags"] & rtnl.NLM_F_EXCL, "without EXCL the kernel adds duplicates"
    info = rtnl.parse_rule(mine[rtnl.NLMSGHDR_LEN :])
    assert (info.priority, info.table, info.protocol, info.ip_proto) == (50, 5213, 213, 41)
    assert info.dst == local


# --------------------------------------------------------------------------- nexthops


def test_nexthop_layout():
    msg = rtnl.nexthop_message(
        rtnl.RTM_NEWNEXTHOP, 52130001, protocol=213, oif=4, encap=rtnl.seg6_encap([MAG])
    )
    header = next(rtnl.iter_messages(msg))[0]
    assert (header.kind, header.flags) == (rtnl.RTM_NEWNEXTHOP, rtnl.NEW_FLAGS)
    info = rtnl.parse_nexthop(msg[rtnl.NLMSGHDR_LEN :])
    assert (info.nh_id, info.protocol, info.oif, info.encap_type) == (52130001, 213, 4, 5)
    assert info.encap == rtnl.seg6_encap([MAG]).body
    # nhmsg: family AF_INET6, scope 0, protocol, reserved, flags
    assert msg[16:24] == struct.pack("=BBBBI", socket.AF_INET6, 0, 213, 0, 0)


def test_nexthop_delete_has_a_bare_header():
    """The kernel refuses a delete whose nhmsg has anything set ("Invalid values in header")."""
    msg = rtnl.nexthop_message(rtnl.RTM_DELNEXTHOP, 52130001, protocol=213)
    assert msg[16:24] == bytes(8)
    assert rtnl.parse_attrs(msg, 24) == {rtnl.NHA_ID: struct.pack("=I", 52130001)}


# --------------------------------------------------------------------------- links


def test_ip6tnl_link_request():
    msg = rtnl.ip6tnl_link_message(
        "pmip6t3", link=2, local="2001:db8:c::1", remote="2001:db8:c::11"
    )
    parsed = ifinfmsg(msg)
    parsed.decode()
    assert parsed["header"]["type"] == rtnl.RTM_NEWLINK
    assert parsed["header"]["flags"] & rtnl.NLM_F_EXCL
    assert parsed["flags"] & rtnl.IFF_UP and parsed["change"] & rtnl.IFF_UP
    assert parsed.get_attr("IFLA_IFNAME") == "pmip6t3"
    info = parsed.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "ip6tnl"
    data = info.get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_IP6TNL_LOCAL") == "2001:db8:c::1"
    assert data.get_attr("IFLA_IP6TNL_REMOTE") == "2001:db8:c::11"
    assert data.get_attr("IFLA_IP6TNL_LINK") == 2
    assert data.get_attr("IFLA_IP6TNL_PROTO") == 41, "mode ip6ip6"
    assert data.get_attr("IFLA_IP6TNL_TTL") == 64
    flags = data.get_attr("IFLA_IP6TNL_FLAGS")
    # encaplimit none: without this flag the kernel adds a destination options
    # header and the outer next header is 60, not 41.
    assert flags & rtnl.IP6_TNL_F_IGN_ENCAP_LIMIT
    assert flags == 0x7
    # our own parser reads the same request back
    link = rtnl.parse_link(msg[rtnl.NLMSGHDR_LEN :])
    assert (link.name, link.kind) == ("pmip6t3", "ip6tnl")


# --------------------------------------------------------------------------- answers


def _error(err: int, seq: int, text: str = "", capped: bool = True) -> bytes:
    echoed = struct.pack("=IHHII", 64, rtnl.RTM_NEWROUTE, 5, seq, 0)
    flags = rtnl.NLM_F_CAPPED if capped else 0
    if not capped:
        echoed += bytes(48)
    tlvs = b""
    if text:
        flags |= rtnl.NLM_F_ACK_TLVS
        tlvs = rtnl.attr(rtnl.NLMSGERR_ATTR_MSG, text.encode() + b"\0")
    return rtnl.message(rtnl.NLMSG_ERROR, flags, struct.pack("=i", -err) + echoed + tlvs, seq)


@pytest.mark.parametrize("capped", [True, False])
def test_error_with_extended_ack(capped):
    data = _error(22, 77, "Nexthop id does not exist", capped) + _error(0, 78)
    (h1, b1), (h2, b2) = list(rtnl.iter_messages(data))
    assert rtnl.parse_error(b1, h1.flags) == (22, 77, "Nexthop id does not exist")
    assert rtnl.parse_error(b2, h2.flags) == (0, 78, "")


def test_truncated_datagram_stops_the_walk():
    data = _error(0, 1) + _error(0, 2)
    assert len(list(rtnl.iter_messages(data[:-4]))) == 1


def test_netlink_error_message():
    exc = rtnl.NetlinkError(22, "Nexthop id does not exist", "route x")
    assert exc.errno == 22
    assert str(exc) == "[Errno 22] route x: Invalid argument (Nexthop id does not exist)"


def test_seg6_genl_messages():
    msg = seg6genl.set_tunsrc(0x1C, "2001:db8:c::1")
    header, body = next(rtnl.iter_messages(msg))
    assert header.kind == 0x1C
    assert body[:4] == bytes([seg6genl.SEG6_CMD_SET_TUNSRC, 1, 0, 0])
    assert seg6genl.parse_tunsrc(body) == "2001:db8:c::1"
    reply = struct.pack("=BBH", 1, 2, 0) + rtnl.attr(seg6genl.CTRL_ATTR_FAMILY_ID, b"\x1c\x00")
    assert seg6genl.parse_family_id(reply) == 0x1C
