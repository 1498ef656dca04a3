"""The kernel's "SEG6" generic-netlink family: the seg6 tunnel source address.

Why: seg6 encapsulation picks the outer source address like any locally sent
packet (source address selection toward the outer destination) unless the
namespace has a *tunnel source* set (``ip sr tunsrc set ADDR``). RFC 5213
tunnels must be sourced from the LMAA / Proxy-CoA exactly — an ip6tnl peer
only accepts packets whose outer source is its configured remote — so the
seg6 backend sets it. Kernels up to at least 6.18 have no per-route source
(``SEG6_IPTUNNEL_SRC`` is ignored), so this is namespace-wide state; the data
plane restores it on close.

Pure encoding here; :mod:`.backend` does the I/O.
"""

from __future__ import annotations

import socket
import struct

from . import rtnl

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

SEG6_GENL_NAME = "SEG6"
SEG6_GENL_VERSION = 1
SEG6_ATTR_DST = 1
SEG6_CMD_SET_TUNSRC = 3
SEG6_CMD_GET_TUNSRC = 4

_GENLMSGHDR = struct.Struct("=BBH")


def _genl(family: int, cmd: int, version: int, attrs: bytes, flags: int) -> bytes:
    return rtnl.message(family, flags, _GENLMSGHDR.pack(cmd, version, 0) + attrs)


def family_request(name: str = SEG6_GENL_NAME) -> bytes:
    return _genl(
        GENL_ID_CTRL,
        CTRL_CMD_GETFAMILY,
        1,
        rtnl.attr_str(CTRL_ATTR_FAMILY_NAME, name),
        rtnl.NLM_F_REQUEST,
    )


def parse_family_id(body: bytes | memoryview) -> int:
    raw = rtnl.parse_attrs(body, _GENLMSGHDR.size)[CTRL_ATTR_FAMILY_ID]
    return struct.unpack("=H", raw)[0]


def set_tunsrc(family: int, address: str) -> bytes:
    return _genl(
        family,
        SEG6_CMD_SET_TUNSRC,
        SEG6_GENL_VERSION,
        rtnl.attr(SEG6_ATTR_DST, rtnl.packed(address)),
        rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK,
    )


def get_tunsrc(family: int) -> bytes:
    return _genl(family, SEG6_CMD_GET_TUNSRC, SEG6_GENL_VERSION, b"", rtnl.NLM_F_REQUEST)


def parse_tunsrc(body: bytes | memoryview) -> str:
    raw = rtnl.parse_attrs(body, _GENLMSGHDR.size).get(SEG6_ATTR_DST, bytes(16))
    return socket.inet_ntop(socket.AF_INET6, raw)
