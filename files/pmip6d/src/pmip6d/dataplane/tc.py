"""Traffic-control netlink messages as bytes: the clsact qdisc and cls_bpf filters (pure).

What the ``ebpf`` backend needs of tc, and no more — the equivalent of::

    tc qdisc add dev ETH clsact
    tc filter add dev ETH ingress pref P protocol ipv6 handle 1 bpf da fd F name N
    tc filter del dev ETH ingress pref P protocol ipv6 handle 1 bpf
    tc qdisc del dev ETH clsact

Layouts (``include/uapi/linux/{rtnetlink,pkt_sched,pkt_cls}.h``)::

    tcmsg   u8 family, 3 pad, s32 ifindex, u32 handle, u32 parent, u32 info   20 bytes

A filter's ``info`` is ``priority << 16 | protocol`` (the EtherType in
network byte order), its ``parent`` the clsact ingress hook.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from . import rtnl
from .rtnl import attr_str, attr_u32, message, nested, parse_attrs

RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_GETQDISC = 38
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
RTM_GETTFILTER = 46

TCA_KIND = 1
TCA_OPTIONS = 2

TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_FLAG_ACT_DIRECT = 1

TC_H_CLSACT = 0xFFFFFFF1
CLSACT_HANDLE = 0xFFFF0000
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3
INGRESS = (TC_H_CLSACT & 0xFFFF0000) | TC_H_MIN_INGRESS
EGRESS = (TC_H_CLSACT & 0xFFFF0000) | TC_H_MIN_EGRESS

ETH_P_IPV6 = 0x86DD

_TCMSG = struct.Struct("=BxxxiIII")


def _tcmsg(ifindex: int, handle: int, parent: int, info: int = 0) -> bytes:
    return _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, parent, info)


def filter_info(priority: int, protocol: int = ETH_P_IPV6) -> int:
    if not 1 <= priority <= 0xFFFF:
        raise ValueError("filter priority must be 1..65535")
    return (priority << 16) | socket.htons(protocol)


# --- qdisc ------------------------------------------------------------------------------


def clsact_message(kind: int, ifindex: int) -> bytes:
    """``tc qdisc add|del dev <ifindex> clsact``; adding fails with EEXIST if one is there."""
    flags = rtnl.NEW_FLAGS if kind == RTM_NEWQDISC else rtnl.DEL_FLAGS
    body = _tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT) + attr_str(TCA_KIND, "clsact")
    return message(kind, flags, body)


def qdisc_dump_request() -> bytes:
    return message(RTM_GETQDISC, rtnl.DUMP_FLAGS, _tcmsg(0, 0, 0))


@dataclass(frozen=True, slots=True)
class QdiscInfo:
    ifindex: int
    handle: int
    parent: int
    kind: str


def parse_qdisc(body: bytes | memoryview) -> QdiscInfo:
    _family, ifindex, handle, parent, _info = _TCMSG.unpack_from(body, 0)
    kind = parse_attrs(body, _TCMSG.size).get(TCA_KIND, b"").rstrip(b"\0").decode()
    return QdiscInfo(ifindex, handle, parent, kind)


# --- cls_bpf filters -------------------------------------------------------------------


def bpf_filter_message(
    ifindex: int, priority: int, prog_fd: int, name: str, *, parent: int = INGRESS, handle: int = 1
) -> bytes:
    """``tc filter add dev <ifindex> ingress pref <priority> protocol ipv6 bpf da fd <prog_fd>``.

    Exclusive: an existing filter at the same priority and handle is an error
    (EEXIST), never silently replaced.
    """
    body = _tcmsg(ifindex, handle, parent, filter_info(priority))
    body += attr_str(TCA_KIND, "bpf")
    body += nested(
        TCA_OPTIONS,
        attr_u32(TCA_BPF_FD, prog_fd),
        attr_str(TCA_BPF_NAME, name),
        attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT),
    )
    return message(RTM_NEWTFILTER, rtnl.NEW_FLAGS, body)


def filter_del_message(
    ifindex: int, priority: int, protocol: int = ETH_P_IPV6, *, parent: int = INGRESS
) -> bytes:
    """Delete every filter at ``priority`` of ``parent`` (ours: one priority is one filter)."""
    body = _tcmsg(ifindex, 0, parent, filter_info(priority, protocol))
    return message(RTM_DELTFILTER, rtnl.DEL_FLAGS, body)


def filter_dump_request(ifindex: int, parent: int = INGRESS) -> bytes:
    return message(RTM_GETTFILTER, rtnl.DUMP_FLAGS, _tcmsg(ifindex, 0, parent))


@dataclass(frozen=True, slots=True)
class FilterInfo:
    ifindex: int
    parent: int
    priority: int
    protocol: int
    handle: int
    kind: str
    name: str | None
    """cls_bpf: the name given at attach time (how we recognize ours after a crash)."""


def parse_filter(body: bytes | memoryview) -> FilterInfo:
    _family, ifindex, handle, parent, info = _TCMSG.unpack_from(body, 0)
    attrs = parse_attrs(body, _TCMSG.size)
    kind = attrs.get(TCA_KIND, b"").rstrip(b"\0").decode()
    name = None
    if kind == "bpf" and TCA_OPTIONS in attrs:
        options = parse_attrs(attrs[TCA_OPTIONS])
        if TCA_BPF_NAME in options:
            name = options[TCA_BPF_NAME].rstrip(b"\0").decode(errors="replace")
    return FilterInfo(ifindex, parent, info >> 16, socket.ntohs(info & 0xFFFF), handle, kind, name)
