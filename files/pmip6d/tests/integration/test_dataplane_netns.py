"""The LMA and MAG data planes on real kernels, in network namespaces (no signaling).

Topology (namespaces ``dp<pid>t<n><role>``, removed by the fixture finalizer)::

                         core ns: bridge br0 (the core switch)
              ┌──────────────────┼──────────────────┐
     lma: core0 2001:db8:c::1   mag1: core0 ::11   mag2: core0 ::12
     lma: cn0 2001:db8:e::1     mag1: acc0 (bridge = AP1)  mag2: acc0 (bridge = AP2)
          │                          │ fe80::1, shared MAC    │ fe80::1, shared MAC
     cn: eth0 2001:db8:e::2     mn: eth0 2001:db8:100:1::2 — a veth whose other end is
                                a port of AP1's bridge; a handover re-plugs it into AP2

The test process drives the data planes directly with the actions the state
machines would emit (``RouteToMag``, ``ServeMobileNode``, ``StopServing``),
each data plane's netlink socket opened inside its namespace. Traffic is real:
ICMPv6 echo and UDP from sockets opened inside the CN and MN namespaces.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import netns as pyroute2_netns

from pmip6d.actions import MobileNodeBinding, RouteToMag, ServeMobileNode, StopServing, Unroute
from pmip6d.dataplane import (
    Channel,
    Kernel,
    LmaDataplane,
    MagDataplane,
    Ownership,
    make_backend,
    probe,
)
from pmip6d.wire.codec import encode
from pmip6d.wire.messages import ProxyBindingUpdate
from pmip6d.wire.prefix import Prefix

pytestmark = pytest.mark.netns

LMAA = "2001:db8:c::1"
PCOA = {"mag1": "2001:db8:c::11", "mag2": "2001:db8:c::12"}
CN = "2001:db8:e::2"
HNP = {"mn": Prefix.parse("2001:db8:100:1::/64"), "mn2": Prefix.parse("2001:db8:100:2::/64")}
MN_ADDR = {"mn": "2001:db8:100:1::2", "mn2": "2001:db8:100:2::2"}
MN_MAC = {"mn": "02:00:00:00:01:01", "mn2": "02:00:00:00:02:02"}
SHARED_MAC = "02:50:4d:41:47:01"  # RFC 5213 §6.9.3: every MAG looks the same to the MN
OWN = Ownership()
_serial = itertools.count()


def sh(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Lab:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.created: list[str] = []
        self.dataplanes: list = []

    def ns(self, role: str) -> str:
        return f"{self.prefix}{role}"

    def make(self, role: str) -> str:
        name = self.ns(role)
        sh("ip", "netns", "add", name)
        self.created.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        self.sysctl(role, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        return name

    def ip(self, role: str, *args: str, check: bool = True) -> str:
        return sh("ip", "-n", self.ns(role), *args, check=check)

    def sysctl(self, role: str, *settings: str) -> None:
        sh("ip", "netns", "exec", self.ns(role), "sysctl", "-qw", *settings)

    def attach(self, mn: str, mag: str) -> None:
        """Plug the MN into ``mag``'s access point (unplugging it from wherever it was)."""
        self.ip(mn, "link", "del", "eth0", check=False)
        port = f"ap{mn}"
        self.ip(mag, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
                self.ns(mn))  # fmt: skip
        self.ip(mag, "link", "set", port, "master", "acc0", "up")
        self.ip(mn, "link", "set", "eth0", "address", MN_MAC[mn], "up")
        self.ip(mn, "addr", "add", f"{MN_ADDR[mn]}/64", "dev", "eth0", "nodad")
        self.ip(mn, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")

    def close(self) -> None:
        for dp in reversed(self.dataplanes):
            with contextlib.suppress(Exception):
                dp.close()
        for name in reversed(self.created):
            sh("ip", "netns", "del", name, check=False)

    # ------------------------------------------------------------ data planes

    def lma(self, **kw) -> LmaDataplane:
        kw.setdefault("mode", "static")
        if kw["mode"] == "static":
            kw.setdefault("peers", list(PCOA.values()))
        dp = LmaDataplane(kw.pop("backend", "auto"), LMAA, "core0", netns=self.ns("lma"), **kw)
        self.dataplanes.append(dp)
        dp.start()
        return dp

    def mag(self, role: str, **kw) -> MagDataplane:
        dp = MagDataplane(
            kw.pop("backend", "auto"), PCOA[role], "core0", ["acc0"], netns=self.ns(role), **kw
        )
        self.dataplanes.append(dp)
        dp.start()
        return dp

    def kernel(self, role: str) -> Kernel:
        return Kernel(Channel(self.ns(role)), OWN)


@pytest.fixture
def lab(request) -> Lab:
    if os.geteuid() != 0:
        pytest.skip("not root: these tests create network namespaces, veths and bridges")
    lab = Lab(f"dp{os.getpid()}t{next(_serial)}")
    request.addfinalizer(lab.close)
    for role in ("core", "lma", "mag1", "mag2", "cn", "mn", "mn2"):
        lab.make(role)
    lab.sysctl("core", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    lab.ip("core", "link", "add", "br0", "type", "bridge")
    lab.ip("core", "link", "set", "br0", "up")
    for role, address in (("lma", LMAA), *PCOA.items()):
        lab.ip("core", "link", "add", f"p{role}", "type", "veth", "peer", "name", "core0",
               "netns", lab.ns(role))  # fmt: skip
        lab.ip("core", "link", "set", f"p{role}", "master", "br0", "up")
        lab.ip(role, "link", "set", "core0", "up")
        lab.ip(role, "addr", "add", f"{address}/64", "dev", "core0", "nodad")
        lab.sysctl(role, "net.ipv6.conf.all.forwarding=1")
    lab.ip("lma", "link", "add", "cn0", "type", "veth", "peer", "name", "eth0",
           "netns", lab.ns("cn"))  # fmt: skip
    lab.ip("lma", "link", "set", "cn0", "up")
    lab.ip("lma", "addr", "add", "2001:db8:e::1/64", "dev", "cn0", "nodad")
    lab.ip("cn", "link", "set", "eth0", "up")
    lab.ip("cn", "addr", "add", f"{CN}/64", "dev", "eth0", "nodad")
    lab.ip("cn", "-6", "route", "add", "default", "via", "2001:db8:e::1")
    for role in PCOA:
        lab.ip(role, "link", "add", "acc0", "address", SHARED_MAC, "type", "bridge")
        lab.ip(role, "link", "set", "acc0", "up")
        lab.ip(role, "addr", "add", "fe80::1/64", "dev", "acc0", "nodad")
    lab.attach("mn", "mag1")
    return lab


def binding(mn: str = "mn", lma: str = LMAA) -> MobileNodeBinding:
    mac = bytes.fromhex(MN_MAC[mn].replace(":", ""))
    return MobileNodeBinding(f"{mn}@lab".encode(), mac, (HNP[mn],), lma, None, 600, "acc0")


# --------------------------------------------------------------------------- traffic


def ns_socket(ns: str, kind: int, proto: int = 0) -> socket.socket:
    return pyroute2_netns.create_socket(ns, socket.AF_INET6, kind, proto, flags=0)


def ping(ns: str, dst: str, count: int = 3, timeout: float = 1.0) -> int:
    """ICMPv6 echo from inside ``ns``; the number of replies (the kernel fills the checksum)."""
    sock = ns_socket(ns, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    ident = os.getpid() & 0xFFFF
    replies = 0
    try:
        for seq in range(count):
            sock.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, seq) + b"pmip6d" * 8, (dst, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                data = sock.recv(2048)
                if data[0] == 129 and struct.unpack("!HH", data[4:8]) == (ident, seq):
                    replies += 1
                    break
    finally:
        sock.close()
    return replies


def udp_flow(
    src_ns: str, dst_ns: str, dst: str, count: int = 20, port: int = 50_000, tclass: int = 0
) -> int:
    """Send ``count`` datagrams from ``src_ns`` to ``[dst]:port`` in ``dst_ns``; how many arrive."""
    rx = ns_socket(dst_ns, socket.SOCK_DGRAM)
    tx = ns_socket(src_ns, socket.SOCK_DGRAM)
    try:
        if tclass:
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tclass)
        rx.bind((dst, port))
        for i in range(count):
            tx.sendto(f"datagram {i}".encode(), (dst, port))
        got = set()
        deadline = time.monotonic() + 2.0
        while len(got) < count and (left := deadline - time.monotonic()) > 0:
            if not select.select([rx], [], [], left)[0]:
                break
            got.add(rx.recv(100))
        return len(got)
    finally:
        rx.close()
        tx.close()


def hnp_routes(lab: Lab) -> list:
    k = lab.kernel("lma")
    try:
        return [r for r in k.routes() if r.dst == HNP["mn"]]
    finally:
        k.ch.close()


def core_packets(lab: Lab, role: str) -> tuple[int, int]:
    """(received, sent) packets of ``role``'s core interface."""
    [link] = json.loads(lab.ip(role, "-s", "-j", "link", "show", "core0"))
    stats = link["stats64"]
    return stats["rx"]["packets"], stats["tx"]["packets"]


@contextlib.contextmanager
def capture(lab: Lab, role: str, interface: str, path: Path) -> Iterator[Path]:
    """tshark writing everything seen on ``interface`` in ``role``'s namespace to ``path``."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns(role), "tshark", "-q", "-i", interface, "-w", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        seen = ""
        while "Capturing on" not in seen:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tshark did not start: {seen}{proc.stderr.read()}")
            if select.select([proc.stderr], [], [], 0.5)[0]:
                seen += proc.stderr.readline()
        # "Capturing on" comes when dumpcap is started, not when its socket is
        # bound: wait for a packet of our own to show up in the file.
        probe_until = time.monotonic() + 20
        while True:
            ping(lab.ns(role), "ff02::1", count=1, timeout=0.2)
            if path.exists() and _count_packets(path) > 0:
                break
            if time.monotonic() > probe_until:
                raise RuntimeError("tshark captures nothing")
        yield path
    finally:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _count_packets(path: Path) -> int:
    done = subprocess.run(
        ["tshark", "-r", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    return len(done.stdout.splitlines())


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(path), "-Y", "ipv6", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    return [line.split("|") for line in sh(*args).splitlines() if line.strip()]


# --------------------------------------------------------------------------- tests


def test_probes_agree_with_the_kernel_and_auto_picks_the_first_offered(lab):
    """What each backend needs is probed, not assumed: checked against iproute2's own attempts."""
    kernel = lab.kernel("lma")
    try:
        core = kernel.link_index("core0")
        report = probe.report(kernel, core)
        assert report.usable, "this kernel offers no tunnel backend:\n" + "\n".join(report.lines())
        assert make_backend("auto", kernel, core).name == report.usable[0]
        assert report.usable == [b for b in probe.ORDER if b in report.usable], "auto's order"
        leftovers = {what: items for what, items in kernel.owned().items() if items}
        assert not leftovers, f"the probes left {leftovers}"
    finally:
        kernel.ch.close()
    # Independent witnesses: iproute2 tries the same kernel features itself.
    ip6tnl = lab.ip("lma", "link", "add", "w0", "type", "ip6tnl", "mode", "ip6ip6",
                    "local", LMAA, "remote", "2001:db8:c::99", check=False)  # fmt: skip
    has_ip6tnl = "w0" in lab.ip("lma", "link", "show")
    assert ("ip6tnl" in report.usable) == has_ip6tnl, ip6tnl
    seg6 = sh("ip", "-n", lab.ns("lma"), "-6", "route", "add", "100::/64", "encap", "seg6",
              "mode", "encap", "segs", "100::1", "dev", "core0", check=False)  # fmt: skip
    has_seg6 = "100::/64" in lab.ip("lma", "-6", "route")
    assert ("seg6" in report.usable) == has_seg6, seg6
    # A backend the kernel lacks, asked for by name, fails at start naming the feature.
    for name in probe.ORDER:
        if name not in report.usable:
            missing = probe.FEATURES[report.offers[probe.ORDER.index(name)].missing[0]]
            with pytest.raises(probe.UnsupportedKernel, match=re.escape(missing)):
                lab.lma(backend=name)


def test_traffic_and_handover_through_the_tunnels(lab, backend):
    lma = lab.lma(backend=backend)  # static: both MAGs' tunnels from the start (scenario 2)
    mag1, mag2 = lab.mag("mag1", backend=backend), lab.mag("mag2", backend=backend)
    if backend != "auto":
        assert lma.backend.name == mag1.backend.name == backend
    nh = {m: OWN.nh_id(lma.peers.peers[a].slot) for m, a in PCOA.items()}

    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    assert ping(lab.ns("mn"), CN) == 3
    assert ping(lab.ns("cn"), MN_ADDR["mn"]) == 3
    assert udp_flow(lab.ns("cn"), lab.ns("mn"), MN_ADDR["mn"]) == 20
    assert udp_flow(lab.ns("mn"), lab.ns("cn"), CN) == 20
    [route] = hnp_routes(lab)
    assert route.nh_id == nh["mag1"]

    # Handover to MAG2, in the order the agents would act.
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag2"], PCOA["mag1"]))
    stats = lma.flush()
    assert (stats.messages, stats.replaced) == (1, 1), "one atomic route replace"
    lab.attach("mn", "mag2")
    mag2(ServeMobileNode(binding()))
    mag1(StopServing(binding(), "handover"))
    [route] = hnp_routes(lab)  # still one route, its nexthop changed
    assert route.nh_id == nh["mag2"]
    before = {m: core_packets(lab, m) for m in PCOA}
    assert ping(lab.ns("mn"), CN) == 3
    assert ping(lab.ns("cn"), MN_ADDR["mn"]) == 3
    assert udp_flow(lab.ns("cn"), lab.ns("mn"), MN_ADDR["mn"]) == 20
    assert udp_flow(lab.ns("mn"), lab.ns("cn"), CN) == 20
    after = {m: core_packets(lab, m) for m in PCOA}
    rx, tx = (after["mag2"][i] - before["mag2"][i] for i in (0, 1))
    assert rx >= 3 + 3 + 20 and tx >= 3 + 3 + 20, "the tunnel runs through MAG2 now"
    assert after["mag1"][1] - before["mag1"][1] < 5, "MAG1 sends (almost) nothing"
    assert "2001:db8:100:1::/64" not in lab.ip("mag1", "-6", "route")
    assert "2001:db8:100:1::/64" not in lab.ip("mag1", "-6", "rule")
    assert "2001:db8:100:1::/64 dev acc0" in lab.ip("mag2", "-6", "route")
    if lma.backend.name == "ebpf":
        counters = lma.backend.counters()
        assert counters["encap_packets"] >= 3 + 3 + 20 and counters["decap_packets"] >= 3 + 3 + 20
        assert counters["decap_unknown_source"] == counters["encap_errors"] == 0, counters
        assert lma.backend.peer_stats()[PCOA["mag2"]] >= 3 + 3 + 20


TCLASS = 0xB8  # DSCP EF: the outer header must carry it too


def test_tunnel_packets_are_plain_ipv6_in_ipv6(lab, backend, tmp_path):
    # A second core address that source address selection would prefer toward
    # MAG1 (longer common prefix with ::11): the tunnel source must still be the LMAA.
    lab.ip("lma", "addr", "add", "2001:db8:c::10/64", "dev", "core0", "nodad")
    lma = lab.lma(backend=backend)
    mag1 = lab.mag("mag1", backend=backend)
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    with capture(lab, "lma", "core0", tmp_path / "core.pcapng") as pcap:
        assert ping(lab.ns("cn"), MN_ADDR["mn"]) == 3
        assert udp_flow(lab.ns("mn"), lab.ns("cn"), CN, count=5, tclass=TCLASS) == 5
        assert udp_flow(lab.ns("cn"), lab.ns("mn"), MN_ADDR["mn"], count=5, tclass=TCLASS) == 5
    fields = ("frame.protocols", "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.routing.type",
              "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.hlim")  # fmt: skip
    rows = tshark_fields(pcap, *fields)
    tunnel = [r for r in rows if r[0].split(":")[2:4] == ["ipv6", "ipv6"]]
    assert len(tunnel) >= 3 + 3 + 5 + 5, rows  # echo requests + replies + datagrams
    labelled = 0
    for protocols, src, dst, nxt, routing, tclass, flow, plen, hlim in tunnel:
        outer_src, inner_src = src.split(",")
        outer_dst, inner_dst = dst.split(",")
        assert nxt.split(",")[0] == "41", "outer next header is IPv6 itself"
        assert routing == "", "no routing header"
        assert protocols.split(":")[4] in ("icmpv6", "udp"), "nothing between the headers"
        assert {outer_src, outer_dst} == {LMAA, PCOA["mag1"]}
        assert {inner_src, inner_dst} == {CN, MN_ADDR["mn"]}
        outer_tc, inner_tc = tclass.split(",")
        outer_flow, inner_flow = flow.split(",")
        assert outer_tc == inner_tc, "traffic class copied from the inner header"
        assert outer_flow == inner_flow, "flow label copied from the inner header"
        labelled += int(outer_flow, 16) != 0
        outer_plen, inner_plen = (int(x) for x in plen.split(","))
        assert outer_plen == inner_plen + 40, "outer payload = the whole inner packet"
        outer_hlim = int(hlim.split(",")[0])
        if backend in ("ip6tnl", "ebpf"):
            assert outer_hlim == 64, "the entry point's own hop limit (RFC 2473 §6.3)"
        else:
            assert 1 <= outer_hlim <= 64
    assert labelled, "no flow label on any packet: the copy was not exercised"
    assert sum(int(r[5].split(",")[1], 16) == TCLASS for r in tunnel) >= 10, "tclass not tried"
    # CN → MN goes LMA → MAG1; MN → CN goes MAG1 → LMA
    directions = {(r[1].split(",")[0], r[1].split(",")[1]) for r in tunnel}
    assert (LMAA, CN) in directions and (PCOA["mag1"], MN_ADDR["mn"]) in directions


def test_signaling_to_the_tunnel_endpoint_still_reaches_the_agent(lab, backend):
    """Only protocol 41 is decapsulated; Mobility Header (135) to the same address stays local."""
    lab.lma(backend=backend)
    rx = ns_socket(lab.ns("lma"), socket.SOCK_RAW, 135)
    tx = ns_socket(lab.ns("mag1"), socket.SOCK_RAW, 135)
    try:
        # A well-formed PBU: a kernel with MIP6 (Debian's) drops malformed MH itself.
        payload = encode(ProxyBindingUpdate(7, 150, mn_id=b"mn@lab"))
        tx.sendto(payload, (LMAA, 0))
        assert select.select([rx], [], [], 2.0)[0], "the MH packet did not arrive"
        got = rx.recv(100)
        assert got[:4] + got[6:] == payload[:4] + payload[6:], "as sent, but the checksum"
    finally:
        rx.close()
        tx.close()


def forged_tunnel_packet(src: str, dst: str, payload: bytes, port: int) -> bytes:
    """An IPv6/UDP packet (checksum computed): sent on a protocol-41 socket, it is tunnelled."""
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    length = 8 + len(payload)
    pseudo = s + d + struct.pack("!I3xB", length, 17)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    data = pseudo + udp + bytes(len(udp) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    udp = udp[:6] + struct.pack("!H", (~total & 0xFFFF) or 0xFFFF) + udp[8:]
    return struct.pack("!IHBB", 6 << 28, length, 17, 64) + s + d + udp


def test_tunnel_packets_from_an_unknown_source_are_dropped(lab, backend):
    """The tunnel endpoint is not an open relay: only a known peer's packets are decapsulated."""
    lma = lab.lma(backend=backend, peers=[PCOA["mag1"]])  # MAG2 is no tunnel peer of this LMA
    rx = ns_socket(lab.ns("cn"), socket.SOCK_DGRAM)
    rx.bind((CN, 7777))
    try:
        for sender, expected in (("mag2", False), ("mag1", True)):
            tx = ns_socket(lab.ns(sender), socket.SOCK_RAW, 41)
            message = f"forged via {sender}".encode()
            try:
                tx.sendto(forged_tunnel_packet(MN_ADDR["mn"], CN, message, 7777), (LMAA, 0))
            finally:
                tx.close()
            arrived = bool(select.select([rx], [], [], 1.0)[0]) and rx.recv(100) == message
            assert arrived is expected, f"from {sender}: arrived={arrived}"
    finally:
        rx.close()
    if lma.backend.name == "ebpf":
        counters = lma.backend.counters()
        assert counters["decap_unknown_source"] == 1 and counters["decap_packets"] == 1, counters


def test_two_mns_behind_one_mag_talk_via_the_lma(lab, backend):
    lma = lab.lma(backend=backend)
    mag1 = lab.mag("mag1", backend=backend)
    lab.attach("mn2", "mag1")  # the same access point as mn
    for mn in ("mn", "mn2"):
        lma(RouteToMag(f"{mn}@lab".encode(), (HNP[mn],), PCOA["mag1"]))
        mag1(ServeMobileNode(binding(mn)))
    lma.flush()
    assert ping(lab.ns("mn"), MN_ADDR["mn2"]) == 3
    # EnableMAGLocalRouting = 0: without the LMA's route the MNs cannot talk.
    lma(Unroute(b"mn2@lab", (HNP["mn2"],), PCOA["mag1"]))
    lma.flush()
    assert ping(lab.ns("mn"), MN_ADDR["mn2"], count=1) == 0


def tunnel_peers(lab: Lab, role: str) -> set[str]:
    """The peer addresses of the tunnels ``role`` has in its kernel, whatever the backend."""
    nexthops = lab.ip(role, "-6", "nexthop")
    peers = set(re.findall(r"segs 1 \[ (\S+) \]", nexthops))  # seg6
    peers |= set(re.findall(r"bpf xmit pmip6d-encap-(\S+)", nexthops))  # ebpf
    for link in json.loads(lab.ip(role, "-d", "-j", "link", "show", "type", "ip6tnl") or "[]"):
        if link.get("ifname", "").startswith(OWN.ifname_prefix):  # not the fallback ip6tnl0
            peers.add(link["linkinfo"]["info_data"]["remote"])
    return peers


def test_dynamic_tunnels_come_with_the_first_binding_and_go_after_linger(lab, backend):
    now = [100.0]
    lma = lab.lma(backend=backend, mode="dynamic", linger=30, clock=lambda: now[0])
    mag1 = lab.mag("mag1", backend=backend, linger=30, clock=lambda: now[0])
    assert lab.ip("lma", "-6", "nexthop").strip() == ""
    assert lab.ip("mag1", "-6", "nexthop").strip() == ""
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    assert tunnel_peers(lab, "lma") == {PCOA["mag1"]}
    assert tunnel_peers(lab, "mag1") == {LMAA}
    assert ping(lab.ns("mn"), CN) == 3
    lma(Unroute(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(StopServing(binding(), "detached"))
    now[0] += 29
    lma.flush()
    mag1.flush()
    assert tunnel_peers(lab, "lma") == {PCOA["mag1"]}, "lingers"
    assert tunnel_peers(lab, "mag1") == {LMAA}, "lingers"
    now[0] += 1
    lma.flush()
    mag1.flush()
    assert lab.ip("lma", "-6", "nexthop").strip() == ""
    assert lab.ip("mag1", "-6", "nexthop").strip() == ""
    assert tunnel_peers(lab, "lma") == tunnel_peers(lab, "mag1") == set()
    assert "table 5300" not in lab.ip("mag1", "-6", "route", "show", "table", "all")


def _assert_clean(lab: Lab, role: str, backend: str) -> None:
    rules = lab.ip(role, "-6", "rule").splitlines()
    assert [line.split(":")[0] for line in rules] == ["0", "32766"], rules
    assert lab.ip(role, "-6", "route", "show", "table", "all", "proto", "213").strip() == ""
    assert lab.ip(role, "-6", "nexthop").strip() == ""
    assert "pmip6t" not in lab.ip(role, "link")
    tc_state = sh("tc", "-n", lab.ns(role), "qdisc", "show", "dev", "core0")
    assert "clsact" not in tc_state, "the clsact qdisc we created is gone again"
    if backend == "seg6":
        tunsrc = sh("ip", "netns", "exec", lab.ns(role), "ip", "sr", "tunsrc", "show")
        assert "tunsrc addr ::" in tunsrc


def test_close_leaves_nothing_behind(lab, backend):
    lma = lab.lma(backend=backend)
    mag1 = lab.mag("mag1", backend=backend, mode="static", peers=[LMAA])
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    assert ping(lab.ns("mn"), CN) == 3
    if lma.backend.name == "seg6":
        assert LMAA in sh("ip", "netns", "exec", lab.ns("mag1"), "ip", "sr", "tunsrc", "show")
    if lma.backend.name == "ebpf":
        ingress = sh("tc", "-n", lab.ns("lma"), "filter", "show", "dev", "core0", "ingress")
        assert "pmip6d-decap-p213+clsact" in ingress and "direct-action" in ingress
    lma.close()
    mag1.close()
    for role in ("lma", "mag1"):
        _assert_clean(lab, role, lma.backend.name)


def test_an_existing_clsact_qdisc_and_its_filters_are_left_alone(lab, backend):
    sh("tc", "-n", lab.ns("lma"), "qdisc", "add", "dev", "core0", "clsact")
    sh("tc", "-n", lab.ns("lma"), "filter", "add", "dev", "core0", "ingress", "pref", "7",
       "protocol", "ip", "u32", "match", "u32", "0", "0")  # fmt: skip
    before = sh("tc", "-n", lab.ns("lma"), "filter", "show", "dev", "core0", "ingress")
    assert "u32" in before
    lma = lab.lma(backend=backend)
    mag1 = lab.mag("mag1", backend=backend)
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    assert ping(lab.ns("mn"), CN) == 3
    during = sh("tc", "-n", lab.ns("lma"), "filter", "show", "dev", "core0", "ingress")
    # ebpf adds its filter beside the others, marked as not owning the qdisc
    assert ("pmip6d-decap-p213 " in during) is (lma.backend.name == "ebpf"), during
    assert "+clsact" not in during
    lma.close()
    assert "clsact" in sh("tc", "-n", lab.ns("lma"), "qdisc", "show", "dev", "core0")
    assert sh("tc", "-n", lab.ns("lma"), "filter", "show", "dev", "core0", "ingress") == before


def test_restart_after_a_crash_cleans_leftovers(lab, backend):
    crashed_lma = lab.lma(backend=backend)
    crashed_mag = lab.mag("mag1", backend=backend)
    crashed_lma(RouteToMag(b"mn@lab", (HNP["mn"], HNP["mn2"]), PCOA["mag1"]))
    crashed_lma.flush()
    crashed_mag(ServeMobileNode(binding()))
    # The process dies: its sockets close, close() never runs.
    for dp in (crashed_lma, crashed_mag):
        dp.kernel.ch.close()
        dp.kernel = None
    assert "2001:db8:100:2::/64" in lab.ip("lma", "-6", "route")

    lma = lab.lma(backend=backend, mode="dynamic")
    mag1 = lab.mag("mag1", backend=backend)
    assert "2001:db8:100:" not in lab.ip("lma", "-6", "route"), "stale HNP routes gone"
    assert lab.ip("lma", "-6", "nexthop").strip() == "", "stale tunnels gone"
    assert "2001:db8:100:1::/64" not in lab.ip("mag1", "-6", "rule")
    for role, dp in (("lma", lma), ("mag1", mag1)):
        prefs = [line.split(":")[0] for line in lab.ip(role, "-6", "rule").splitlines()]
        if dp.backend.name == "seg6":
            # local moved to 100; decapsulation rules (50) come per tunnel peer
            assert prefs[0] != "0" and prefs.count("100") == 1, f"{role}: {prefs}"
        else:
            assert prefs == ["0", "32766"], f"{role}: {prefs}"
        ingress = sh("tc", "-n", lab.ns(role), "filter", "show", "dev", "core0", "ingress")
        filters = ingress.count("pmip6d-decap-p213")
        assert filters == (1 if dp.backend.name == "ebpf" else 0), f"{role}: one, no duplicates"
    # and the fresh instances work
    lma(RouteToMag(b"mn@lab", (HNP["mn"],), PCOA["mag1"]))
    lma.flush()
    mag1(ServeMobileNode(binding()))
    assert ping(lab.ns("mn"), CN) == 3


def test_refused_routes_are_reported_per_prefix_and_the_rest_installed(lab):
    lma = lab.lma(batch_bytes=4096)
    good = [Prefix(bytes.fromhex(f"20010db8{i:08x}") + bytes(8), 64) for i in range(3000)]
    bad = [Prefix(bytes(16), 129), Prefix(bytes.fromhex("20010db8ffff") + bytes(10), 200)]
    prefixes = good[:1000] + bad[:1] + good[1000:] + bad[1:]
    lma(RouteToMag(b"many", tuple(prefixes), PCOA["mag1"]))
    stats = lma.flush()
    assert (stats.replaced, stats.failed) == (3000, 2)
    assert set(lma.failed) == set(bad)
    assert lma.counters["route_error.EINVAL"] == 2
    installed = [r for r in hnp_routes_all(lab) if r.protocol == OWN.protocol and r.table == 254]
    assert len(installed) == 3000


def hnp_routes_all(lab: Lab) -> list:
    k = lab.kernel("lma")
    try:
        return k.routes()
    finally:
        k.ch.close()


def test_many_bindings_in_one_flush(lab):
    lma = lab.lma()
    n = 20_000
    prefixes = [Prefix(bytes.fromhex(f"2001{i:08x}") + bytes(10), 48) for i in range(n)]
    for i, p in enumerate(prefixes):
        lma(RouteToMag(b"mn", (p,), PCOA["mag1" if i % 2 else "mag2"]))
    stats = lma.flush()
    assert (stats.replaced, stats.failed, stats.unconfirmed) == (n, 0, 0)
    assert stats.sends < n / 500, "batched"
    routes = [r for r in hnp_routes_all(lab) if r.protocol == OWN.protocol and r.dst.length == 48]
    assert len(routes) == n
    lma.close()
    assert lab.ip("lma", "-6", "route", "show", "proto", "213").strip() == ""
