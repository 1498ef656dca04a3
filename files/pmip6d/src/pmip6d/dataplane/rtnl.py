"""Route-netlink messages as bytes: encoding and decoding, no sockets.

Rules of this file: pure functions over ``bytes``; nothing here opens a socket
or reads the system. Everything the data plane sends to the kernel is built
here, so unit tests can compare it byte for byte with pyroute2's encoder and
decode it with pyroute2's parser.

Why our own encoder next to pyroute2? Three things pyroute2 0.9.7 cannot do:
nexthop objects (``RTM_NEWNEXTHOP``, ``RTA_NH_ID``), seg6 mode ``encap.red``
(mode 3), and speed — encoding a route message with pyroute2 costs ~0.5 ms,
while a :class:`RouteTemplate` patches 17 bytes of a pre-built message. Link
messages for ip6tnl devices *are* built with pyroute2's ``ifinfmsg`` (see
:func:`ip6tnl_link_message`), where per-message cost does not matter.

Layouts (``include/uapi/linux/{netlink,rtnetlink,fib_rules,nexthop}.h``)::

    nlmsghdr      u32 len, u16 type, u16 flags, u32 seq, u32 pid        16 bytes
    rtmsg         u8 family dst_len src_len tos table protocol scope type,
                  u32 flags                                             12 bytes
    fib_rule_hdr  u8 family dst_len src_len tos table res1 res2 action,
                  u32 flags                                             12 bytes
    nhmsg         u8 family scope protocol resvd, u32 flags              8 bytes
    rtattr        u16 len, u16 type, payload padded to 4 bytes
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import PmipError
from ..wire.prefix import Prefix

# --- netlink ---------------------------------------------------------------------------

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an NLMSG_ERROR: the request was not echoed (NETLINK_CAP_ACK)
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ack attributes follow

NLMSGERR_ATTR_MSG = 1

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NEW_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
REPLACE_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
DEL_FLAGS = NLM_F_REQUEST | NLM_F_ACK
DUMP_FLAGS = NLM_F_REQUEST | NLM_F_DUMP

# --- rtnetlink message types -----------------------------------------------------------

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWRULE = 32
RTM_DELRULE = 33
RTM_GETRULE = 34
RTM_NEWNETCONF = 80
RTM_GETNETCONF = 82
RTM_NEWNEXTHOP = 104
RTM_DELNEXTHOP = 105
RTM_GETNEXTHOP = 106

# --- routes ----------------------------------------------------------------------------

RTA_DST = 1
RTA_SRC = 2
RTA_IIF = 3
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_TABLE = 15
RTA_ENCAP_TYPE = 21
RTA_ENCAP = 22
RTA_NH_ID = 30

RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
RT_TABLE_UNSPEC = 0
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
RTPROT_KERNEL = 2

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

LWTUNNEL_ENCAP_SEG6 = 5
LWTUNNEL_ENCAP_BPF = 6
LWTUNNEL_ENCAP_SEG6_LOCAL = 7

# include/uapi/linux/lwtunnel.h
LWT_BPF_XMIT = 3
LWT_BPF_XMIT_HEADROOM = 4
LWT_BPF_PROG_FD = 1
LWT_BPF_PROG_NAME = 2

# include/uapi/linux/seg6_iptunnel.h
SEG6_IPTUNNEL_SRH = 1
SEG6_IPTUNNEL_SRC = 2  # per-route tunnel source; kernels without it ignore the attribute
SEG6_IPTUN_MODE_INLINE = 0
SEG6_IPTUN_MODE_ENCAP = 1
SEG6_IPTUN_MODE_L2ENCAP = 2
SEG6_IPTUN_MODE_ENCAP_RED = 3  # "encap.red": one segment → outer header only, no SRH
IPV6_SRCRT_TYPE_4 = 4

# include/uapi/linux/seg6_local.h
SEG6_LOCAL_ACTION = 1
SEG6_LOCAL_TABLE = 3
SEG6_LOCAL_ACTION_END_DT6 = 7

# --- nexthop objects -------------------------------------------------------------------

NHA_ID = 1
NHA_OIF = 5
NHA_GATEWAY = 6
NHA_BLACKHOLE = 4
NHA_ENCAP_TYPE = 7
NHA_ENCAP = 8

# --- rules -----------------------------------------------------------------------------

FRA_DST = 1
FRA_SRC = 2
FRA_IIFNAME = 3
FRA_PRIORITY = 6
FRA_TABLE = 15
FRA_PROTOCOL = 21
FRA_IP_PROTO = 22
FR_ACT_TO_TBL = 1

# --- links and netconf -----------------------------------------------------------------

IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFF_UP = 0x1
NETCONFA_IFINDEX = 1
NETCONFA_FORWARDING = 2
NETCONFA_IFINDEX_ALL = -1

AF_INET6 = socket.AF_INET6
IPPROTO_IPV6 = 41  # IPv6-in-IPv6: the next header of every RFC 5213 tunnel packet

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_FIB_RULE_HDR = struct.Struct("=BBBBBBBBI")
_NHMSG = struct.Struct("=BBBBI")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_NLMSGERR = struct.Struct("=i")

NLMSGHDR_LEN = _NLMSGHDR.size


class NetlinkError(OSError, PmipError):
    """The kernel refused a request: ``errno`` plus its extended-ack text, if any."""

    def __init__(self, errno: int, text: str = "", what: str = "") -> None:
        message = os_strerror(errno)
        if text:
            message += f" ({text})"
        if what:
            message = f"{what}: {message}"
        super().__init__(errno, message)
        self.text = text


def os_strerror(errno: int) -> str:
    import os

    try:
        return os.strerror(errno)
    except ValueError:
        return f"errno {errno}"


# --- attribute helpers -----------------------------------------------------------------


def _pad(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr: header, payload, zero padding to a multiple of four."""
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + bytes(_pad(length) - length)


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, bytes((value,)))


def attr_u16(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=H", value))


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def message(kind: int, flags: int, body: bytes, seq: int = 0) -> bytes:
    """A complete netlink message; the channel overwrites ``seq`` when it sends."""
    return _NLMSGHDR.pack(NLMSGHDR_LEN + len(body), kind, flags, seq, 0) + body


def set_seq(msg: bytearray | memoryview, seq: int, offset: int = 0) -> None:
    struct.pack_into("=I", msg, offset + 8, seq)


def packed(address: str) -> bytes:
    return socket.inet_pton(AF_INET6, address)


def unpacked(raw: bytes) -> str:
    return socket.inet_ntop(AF_INET6, raw)


# --- encapsulations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encap:
    """A lightweight-tunnel encapsulation: ``RTA_ENCAP_TYPE`` and the ``RTA_ENCAP`` body."""

    kind: int
    body: bytes


def seg6_encap(
    segments: list[str] | tuple[str, ...],
    mode: int = SEG6_IPTUN_MODE_ENCAP_RED,
    source: str | None = None,
) -> Encap:
    """``encap seg6 mode <mode> segs <segments>`` (+ optional per-route tunnel source).

    With mode ``encap.red`` and one segment the kernel writes the segment as the
    outer destination and leaves the SRH out: plain IPv6-in-IPv6 (RFC 2473), the
    RFC 5213 tunnel format.

    ``struct seg6_iptunnel_encap { int mode; struct ipv6_sr_hdr srh[]; }``; the
    SRH lists segments in reverse order (iproute2 does the same).
    """
    n = len(segments)
    if n == 0:
        raise ValueError("seg6 encapsulation needs at least one segment")
    srh = struct.pack(
        "=BBBBBBH",
        0,  # next header: filled in by the kernel
        (8 + 16 * n) // 8 - 1,  # header extension length in 8-octet units
        IPV6_SRCRT_TYPE_4,
        n - 1,  # segments left
        n - 1,  # last entry
        0,  # flags
        0,  # tag
    ) + b"".join(packed(s) for s in reversed(segments))
    body = attr(SEG6_IPTUNNEL_SRH, struct.pack("=i", mode) + srh)
    if source is not None:
        body += attr(SEG6_IPTUNNEL_SRC, packed(source))
    return Encap(LWTUNNEL_ENCAP_SEG6, body)


def seg6local_end_dt6(table: int) -> Encap:
    """``encap seg6local action End.DT6 table <table>``: strip the outer header, route inside.

    End.DT6 accepts packets without an SRH (it only requires segments left = 0
    if one is present), so it decapsulates plain IPv6-in-IPv6 as well.
    """
    body = attr_u32(SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTION_END_DT6) + attr_u32(
        SEG6_LOCAL_TABLE, table
    )
    return Encap(LWTUNNEL_ENCAP_SEG6_LOCAL, body)


def bpf_xmit_encap(prog_fd: int, name: str, headroom: int) -> Encap:
    """``encap bpf xmit fd <prog_fd> headroom <headroom>``: an lwt_xmit program on the route.

    ``headroom`` is what the program pushes in front of the packet; the kernel
    subtracts it from the path MTU, so senders get Packet Too Big for what
    would not fit once encapsulated. ``name`` is what ``ip route`` shows.
    """
    program = attr_u32(LWT_BPF_PROG_FD, prog_fd) + attr_str(LWT_BPF_PROG_NAME, name)
    body = nested(LWT_BPF_XMIT, program)
    body += attr_u32(LWT_BPF_XMIT_HEADROOM, headroom)
    return Encap(LWTUNNEL_ENCAP_BPF, body)


# --- routes ----------------------------------------------------------------------------


def _rtmsg(dst_len: int, table: int, protocol: int, rtype: int) -> bytes:
    return _RTMSG.pack(
        AF_INET6,
        dst_len,
        0,  # src_len
        0,  # tos
        table if table < 256 else RT_TABLE_UNSPEC,  # the real table is in RTA_TABLE
        protocol,
        RT_SCOPE_UNIVERSE,  # IPv6 ignores route scope
        rtype,
        0,
    )


def route_message(
    kind: int,
    dst: Prefix,
    *,
    table: int,
    protocol: int,
    nh_id: int | None = None,
    oif: int | None = None,
    encap: Encap | None = None,
    flags: int | None = None,
) -> bytes:
    """``RTM_NEWROUTE`` (create-or-replace) or ``RTM_DELROUTE`` for one IPv6 prefix.

    The attribute order is fixed (table, dst, then the target) so that
    :class:`RouteTemplate` can patch the destination at a known offset.
    For deletion the kernel matches table, prefix, protocol and, when given,
    the nexthop id or device: we never remove a route someone else installed.
    """
    if flags is None:
        flags = REPLACE_FLAGS if kind == RTM_NEWROUTE else DEL_FLAGS
    rtype = RTN_UNICAST if kind == RTM_NEWROUTE else 0
    body = _rtmsg(dst.length, table, protocol, rtype)
    body += attr_u32(RTA_TABLE, table)
    body += attr(RTA_DST, dst.address)
    if nh_id is not None:
        body += attr_u32(RTA_NH_ID, nh_id)
    if oif is not None:
        body += attr_u32(RTA_OIF, oif)
    if encap is not None:
        body += attr_u16(RTA_ENCAP_TYPE, encap.kind)
        body += nested(RTA_ENCAP, encap.body)
    return message(kind, flags, body)


# offsets inside a message built by route_message
_DST_LEN_OFFSET = NLMSGHDR_LEN + 1
_DST_ADDR_OFFSET = NLMSGHDR_LEN + _RTMSG.size + 8 + 4  # after RTA_TABLE (8) and RTA_DST header


class RouteTemplate:
    """One route message with a hole for the prefix: many routes, one encode.

    A route toward a given MAG differs from the next only in its 16 prefix
    bytes, its prefix length and its sequence number, so :meth:`render_into`
    copies the template and patches those three fields — the cost of a
    ``bytes`` slice assignment instead of a full netlink encode.
    """

    __slots__ = ("kind", "size", "template")

    def __init__(
        self,
        kind: int,
        *,
        table: int,
        protocol: int,
        nh_id: int | None = None,
        oif: int | None = None,
        flags: int | None = None,
    ) -> None:
        self.kind = kind
        self.template = route_message(
            kind,
            Prefix(bytes(16), 0),
            table=table,
            protocol=protocol,
            nh_id=nh_id,
            oif=oif,
            flags=flags,
        )
        self.size = len(self.template)

    def render_into(self, buf: bytearray, offset: int, prefix: Prefix, seq: int) -> int:
        """Write the message for ``prefix`` at ``offset`` of ``buf``; return the next offset."""
        end = offset + self.size
        buf[offset:end] = self.template
        struct.pack_into("=I", buf, offset + 8, seq)
        buf[offset + _DST_LEN_OFFSET] = prefix.length
        a = offset + _DST_ADDR_OFFSET
        buf[a : a + 16] = prefix.address
        return end

    def render(self, prefix: Prefix, seq: int = 0) -> bytes:
        buf = bytearray(self.size)
        self.render_into(buf, 0, prefix, seq)
        return bytes(buf)


def route_dump_request(table: int | None = None) -> bytes:
    """Dump IPv6 routes; with ``table`` the kernel filters (strict checking not required)."""
    body = _rtmsg(0, 0, 0, 0)
    if table is not None:
        body += attr_u32(RTA_TABLE, table)
    return message(RTM_GETROUTE, DUMP_FLAGS, body)


# --- nexthop objects -------------------------------------------------------------------


def nexthop_message(
    kind: int,
    nh_id: int,
    *,
    protocol: int,
    oif: int | None = None,
    encap: Encap | None = None,
    blackhole: bool = False,
    flags: int | None = None,
) -> bytes:
    """``RTM_NEWNEXTHOP``/``RTM_DELNEXTHOP``: ``ip -6 nexthop add id N [encap ...] dev D``
    (or ``... blackhole``).

    The nhmsg carries a protocol byte like routes do, which is how leftovers of
    a crashed run are found again.
    """
    if flags is None:
        flags = NEW_FLAGS if kind == RTM_NEWNEXTHOP else DEL_FLAGS
    if kind == RTM_NEWNEXTHOP:
        body = _NHMSG.pack(AF_INET6, 0, protocol, 0, 0)
    else:
        # A delete names the id only: the kernel refuses any other header field
        # ("Invalid values in header"), protocol included.
        body = _NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    body += attr_u32(NHA_ID, nh_id)
    if kind == RTM_NEWNEXTHOP:
        if oif is not None:
            body += attr_u32(NHA_OIF, oif)
        if encap is not None:
            body += attr_u16(NHA_ENCAP_TYPE, encap.kind)
            body += nested(NHA_ENCAP, encap.body)
        if blackhole:
            body += attr(NHA_BLACKHOLE, b"")
    return message(kind, flags, body)


def nexthop_dump_request() -> bytes:
    return message(RTM_GETNEXTHOP, DUMP_FLAGS, _NHMSG.pack(AF_INET6, 0, 0, 0, 0))


# --- rules -----------------------------------------------------------------------------


def rule_message(
    kind: int,
    *,
    priority: int,
    table: int,
    protocol: int,
    src: Prefix | None = None,
    dst: Prefix | None = None,
    iifname: str | None = None,
    ip_proto: int | None = None,
    flags: int | None = None,
) -> bytes:
    """``ip -6 rule add|del pref P [from SRC] [to DST] [iif IF] [ipproto N] table T proto X``.

    New rules are sent with ``NLM_F_EXCL``: without it the kernel happily adds
    an identical duplicate, which a later single delete would leave behind.
    """
    if flags is None:
        flags = NEW_FLAGS if kind == RTM_NEWRULE else DEL_FLAGS
    body = _FIB_RULE_HDR.pack(
        AF_INET6,
        dst.length if dst else 0,
        src.length if src else 0,
        0,
        table if table < 256 else RT_TABLE_UNSPEC,
        0,
        0,
        FR_ACT_TO_TBL,
        0,
    )
    body += attr_u32(FRA_PRIORITY, priority)
    body += attr_u32(FRA_TABLE, table)
    body += attr_u8(FRA_PROTOCOL, protocol)
    if src is not None:
        body += attr(FRA_SRC, src.address)
    if dst is not None:
        body += attr(FRA_DST, dst.address)
    if iifname is not None:
        body += attr_str(FRA_IIFNAME, iifname)
    if ip_proto is not None:
        body += attr_u8(FRA_IP_PROTO, ip_proto)
    return message(kind, flags, body)


def rule_dump_request() -> bytes:
    return message(RTM_GETRULE, DUMP_FLAGS, _FIB_RULE_HDR.pack(AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0))


# --- links -----------------------------------------------------------------------------

IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1  # "encaplimit none": no destination options header
IP6_TNL_F_USE_ORIG_TCLASS = 0x2  # copy traffic class from the inner header (as seg6 does)
IP6_TNL_F_USE_ORIG_FLOWLABEL = 0x4  # copy the flow label from the inner header (as seg6 does)
IP6TNL_FLAGS = IP6_TNL_F_IGN_ENCAP_LIMIT | IP6_TNL_F_USE_ORIG_TCLASS | IP6_TNL_F_USE_ORIG_FLOWLABEL


def ip6tnl_link_message(
    name: str, *, link: int, local: str, remote: str, hop_limit: int = 64, up: bool = True
) -> bytes:
    """``ip link add NAME type ip6tnl mode ip6ip6 local L remote R dev LINK encaplimit none``.

    Built with pyroute2's ``ifinfmsg`` (link messages are few, and pyroute2 knows
    the ip6tnl attributes). ``encaplimit none`` is not an attribute value but the
    flag ``IP6_TNL_F_IGN_ENCAP_LIMIT``: without it the kernel inserts a
    destination options header (Tunnel Encapsulation Limit, RFC 2473 §4.1.1)
    and the next header becomes 60 instead of 41. ``IFLA_IP6TNL_PROTO`` 41 is
    ``mode ip6ip6`` (the default, ``any``, would also accept IPv4-in-IPv6).
    """
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["flags"] = IFF_UP if up else 0
    msg["change"] = IFF_UP if up else 0
    msg["attrs"] = [
        ("IFLA_IFNAME", name),
        (
            "IFLA_LINKINFO",
            {
                "attrs": [
                    ("IFLA_INFO_KIND", "ip6tnl"),
                    (
                        "IFLA_INFO_DATA",
                        {
                            "attrs": [
                                ("IFLA_IP6TNL_LINK", link),
                                ("IFLA_IP6TNL_LOCAL", local),
                                ("IFLA_IP6TNL_REMOTE", remote),
                                ("IFLA_IP6TNL_TTL", hop_limit),
                                ("IFLA_IP6TNL_ENCAP_LIMIT", 0),
                                ("IFLA_IP6TNL_FLAGS", IP6TNL_FLAGS),
                                ("IFLA_IP6TNL_PROTO", IPPROTO_IPV6),
                            ]
                        },
                    ),
                ]
            },
        ),
    ]
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = NEW_FLAGS
    msg.encode()
    return bytes(msg.data)


def link_del_message(index: int) -> bytes:
    return message(RTM_DELLINK, DEL_FLAGS, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0))


def link_get_request(name: str) -> bytes:
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr_str(IFLA_IFNAME, name)
    return message(RTM_GETLINK, NLM_F_REQUEST, body)


def link_dump_request() -> bytes:
    return message(RTM_GETLINK, DUMP_FLAGS, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))


def netconf_request(ifindex: int = NETCONFA_IFINDEX_ALL) -> bytes:
    """``RTM_GETNETCONF`` for IPv6: the forwarding switch, without reading /proc."""
    body = struct.pack("=Bxxx", AF_INET6) + attr(NETCONFA_IFINDEX, struct.pack("=i", ifindex))
    return message(RTM_GETNETCONF, NLM_F_REQUEST, body)


# --- decoding --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    length: int
    kind: int
    flags: int
    seq: int
    pid: int


def iter_messages(data: bytes | memoryview) -> Iterator[tuple[Header, memoryview]]:
    """Split a datagram into (header, body) pairs; a short or bad length ends the walk."""
    view = memoryview(data)
    offset = 0
    end = len(view)
    while offset + NLMSGHDR_LEN <= end:
        length, kind, flags, seq, pid = _NLMSGHDR.unpack_from(view, offset)
        if length < NLMSGHDR_LEN or offset + length > end:
            return
        yield Header(length, kind, flags, seq, pid), view[offset + NLMSGHDR_LEN : offset + length]
        offset += _pad(length)


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attributes of a message body from ``offset`` on, keyed by type (nested flag cleared)."""
    view = memoryview(data)
    out: dict[int, bytes] = {}
    end = len(view)
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(view, offset)
        if length < _RTATTR.size or offset + length > end:
            break
        out[kind & NLA_TYPE_MASK] = bytes(view[offset + _RTATTR.size : offset + length])
        offset += _pad(length)
    return out


def parse_error(body: bytes | memoryview, flags: int) -> tuple[int, int, str]:
    """An NLMSG_ERROR body → (errno, seq of the request, extended-ack text).

    errno 0 is a positive acknowledgement. With ``NETLINK_CAP_ACK`` only the
    request's header is echoed, and the extended-ack attributes follow it.
    """
    (error,) = _NLMSGERR.unpack_from(body, 0)
    _unused, _unused, _unused, seq, _unused = _NLMSGHDR.unpack_from(body, 4)
    text = ""
    if flags & NLM_F_ACK_TLVS:
        if flags & NLM_F_CAPPED:
            tlv_offset = 4 + NLMSGHDR_LEN
        else:
            (echoed_len,) = _U32.unpack_from(body, 4)
            tlv_offset = 4 + _pad(echoed_len)
        raw = parse_attrs(body, tlv_offset).get(NLMSGERR_ATTR_MSG)
        if raw:
            text = raw.rstrip(b"\0").decode(errors="replace")
    return -error, seq, text


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """What the data plane needs to know of one dumped route."""

    dst: Prefix
    table: int
    protocol: int
    nh_id: int | None
    oif: int | None
    encap_type: int | None


def parse_route(body: bytes | memoryview) -> RouteInfo:
    _family, dst_len, _src_len, _tos, table, protocol, _scope, _rtype, _flags = _RTMSG.unpack_from(
        body, 0
    )
    attrs = parse_attrs(body, _RTMSG.size)
    if RTA_TABLE in attrs:
        (table,) = _U32.unpack(attrs[RTA_TABLE])
    dst = attrs.get(RTA_DST, bytes(16)).ljust(16, b"\0")
    nh = attrs.get(RTA_NH_ID)
    oif = attrs.get(RTA_OIF)
    encap_type = attrs.get(RTA_ENCAP_TYPE)
    return RouteInfo(
        Prefix(dst, dst_len),
        table,
        protocol,
        _U32.unpack(nh)[0] if nh else None,
        _U32.unpack(oif)[0] if oif else None,
        struct.unpack("=H", encap_type)[0] if encap_type else None,
    )


@dataclass(frozen=True, slots=True)
class RuleInfo:
    priority: int
    table: int
    protocol: int
    src: Prefix | None
    dst: Prefix | None
    iifname: str | None
    ip_proto: int | None
    action: int


def parse_rule(body: bytes | memoryview) -> RuleInfo:
    _family, dst_len, src_len, _tos, table, _r1, _r2, action, _flags = _FIB_RULE_HDR.unpack_from(
        body, 0
    )
    attrs = parse_attrs(body, _FIB_RULE_HDR.size)

    def u32(kind: int, default: int) -> int:
        raw = attrs.get(kind)
        return _U32.unpack(raw)[0] if raw else default

    src = attrs.get(FRA_SRC)
    dst = attrs.get(FRA_DST)
    iif = attrs.get(FRA_IIFNAME)
    proto = attrs.get(FRA_IP_PROTO)
    return RuleInfo(
        priority=u32(FRA_PRIORITY, 0),
        table=u32(FRA_TABLE, table),
        protocol=attrs[FRA_PROTOCOL][0] if FRA_PROTOCOL in attrs else 0,
        src=Prefix(src.ljust(16, b"\0"), src_len) if src else None,
        dst=Prefix(dst.ljust(16, b"\0"), dst_len) if dst else None,
        iifname=iif.rstrip(b"\0").decode() if iif else None,
        ip_proto=proto[0] if proto else None,
        action=action,
    )


@dataclass(frozen=True, slots=True)
class NexthopInfo:
    nh_id: int
    protocol: int
    oif: int | None
    encap_type: int | None
    encap: bytes | None


def parse_nexthop(body: bytes | memoryview) -> NexthopInfo:
    _family, _scope, protocol, _resvd, _flags = _NHMSG.unpack_from(body, 0)
    attrs = parse_attrs(body, _NHMSG.size)
    oif = attrs.get(NHA_OIF)
    et = attrs.get(NHA_ENCAP_TYPE)
    return NexthopInfo(
        _U32.unpack(attrs[NHA_ID])[0],
        protocol,
        _U32.unpack(oif)[0] if oif else None,
        struct.unpack("=H", et)[0] if et else None,
        attrs.get(NHA_ENCAP),
    )


@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    kind: str | None
    flags: int


def parse_link(body: bytes | memoryview) -> LinkInfo:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body, 0)
    attrs = parse_attrs(body, _IFINFOMSG.size)
    kind = None
    if IFLA_LINKINFO in attrs:
        raw = parse_attrs(attrs[IFLA_LINKINFO]).get(IFLA_INFO_KIND)
        if raw:
            kind = raw.rstrip(b"\0").decode()
    name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
    return LinkInfo(index, name, kind, flags)


def parse_netconf_forwarding(body: bytes | memoryview) -> int | None:
    raw = parse_attrs(body, 4).get(NETCONFA_FORWARDING)
    return struct.unpack("=i", raw)[0] if raw else None
