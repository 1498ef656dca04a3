"""The two eBPF programs of the ``ebpf`` tunnel backend, as instruction lists (pure).

**Encapsulation** (program type ``lwt_xmit``, one per tunnel peer, attached to
the peer's nexthop object with ``encap bpf xmit ... headroom 40``). For every
packet routed through the nexthop it builds the RFC 5213 / RFC 2473 outer
header on the stack and pushes it with ``bpf_lwt_push_encap(BPF_LWT_ENCAP_IP)``,
then returns ``BPF_LWT_REROUTE`` so the kernel routes the outer packet to the
peer::

    word 0   = the inner packet's word 0: version 6, traffic class and flow
               label copied (as ip6tnl's USE_ORIG_TCLASS/FLOWLABEL and seg6 do)
    payload  = the inner packet's length (0 for a > 64 KiB GSO packet: the
               segmentation rewrites it per segment)
    next hdr = 41 (IPv6), no extension header
    hop limit= ``hop_limit`` (RFC 2473 §6.3: the entry point's own default, 64,
               as ip6tnl writes it)
    source   = the local tunnel address (LMAA / Proxy-CoA), destination = the peer

The addresses are immediates of the program, so it needs no map lookup per
packet; one program per peer costs a few hundred bytes of kernel memory.

**Decapsulation** (``sched_cls``, direct action, clsact ingress of the core
interface, one per data plane). It passes everything untouched but IPv6
packets whose next header is 41 and whose destination is the local tunnel
address. Of those, a packet whose outer source is a peer in the *peers* map
loses its outer header (``bpf_skb_adjust_room(-40, BPF_ADJ_ROOM_MAC)``) and
goes on to be routed by its inner header; any other source is dropped and
counted — the tunnel endpoint is not an open relay for whoever can reach it.
The peers map (hash, key = the peer's 16 address bytes, value = a packet
counter) is kept current by the backend as tunnels come and go.

Both programs count into a per-CPU array (:data:`STATS`) that the agent sums
for ``pmipctl counters``.
"""

from __future__ import annotations

import itertools
import socket
import struct
import sys

from .ebpf_asm import FP, R0, R1, R2, R3, R4, R5, R6, Program

# helpers (enum bpf_func_id)
MAP_LOOKUP_ELEM = 1
SKB_LOAD_BYTES = 26
SKB_ADJUST_ROOM = 50
SKB_LOAD_BYTES_RELATIVE = 68
LWT_PUSH_ENCAP = 73

# struct __sk_buff offsets
SKB_LEN = 0
SKB_PROTOCOL = 16

BPF_LWT_ENCAP_IP = 2
BPF_OK, BPF_DROP, BPF_LWT_REROUTE = 0, 2, 128
TC_ACT_OK, TC_ACT_SHOT = 0, 2
BPF_ADJ_ROOM_MAC = 1
BPF_HDR_START_NET = 1

ETH_P_IPV6 = 0x86DD
IPPROTO_IPV6 = 41
IPV6_HEADER = 40

STATS = (
    "encap_packets",
    "encap_errors",
    "decap_packets",
    "decap_unknown_source",
    "decap_errors",
)
"""Index → name of the per-CPU counters both programs share."""
STAT = {name: index for index, name in enumerate(STATS)}

PEER_KEY_SIZE = 16
PEER_VALUE_SIZE = 8

# Stack layout: the 40-octet header buffer at [fp-40, fp), a map key below it.
_HDR = -IPV6_HEADER
_KEY = _HDR - 8

_labels = itertools.count()


def _count(p: Program, stats_fd: int, name: str) -> None:
    """``stats[name]++`` on this CPU (a missing element, which cannot happen, is skipped)."""
    done = f"counted{next(_labels)}"
    p.st_imm(4, FP, _KEY, STAT[name])
    p.ld_map_fd(R1, stats_fd)
    p.mov(R2, FP).add_imm(R2, _KEY)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm("==", R0, 0, done)
    p.ldx(8, R1, R0, 0).add_imm(R1, 1).stx(8, R0, 0, R1)
    p.label(done)


def encap_program(local: bytes, peer: bytes, stats_fd: int, hop_limit: int = 64) -> Program:
    """``lwt_xmit``: wrap the packet in an outer IPv6 header ``local → peer``, next header 41."""
    return _encap(local, peer, stats_fd, hop_limit)[0]


def _encap(local: bytes, peer: bytes, stats_fd: int, hop_limit: int) -> tuple[Program, int]:
    """The program, and the index of the first of the four stores of the peer's address."""
    if len(local) != 16 or len(peer) != 16:
        raise ValueError("addresses are 16 bytes")
    if not 1 <= hop_limit <= 255:
        raise ValueError("hop limit must be 1..255")
    p = Program()
    p.mov(R6, R1)  # the skb, kept across helper calls
    # Outer word 0 = inner word 0 (version, traffic class, flow label).
    p.mov(R1, R6).mov_imm(R2, 0).mov(R3, FP).add_imm(R3, _HDR).mov_imm(R4, 4)
    p.call(SKB_LOAD_BYTES)
    p.jmp_imm("!=", R0, 0, "error")
    p.ldx(1, R2, FP, _HDR).rsh_imm(R2, 4)
    p.jmp_imm("!=", R2, 6, "error")  # routes into the tunnel are IPv6 routes; be sure
    # Payload length = the whole inner packet.
    p.ldx(4, R2, R6, SKB_LEN)
    p.jmp_imm("<=", R2, 0xFFFF, "length_ok")
    p.mov_imm(R2, 0)
    p.label("length_ok")
    p.to_be(R2, 16).stx(2, FP, _HDR + 4, R2)
    p.st_imm(1, FP, _HDR + 6, IPPROTO_IPV6)
    p.st_imm(1, FP, _HDR + 7, hop_limit)
    p.store_bytes(FP, _HDR + 8, local)
    peer_at = len(p)
    p.store_bytes(FP, _HDR + 24, peer)  # four 4-byte stores: EncapTemplate patches them
    p.mov(R1, R6).mov_imm(R2, BPF_LWT_ENCAP_IP).mov(R3, FP).add_imm(R3, _HDR)
    p.mov_imm(R4, IPV6_HEADER)
    p.call(LWT_PUSH_ENCAP)
    p.jmp_imm("!=", R0, 0, "error")
    _count(p, stats_fd, "encap_packets")
    p.ret(BPF_LWT_REROUTE)
    p.label("error")
    _count(p, stats_fd, "encap_errors")
    p.ret(BPF_DROP)
    return p, peer_at


class EncapTemplate:
    """The encapsulation program of one data plane, assembled once; per peer only the
    four immediates of the peer's address differ. Building a dynamic tunnel during a
    handover then costs a byte patch instead of an assembly (about 0.3 ms in Python)."""

    def __init__(self, local: bytes, stats_fd: int, hop_limit: int = 64) -> None:
        program, peer_at = _encap(local, bytes(16), stats_fd, hop_limit)
        self.code = program.assemble()
        # the imm field is the last 4 bytes of each 8-byte instruction
        self.offsets = [(peer_at + i) * 8 + 4 for i in range(4)]

    def render(self, peer: bytes) -> bytes:
        if len(peer) != 16:
            raise ValueError("addresses are 16 bytes")
        code = bytearray(self.code)
        for i, offset in enumerate(self.offsets):
            (word,) = struct.unpack_from("=i", peer, 4 * i)  # the bytes, as the store writes them
            struct.pack_into("=i", code, offset, word)
        return bytes(code)


def _u64(raw: bytes) -> int:
    """8 address bytes as the value a 64-bit load from the stack yields on this host."""
    return int.from_bytes(raw, sys.byteorder)


def decap_program(local: bytes, peers_fd: int, stats_fd: int) -> Program:
    """``sched_cls``: strip the outer header of tunnel packets to ``local`` from known peers."""
    if len(local) != 16:
        raise ValueError("the local address is 16 bytes")
    p = Program()
    p.mov(R6, R1)
    # __sk_buff.protocol holds the big-endian EtherType in a u32.
    p.ldx(4, R2, R6, SKB_PROTOCOL)
    p.jmp_imm("!=", R2, socket.htons(ETH_P_IPV6), "pass")
    # The outer header, wherever the link layer ends (Ethernet, or none on L3 devices).
    p.mov(R1, R6).mov_imm(R2, 0).mov(R3, FP).add_imm(R3, _HDR).mov_imm(R4, IPV6_HEADER)
    p.mov_imm(R5, BPF_HDR_START_NET)
    p.call(SKB_LOAD_BYTES_RELATIVE)
    p.jmp_imm("!=", R0, 0, "pass")  # shorter than an IPv6 header: not ours to judge
    p.ldx(1, R2, FP, _HDR + 6)
    p.jmp_imm("!=", R2, IPPROTO_IPV6, "pass")  # Mobility Header (135) and all else: untouched
    for half in (0, 8):  # destination == local, as two 64-bit compares
        p.ldx(8, R2, FP, _HDR + 24 + half)
        p.ld_imm64(R3, _u64(local[half : half + 8]))
        p.jmp_reg("!=", R2, R3, "pass")
    p.ld_map_fd(R1, peers_fd)
    p.mov(R2, FP).add_imm(R2, _HDR + 8)  # key: the outer source
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm("==", R0, 0, "unknown")
    p.mov_imm(R1, 1).atomic_add(8, R0, 0, R1)  # the peer's packet count
    p.mov(R1, R6).mov_imm(R2, -IPV6_HEADER).mov_imm(R3, BPF_ADJ_ROOM_MAC).mov_imm(R4, 0)
    p.call(SKB_ADJUST_ROOM)
    p.jmp_imm("!=", R0, 0, "error")
    _count(p, stats_fd, "decap_packets")
    p.ret(TC_ACT_OK)
    p.label("unknown")
    _count(p, stats_fd, "decap_unknown_source")
    p.ret(TC_ACT_SHOT)
    p.label("error")
    _count(p, stats_fd, "decap_errors")
    p.ret(TC_ACT_SHOT)
    p.label("pass")
    p.ret(TC_ACT_OK)
    return p


def probe_program() -> Program:
    """The smallest valid program (``return 0``): does the kernel accept a program type?"""
    return Program().ret(0)
