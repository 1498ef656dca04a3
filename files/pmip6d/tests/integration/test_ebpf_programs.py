"""The ebpf backend's decapsulation program in the real kernel: verifier and ``BPF_PROG_TEST_RUN``.

The kernel runs the loaded program on crafted frames and hands back its
verdict and the packet as the program left it; no namespace, no traffic. The
encapsulation program is checked on the wire instead (test_dataplane_netns),
because the kernel's test-run has no route for ``bpf_lwt_push_encap``; so are
frames shorter than an IPv6 header, which the test-run refuses to build.
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.dataplane import ebpf_sys
from pmip6d.dataplane.ebpf_programs import (
    STATS,
    TC_ACT_OK,
    TC_ACT_SHOT,
    decap_program,
    encap_program,
)

LOCAL = socket.inet_pton(socket.AF_INET6, "2001:db8:c::1")
PEER = socket.inet_pton(socket.AF_INET6, "2001:db8:c::11")
STRANGER = socket.inet_pton(socket.AF_INET6, "2001:db8:c::99")
MN = socket.inet_pton(socket.AF_INET6, "2001:db8:100:1::2")
CN = socket.inet_pton(socket.AF_INET6, "2001:db8:e::2")
ETH_IPV6 = b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd"
ETH_IPV4 = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def ipv6(src: bytes, dst: bytes, next_header: int, payload: bytes, word0: int = 6 << 28) -> bytes:
    return struct.pack("!IHBB", word0, len(payload), next_header, 64) + src + dst + payload


INNER = ipv6(MN, CN, 17, struct.pack("!HHHH", 4000, 7, 12, 0) + b"data", word0=0x6B812345)


class Loaded:
    def __init__(self) -> None:
        self.stats = ebpf_sys.map_create(
            ebpf_sys.MAP_TYPE_PERCPU_ARRAY, 4, 8, len(STATS), "t_stats"
        )
        self.peers = ebpf_sys.map_create(ebpf_sys.MAP_TYPE_HASH, 16, 8, 16, "t_peers")
        ebpf_sys.map_update(self.peers, PEER, bytes(8))
        code = decap_program(LOCAL, self.peers, self.stats).assemble()
        self.decap = ebpf_sys.prog_load(ebpf_sys.PROG_TYPE_SCHED_CLS, code, "t_decap")
        self.cpus = ebpf_sys.possible_cpus()

    def counters(self) -> dict[str, int]:
        out = {}
        for index, name in enumerate(STATS):
            raw = ebpf_sys.map_lookup(self.stats, struct.pack("=I", index), 8 * self.cpus)
            out[name] = sum(struct.unpack(f"={self.cpus}Q", raw))
        return out

    def received_from(self, peer: bytes) -> int:
        return struct.unpack("=Q", ebpf_sys.map_lookup(self.peers, peer, 8))[0]

    def close(self) -> None:
        for fd in (self.decap, self.peers, self.stats):
            ebpf_sys.close(fd)


@pytest.fixture(scope="module")
def loaded(netns_ok):
    programs = Loaded()
    yield programs
    programs.close()


def test_a_known_peers_tunnel_packet_loses_exactly_its_outer_header(loaded):
    before = loaded.counters()
    run = ebpf_sys.prog_test_run(loaded.decap, ETH_IPV6 + ipv6(PEER, LOCAL, 41, INNER))
    assert run.retval == TC_ACT_OK
    assert run.data == ETH_IPV6 + INNER, "Ethernet header kept, inner packet intact"
    after = loaded.counters()
    assert after["decap_packets"] == before["decap_packets"] + 1
    assert loaded.received_from(PEER) >= 1


def test_a_peer_packet_too_short_to_hold_an_inner_header_is_dropped_and_counted(loaded):
    before = loaded.counters()
    run = ebpf_sys.prog_test_run(loaded.decap, ETH_IPV6 + ipv6(PEER, LOCAL, 41, INNER[:39]))
    assert run.retval == TC_ACT_SHOT
    assert loaded.counters()["decap_errors"] == before["decap_errors"] + 1


def test_an_unknown_source_is_dropped_and_counted(loaded):
    before = loaded.counters()
    run = ebpf_sys.prog_test_run(loaded.decap, ETH_IPV6 + ipv6(STRANGER, LOCAL, 41, INNER))
    assert run.retval == TC_ACT_SHOT
    after = loaded.counters()
    assert after["decap_unknown_source"] == before["decap_unknown_source"] + 1
    assert after["decap_packets"] == before["decap_packets"]


@pytest.mark.parametrize(
    "frame",
    [
        ETH_IPV6 + ipv6(PEER, STRANGER, 41, INNER),  # tunnel packet for another endpoint
        ETH_IPV6 + ipv6(PEER, LOCAL, 135, b"\x3b\x00\x05\x00" + bytes(12)),  # Mobility Header
        ETH_IPV6 + ipv6(PEER, LOCAL, 4, bytes(20)),  # IPv4-in-IPv6: not RFC 5213's
        ETH_IPV4 + bytes(40),  # not IPv6 at all
    ],
    ids=["other-destination", "mobility-header", "ipv4-in-ipv6", "ipv4"],
)
def test_everything_else_passes_untouched(loaded, frame):
    before = loaded.counters()
    run = ebpf_sys.prog_test_run(loaded.decap, frame)
    assert (run.retval, run.data) == (TC_ACT_OK, frame)
    assert loaded.counters() == before


@settings(max_examples=300, deadline=None)
@given(
    src=st.sampled_from([PEER, STRANGER]),
    dst=st.sampled_from([LOCAL, STRANGER]),
    next_header=st.sampled_from([41, 135, 17, 0, 255]),
    payload=st.binary(max_size=200),
)
def test_any_frame_gets_a_verdict_and_only_peer_tunnel_packets_change(
    loaded, src, dst, next_header, payload
):
    frame = ETH_IPV6 + ipv6(src, dst, next_header, payload)
    run = ebpf_sys.prog_test_run(loaded.decap, frame)
    ours = next_header == 41 and dst == LOCAL
    if ours and src == PEER and len(payload) >= 40:
        # stripped whatever the inside is: the kernel judges the inner packet as any other
        assert (run.retval, run.data) == (TC_ACT_OK, ETH_IPV6 + payload)
    elif ours:
        # a stranger's, or too short to hold an inner IPv6 header: dropped
        assert run.retval == TC_ACT_SHOT
    else:
        assert (run.retval, run.data) == (TC_ACT_OK, frame)


@settings(max_examples=50, deadline=None)
@given(local=st.binary(min_size=16, max_size=16), peer=st.binary(min_size=16, max_size=16))
def test_the_verifier_accepts_the_programs_for_any_addresses(loaded, local, peer):
    for prog_type, code in (
        (ebpf_sys.PROG_TYPE_LWT_XMIT, encap_program(local, peer, loaded.stats).assemble()),
        (ebpf_sys.PROG_TYPE_SCHED_CLS, decap_program(local, loaded.peers, loaded.stats).assemble()),
    ):
        ebpf_sys.close(ebpf_sys.prog_load(prog_type, code, "t_verify"))


def test_a_refused_program_comes_back_with_the_verifiers_reason(netns_ok):
    from pmip6d.dataplane.ebpf_asm import R0, R1, Program

    bad = Program().ldx(8, R0, R1, 4096).exit()  # reads far outside the context
    with pytest.raises(ebpf_sys.BpfError, match=r"verifier: .*invalid") as info:
        ebpf_sys.prog_load(ebpf_sys.PROG_TYPE_SCHED_CLS, bad.assemble(), "t_bad")
    assert info.value.log
