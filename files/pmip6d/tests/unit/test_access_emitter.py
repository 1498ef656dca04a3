"""The asyncio RA emitter over a stand-in packet socket (no root needed).

The stand-in is a Unix datagram socket pair: what the emitter sends arrives on
the "wire" end, frames written to the wire end are what the emitter receives.
The real AF_PACKET path is covered by the namespace tests.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from pmip6d.access.emitter import RaEmitter, attach_rs_filter
from pmip6d.access.ra import RaSettings
from pmip6d.actions import MobileNodeBinding, Send, ServeMobileNode, StopServing
from pmip6d.clock import SystemClock
from pmip6d.wire.prefix import Prefix

MAG_MAC = "02:50:4d:41:47:01"
MAC1 = bytes.fromhex("020000000101")
MAC2 = bytes.fromhex("020000000202")
P1 = Prefix.parse("2001:db8:1::/64")
P2 = Prefix.parse("2001:db8:2::/64")
PACKET_HOST, PACKET_OUTGOING = 0, 4


class FakePacketSocket:
    def __init__(self, mac: bytes = bytes.fromhex("02aabbccddee")) -> None:
        self.mine, self.wire = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.mine.setblocking(False)
        self.wire.setblocking(False)
        self.mac = mac
        self.pkttype = PACKET_HOST
        self.fail_sends = False
        self.closed = False

    def fileno(self) -> int:
        return self.mine.fileno()

    def send(self, data: bytes) -> int:
        if self.fail_sends:
            raise OSError(105, "No buffer space available")
        return self.mine.send(data)

    def recvfrom(self, size: int):
        data = self.mine.recv(size)
        return data, ("acc0", 0x86DD, self.pkttype, 1, b"\x02\0\0\0\x01\x01")

    def getsockname(self):
        return ("acc0", 0x86DD, 0, 1, self.mac)

    def close(self) -> None:
        self.closed = True
        self.mine.close()

    # test side
    def sent(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.wire.recv(4096))
            except BlockingIOError:
                return out

    def inject(self, frame: bytes) -> None:
        self.wire.send(frame)


def binding(mac: bytes = MAC1, *prefixes: Prefix, link_local: str | None = "fe80::1"):
    return MobileNodeBinding(
        mn_id=b"mn@lab.example",
        mac=mac,
        prefixes=prefixes or (P1,),
        lma="2001:db8:ffff::1",
        link_local=socket.inet_pton(socket.AF_INET6, link_local) if link_local else None,
        lifetime=600,
        interface="acc0",
    )


def rs_frame(mac: str = "02:00:00:00:01:01", src: str = "fe80::200:ff:fe00:101") -> bytes:
    return bytes(
        Ether(src=mac, dst="33:33:00:00:00:02")
        / IPv6(src=src, dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )


FAST = RaSettings(
    max_rtr_adv_interval=60, initial_ras=3, initial_ra_interval=0.05, min_delay_between_ras=3
)


# One RA at serve() and none after for a minute: a test that asserts nothing was
# sent must not catch the initial burst's next RA on a slow machine.
QUIET = RaSettings(
    max_rtr_adv_interval=60, initial_ras=1, initial_ra_interval=0.05, min_delay_between_ras=3
)


async def settle(seconds: float = 0.02) -> None:
    await asyncio.sleep(seconds)


def run(coro):
    return asyncio.run(coro)


def test_serve_sends_the_ra_before_returning():
    async def main():
        sock = FakePacketSocket()
        sent = []
        emitter = RaEmitter(
            "acc0",
            FAST,
            mac=MAG_MAC,
            link_local="fe80::1",
            on_sent=lambda s, t: sent.append((s, t)),
        )
        emitter.start(sock=sock)
        before = SystemClock.monotonic()
        emitter.serve(binding(MAC1, P1))
        # No await in between: the frame is already on the wire.
        frames = sock.sent()
        assert len(frames) == 1
        assert len(sent) == 1
        assert sent[0][0].reason == "serve"
        assert before <= sent[0][1] <= SystemClock.monotonic()
        pkt = Ether(frames[0])
        assert pkt.dst == "02:00:00:00:01:01"
        assert pkt.src == MAG_MAC
        assert pkt[IPv6].src == "fe80::1"
        assert pkt[IPv6].dst == "ff02::1"
        assert pkt[IPv6].hlim == 255
        assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == MAG_MAC
        assert pkt[ICMPv6NDOptPrefixInfo].prefix == "2001:db8:1::"
        assert emitter.counters["ra_sent"] == 1
        emitter.close()
        assert sock.closed

    run(main())


def test_burst_arrives_on_the_timer_then_stop_silences():
    async def main():
        sock = FakePacketSocket()
        reasons = []
        emitter = RaEmitter(
            "acc0", FAST, link_local="fe80::1", on_sent=lambda s, t: reasons.append(s.reason)
        )
        emitter.start(sock=sock)
        emitter.serve(binding(MAC1, P1))
        emitter.serve(binding(MAC2, P2))
        await settle(0.2)
        frames = sock.sent()
        assert reasons == ["serve", "serve"] + ["initial"] * 4
        assert {Ether(f).dst for f in frames} == {"02:00:00:00:01:01", "02:00:00:00:02:02"}
        for f in frames:
            pkt = Ether(f)
            want = "2001:db8:1::" if pkt.dst.endswith("01:01") else "2001:db8:2::"
            assert [o.prefix for o in _pios(pkt)] == [want]
        emitter.stop(MAC1)
        emitter.serve(binding(MAC2, P2))
        await settle(0.2)
        assert {Ether(f).dst for f in sock.sent()} == {"02:00:00:00:02:02"}
        sock.inject(rs_frame())
        await settle()
        assert sock.sent() == []
        assert emitter.counters["rs_unknown"] == 1
        emitter.close()

    run(main())


def _pios(pkt) -> list:
    out = []
    layer = pkt[ICMPv6ND_RA]
    while layer:
        if isinstance(layer, ICMPv6NDOptPrefixInfo):
            out.append(layer)
        layer = layer.payload if layer.payload.name != "NoPayload" else None
    return out


def test_rs_is_answered_to_its_source_and_rate_limited():
    async def main():
        sock = FakePacketSocket()
        emitter = RaEmitter("acc0", FAST, link_local="fe80::1")
        emitter.start(sock=sock)
        emitter.serve(binding(MAC1, P1))
        sock.sent()
        sock.inject(rs_frame())
        await settle()
        frames = sock.sent()
        assert len(frames) == 1
        pkt = Ether(frames[0])
        assert pkt[IPv6].dst == "fe80::200:ff:fe00:101"
        assert pkt.dst == "02:00:00:00:01:01"
        sock.inject(rs_frame())
        await settle()
        assert emitter.counters["rs_delayed"] == 1
        emitter.close()

    run(main())


def test_foreign_frames_and_own_frames_are_ignored():
    async def main():
        sock = FakePacketSocket()
        emitter = RaEmitter("acc0", QUIET, link_local="fe80::1")
        emitter.start(sock=sock)
        emitter.serve(binding(MAC1))
        sock.sent()
        sock.inject(b"\xff" * 30)
        sock.inject(rs_frame()[:-3])
        await settle()
        assert emitter.counters["frames_ignored"] == 2
        sock.pkttype = PACKET_OUTGOING
        sock.inject(rs_frame())
        await settle()
        assert emitter.counters["rs_received"] == 0
        assert sock.sent() == []
        emitter.close()

    run(main())


def test_mac_is_read_from_the_socket_and_source_from_the_binding():
    async def main():
        sock = FakePacketSocket(mac=bytes.fromhex("02aabbccddee"))
        emitter = RaEmitter("acc0", FAST)
        emitter.start(sock=sock)
        assert emitter.mac == bytes.fromhex("02aabbccddee")
        emitter.serve(binding(MAC1, link_local="fe80::abcd"))
        pkt = Ether(sock.sent()[0])
        assert pkt.src == "02:aa:bb:cc:dd:ee"
        assert pkt[IPv6].src == "fe80::abcd"
        with pytest.raises(ValueError, match="no RA source address"):
            emitter.serve(binding(MAC2, link_local=None))
        assert emitter.status()["served"] == 1
        emitter.close()
        emitter.close()

    run(main())


def test_handle_maps_mag_actions():
    async def main():
        sock = FakePacketSocket()
        emitter = RaEmitter("acc0", FAST, link_local="fe80::1")
        emitter.start(sock=sock)
        b = binding(MAC1)
        assert emitter.handle(ServeMobileNode(b)) is True
        assert len(sock.sent()) == 1
        assert emitter.handle(StopServing(b, "detached")) is True
        assert MAC1 not in emitter.scheduler
        assert emitter.handle(Send("2001:db8::1", None)) is False
        emitter.close()

    run(main())


def test_failures_are_counted_not_raised():
    async def main():
        sock = FakePacketSocket()

        def broken_hook(send, sent_at):
            raise RuntimeError("hook bug")

        emitter = RaEmitter("acc0", FAST, link_local="fe80::1", on_sent=broken_hook)
        emitter.start(sock=sock)
        emitter.serve(binding(MAC1))
        assert emitter.counters["on_sent_error"] == 1
        sock.fail_sends = True
        emitter.serve(binding(MAC2))
        assert emitter.counters["send_error"] == 1
        assert emitter.counters["ra_sent"] == 1
        emitter.close()

    run(main())


def test_misuse_is_refused():
    with pytest.raises(RuntimeError, match="not started"):
        RaEmitter("acc0", link_local="fe80::1").serve(binding())
    with pytest.raises(ValueError, match="link-local"):
        RaEmitter("acc0", link_local="2001:db8::1")
    with pytest.raises(ValueError, match="unicast"):
        RaEmitter("acc0", mac="03:00:00:00:00:01")

    async def twice():
        emitter = RaEmitter("acc0", link_local="fe80::1")
        emitter.start(sock=FakePacketSocket())
        with pytest.raises(RuntimeError, match="already started"):
            emitter.start(sock=FakePacketSocket())
        emitter.close()

    run(twice())


def test_the_kernel_accepts_the_rs_filter():
    # Any socket takes a classic BPF program; a malformed one would be refused (EINVAL).
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        assert attach_rs_filter(sock) is True
