"""The kernel's ESP (pmip6d.security.xfrm) on a kernel that has esp6 and rfc4106.

Runs only in the stock-kernel stage of scripts/test.sh (Debian 12's kernel
under QEMU): the lab machines' kernel has no esp6, so this directory is left
out of the host run (testpaths), and here a kernel without ESP fails rather
than skips.

Two namespaces on one veth (``xk<pid><n>{a,b}``): a = 2001:db8:c::1 (the LMA's
side, always the kernel's ESP), b = 2001:db8:c::11 (the MAG's side, the
kernel's ESP or the agent's own, pmip6d.security.esp, on a raw ESP socket).
The wire is watched with an AF_PACKET socket on a's end of the veth.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pyroute2 import netns as pyroute2_netns

from pmip6d.security.esp import InboundSa, OutboundSa, SecurityAssociation
from pmip6d.security.xfrm import KernelEsp, kernel_has_esp, parse_xfrm_stat
from pmip6d.wire.codec import checksum, decode, encode, with_checksum
from pmip6d.wire.messages import ProxyBindingAck, ProxyBindingUpdate

pytestmark = pytest.mark.netns

A = "2001:db8:c::1"
B = "2001:db8:c::11"
IPPROTO_ESP = 50
IPPROTO_MH = 135
IPV6_CHECKSUM = 7
ETH_P_ALL = 0x0003  # a tap on one protocol sees only received frames, not sent ones
ETH_P_IPV6 = 0x86DD
_counter = itertools.count()


@dataclass(frozen=True)
class Key:
    spi: int
    key_bytes: bytes


@dataclass(frozen=True)
class Sas:
    algorithm: str
    outbound: Key
    inbound: Key

    def mirrored(self) -> Sas:
        return Sas(self.algorithm, self.inbound, self.outbound)


# a's view: outbound a->b, inbound b->a. b's view is the mirror.
SAS = Sas("aes256-gcm16", Key(0x1001, os.urandom(36)), Key(0x2001, os.urandom(36)))


def ip(*args: str, check: bool = True) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check).stdout


@dataclass
class Pair:
    a: str
    b: str

    def stat(self, ns: str) -> dict[str, int]:
        out = subprocess.run(
            ["ip", "netns", "exec", ns, "cat", "/proc/net/xfrm_stat"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return parse_xfrm_stat(out)

    def counts(self, ns: str) -> tuple[str, str]:
        return ip("-n", ns, "xfrm", "state", "count").strip(), ip(
            "-n", ns, "xfrm", "policy", "count"
        ).strip()


@pytest.fixture
def pair() -> Iterator[Pair]:
    assert os.geteuid() == 0, "these tests create network namespaces: run them as root"
    base = f"xk{os.getpid()}{next(_counter)}"
    p = Pair(base + "a", base + "b")
    try:
        for ns in (p.a, p.b):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", p.a, "link", "add", "v0", "type", "veth", "peer", "name", "v0", "netns", p.b)
        for ns, addr in ((p.a, A), (p.b, B)):
            ip("-n", ns, "addr", "add", f"{addr}/64", "dev", "v0", "nodad")
            ip("-n", ns, "link", "set", "v0", "up")
        yield p
    finally:
        for ns in (p.a, p.b):
            ip("netns", "del", ns, check=False)


def mh_socket(ns: str, local: str) -> socket.socket:
    sock = pyroute2_netns.create_socket(ns, socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH, flags=0)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 4)  # the kernel fills and checks it
    sock.bind((local, 0))
    return sock


def esp_socket(ns: str, local: str) -> socket.socket:
    sock = pyroute2_netns.create_socket(ns, socket.AF_INET6, socket.SOCK_RAW, IPPROTO_ESP, flags=0)
    sock.bind((local, 0))
    return sock


def wire_tap(ns: str) -> socket.socket:
    sock = pyroute2_netns.create_socket(
        ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL), flags=0
    )
    sock.bind(("v0", ETH_P_ALL))
    return sock


def receive(sock: socket.socket, wait: float = 10.0) -> bytes:
    """One datagram; the wait only bounds a failure (the packet is expected)."""
    ready, _w, _x = select.select([sock], [], [], wait)
    assert ready, "nothing arrived"
    return sock.recv(65535)


def frames(tap: socket.socket) -> list[tuple[str, str, int]]:
    """(src, dst, next header) of each IPv6 frame waiting on the tap."""
    out = []
    while select.select([tap], [], [], 0)[0]:
        frame = tap.recv(65535)
        if int.from_bytes(frame[12:14], "big") != ETH_P_IPV6:
            continue
        hdr = frame[14:54]
        out.append(
            (
                socket.inet_ntop(socket.AF_INET6, hdr[8:24]),
                socket.inet_ntop(socket.AF_INET6, hdr[24:40]),
                hdr[6],
            )
        )
    return out


def agent_sas(sas: Sas) -> tuple[OutboundSa, InboundSa]:
    """The agent's own ESP with ``sas`` (its own view: outbound is what it sends)."""
    out = SecurityAssociation(sas.outbound.spi, sas.outbound.key_bytes, sas.algorithm)
    inn = SecurityAssociation(sas.inbound.spi, sas.inbound.key_bytes, sas.algorithm)
    return OutboundSa(out), InboundSa(inn)


PBU = ProxyBindingUpdate(7, 150, mn_id=b"mn1@lab")
PBA = ProxyBindingAck(0, 7, 150, mn_id=b"mn1@lab")


def test_this_kernel_has_esp_and_the_probe_leaves_nothing(pair):
    assert kernel_has_esp(pair.a), "the stock kernel should take an rfc4106(gcm(aes)) SA"
    assert pair.counts(pair.a) == ("SAD count 0", "SPD IN  0 OUT 0 FWD 0")


def test_kernel_to_kernel_mh_arrives_decrypted_and_is_esp_on_the_wire(pair):
    a = KernelEsp(A, [(B, SAS)], replay_window=64, netns=pair.a)
    b = KernelEsp(B, [(A, SAS.mirrored())], replay_window=64, netns=pair.b)
    a.install()
    b.install()
    tap = wire_tap(pair.a)
    rx_a, tx_b = mh_socket(pair.a, A), mh_socket(pair.b, B)
    try:
        tx_b.sendto(encode(PBU), (A, 0))
        assert decode(receive(rx_a)) == PBU
        rx_a.sendto(encode(PBA), (B, 0))
        assert decode(receive(tx_b)) == PBA
        seen = frames(tap)
        assert (B, A, IPPROTO_ESP) in seen and (A, B, IPPROTO_ESP) in seen, seen
        assert not [f for f in seen if f[2] == IPPROTO_MH], f"MH in clear on the wire: {seen}"
    finally:
        for s in (tap, rx_a, tx_b):
            s.close()


def test_wire_interop_kernel_esp_with_the_agents_own_esp(pair):
    """a: the kernel's ESP; b: pmip6d.security.esp on a raw ESP socket. Both ways decode."""
    KernelEsp(A, [(B, SAS)], netns=pair.a).install()
    seal, opener = agent_sas(SAS.mirrored())
    rx_a, esp_b = mh_socket(pair.a, A), esp_socket(pair.b, B)
    try:
        # PBU b -> a: the agent puts the pseudo-header checksum in itself (no IPV6_CHECKSUM
        # inside ESP); the kernel decrypts, checks it and hands the MH to a's raw socket.
        esp_b.sendto(seal.seal(IPPROTO_MH, with_checksum(B, A, encode(PBU))), (A, 0))
        assert decode(receive(rx_a)) == PBU
        # PBA a -> b: the kernel encrypts, the agent opens it.
        rx_a.sendto(encode(PBA), (B, 0))
        next_header, mh = opener.open(receive(esp_b))
        assert next_header == IPPROTO_MH
        assert int.from_bytes(mh[4:6], "big") == checksum(A, B, mh)
        assert decode(mh) == PBA
    finally:
        rx_a.close()
        esp_b.close()


def test_unprotected_forged_and_replayed_mh_are_dropped_and_counted(pair):
    KernelEsp(A, [(B, SAS)], netns=pair.a).install()
    seal, _opener = agent_sas(SAS.mirrored())
    wrong_key = Key(SAS.inbound.spi, os.urandom(36))
    forger, _unused = agent_sas(Sas(SAS.algorithm, wrong_key, SAS.outbound))
    forger.sequence = 1000  # ahead of the window: the ICV, not the replay check, must refuse it
    unknown_spi = Key(0x3003, SAS.inbound.key_bytes)
    stranger, _unused = agent_sas(Sas(SAS.algorithm, unknown_spi, SAS.outbound))
    rx_a, mh_b, esp_b = mh_socket(pair.a, A), mh_socket(pair.b, B), esp_socket(pair.b, B)
    before = pair.stat(pair.a)
    try:
        first = seal.seal(IPPROTO_MH, with_checksum(B, A, encode(PBU)))
        esp_b.sendto(first, (A, 0))
        assert decode(receive(rx_a)) == PBU
        # Each bad one is followed by a good one (a fence): the same path, in order,
        # so when the fence arrives the bad one has been dealt with, and it is
        # the next thing read only if it was dropped.
        bad = {
            "unprotected": lambda: mh_b.sendto(encode(PBU), (A, 0)),
            "replay": lambda: esp_b.sendto(first, (A, 0)),
            "forged": lambda: esp_b.sendto(
                forger.seal(IPPROTO_MH, with_checksum(B, A, encode(PBU))), (A, 0)
            ),
            "unknown SPI": lambda: esp_b.sendto(
                stranger.seal(IPPROTO_MH, with_checksum(B, A, encode(PBU))), (A, 0)
            ),
        }
        for seq, (what, send_bad) in enumerate(bad.items(), start=8):
            send_bad()
            fence = ProxyBindingUpdate(seq, 150, mn_id=b"mn1@lab")
            esp_b.sendto(seal.seal(IPPROTO_MH, with_checksum(B, A, encode(fence))), (A, 0))
            assert decode(receive(rx_a)) == fence, f"the {what} MH reached the MH socket"
    finally:
        for s in (rx_a, mh_b, esp_b):
            s.close()
    after = pair.stat(pair.a)
    grew = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert grew.get("XfrmInTmplMismatch") == 1, grew  # unprotected, refused by the policy
    assert grew.get("XfrmInStateSeqError") == 1, grew  # the replay
    assert grew.get("XfrmInStateProtoError") == 1, grew  # the ICV failure
    assert grew.get("XfrmInNoStates") == 1, grew  # the unknown SPI
    # What pmipctl shows: read_counters() run inside a's namespace.
    script = (
        "import json; from pmip6d.security import xfrm; print(json.dumps(xfrm.read_counters()))"
    )
    shown = subprocess.run(
        ["ip", "netns", "exec", pair.a, sys.executable, "-c", script],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(shown) == {
        "esp_unprotected_dropped": after["XfrmInTmplMismatch"],
        "esp_auth_failed": after["XfrmInStateProtoError"],
        "esp_replayed": after["XfrmInStateSeqError"],
        "esp_unknown_spi": after["XfrmInNoStates"],
    }


def test_install_is_idempotent_and_remove_leaves_nothing(pair):
    esp = KernelEsp(A, [(B, SAS)], replay_window=32, netns=pair.a)
    esp.install()
    esp.install()
    assert pair.counts(pair.a) == ("SAD count 2", "SPD IN  1 OUT 1 FWD 0")
    states = ip("-n", pair.a, "xfrm", "state")
    assert "rfc4106(gcm(aes))" in states and "128" in states and "replay-window 32" in states
    policies = ip("-n", pair.a, "xfrm", "policy")
    assert policies.count("proto mobility-header") == 2 and policies.count("mode transport") == 2
    assert "level use" not in policies  # level required is ip's default rendering: no "level"
    # A new run with a new key and window replaces the old SAs in place.
    rekeyed = Sas(SAS.algorithm, Key(SAS.outbound.spi, os.urandom(36)), SAS.inbound)
    KernelEsp(A, [(B, rekeyed)], replay_window=64, netns=pair.a).install()
    assert pair.counts(pair.a) == ("SAD count 2", "SPD IN  1 OUT 1 FWD 0")
    states = ip("-n", pair.a, "xfrm", "state")
    # Windows over 32 packets go in the ESN attribute, shown as "replay_window".
    assert "replay_window 64" in states and rekeyed.outbound.key_bytes.hex() in states
    assert SAS.outbound.key_bytes.hex() not in states
    esp.remove()
    assert pair.counts(pair.a) == ("SAD count 0", "SPD IN  0 OUT 0 FWD 0")
    esp.remove()  # already gone: fine
    assert pair.counts(pair.a) == ("SAD count 0", "SPD IN  0 OUT 0 FWD 0")
