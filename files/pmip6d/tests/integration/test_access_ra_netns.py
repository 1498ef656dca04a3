"""Per-MN unicast Router Advertisements to real Linux hosts in network namespaces.

Topology (all namespaces named ``ra<pid>…``, removed by the fixture finalizer)::

    MAG ns: acc0 ──┐
                   │   bridge ns: br0 (ports pmag, pmn1, pmn2; no IPv6, no MLD snooping)
    MN1 ns: eth0 ──┤
    MN2 ns: eth0 ──┘

The MAG side is this test process: :func:`pmip6d.access.link.apply` gives acc0
the shared MAC and link-local address, and an :class:`RaEmitter` whose packet
socket lives in the MAG namespace serves the MNs. The MNs are plain Linux
stacks doing SLAAC (accept_ra=1, autoconf=1, forwarding=0). The test asserts
what the MNs' kernels configured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from scapy.layers.inet6 import ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

from pmip6d.access import link
from pmip6d.access.emitter import RaEmitter
from pmip6d.access.ra import RaSettings
from pmip6d.access.scheduler import SendRa
from pmip6d.actions import MobileNodeBinding
from pmip6d.wire.prefix import Prefix

pytestmark = pytest.mark.netns

SHARED_MAC = "02:50:4d:41:47:01"
SHARED_LL = "fe80::1"
MN_MACS = {"mn1": "02:00:00:00:01:01", "mn2": "02:00:00:00:02:02"}
HNP = {"mn1": Prefix.parse("2001:db8:1::/64"), "mn2": Prefix.parse("2001:db8:2::/64")}
# SLAAC with the kernel's default EUI-64 interface identifiers (U/L bit flipped).
SLAAC = {"mn1": "2001:db8:1::ff:fe00:101", "mn2": "2001:db8:2::ff:fe00:202"}
_serial = itertools.count()


def sh(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def sysctl(ns: str, *settings: str) -> None:
    sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings)


@pytest.fixture
def names(request):
    """Unique namespace names for one test; every one created is deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("not root: these tests create network namespaces, veths and a bridge")
    base = f"ra{os.getpid()}t{next(_serial)}"
    created: list[str] = []

    def make(role: str) -> str:
        ns = f"{base}{role}"
        sh("ip", "netns", "add", ns)
        created.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def cleanup() -> None:
        for ns in reversed(created):
            sh("ip", "netns", "del", ns, check=False)

    request.addfinalizer(cleanup)
    return make


@pytest.fixture
def lab(names):
    mag, br, mn1, mn2 = names("mag"), names("br"), names("mn1"), names("mn2")
    sysctl(br, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "-n", br, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
    sysctl(mag, "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_ra=0")
    sh("ip", "-n", br, "link", "add", "pmag", "type", "veth", "peer", "name", "acc0", "netns", mag)
    for role, ns in (("mn1", mn1), ("mn2", mn2)):
        sysctl(
            ns,
            "net.ipv6.conf.all.forwarding=0",
            "net.ipv6.conf.default.accept_ra=1",
            "net.ipv6.conf.default.autoconf=1",
        )
        sh("ip", "-n", br, "link", "add", f"p{role}", "type", "veth", "peer", "name", "eth0",
           "netns", ns)  # fmt: skip
        sh("ip", "-n", ns, "link", "set", "eth0", "address", MN_MACS[role])
    for port in ("pmag", "pmn1", "pmn2"):
        sh("ip", "-n", br, "link", "set", port, "master", "br0", "up")
    sh("ip", "-n", br, "link", "set", "br0", "up")
    sh("ip", "-n", mag, "link", "set", "acc0", "up")
    changes = apply(link.Desired("acc0", link_local=SHARED_LL, mac=SHARED_MAC), mag)
    assert changes, "a fresh veth cannot already have the shared identity"
    for ns in (mn1, mn2):
        sysctl(ns, "net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.eth0.autoconf=1")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
    return {"mag": mag, "br": br, "mn1": mn1, "mn2": mn2}


# --------------------------------------------------------------------------- MN views


def addresses(ns: str) -> list[tuple[str, bool]]:
    """Global IPv6 addresses on eth0: (address, tentative)."""
    data = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0"))
    out = []
    for iface in data:
        for a in iface.get("addr_info", []):
            if a.get("scope") == "global":
                out.append((a["local"], bool(a.get("tentative"))))
    return out


def prefixes_seen(ns: str) -> set[Prefix]:
    out = set()
    for address, _unused in addresses(ns):
        net = ipaddress.IPv6Network(f"{address}/64", strict=False)
        out.add(Prefix.parse(str(net)))
    return out


def ras_received(ns: str) -> int:
    for line in sh("ip", "netns", "exec", ns, "cat", "/proc/net/dev_snmp6/eth0").splitlines():
        key, _unused, value = line.partition(" ")
        if key == "Icmp6InRouterAdvertisements":
            return int(value)
    raise AssertionError("no Icmp6InRouterAdvertisements counter")


def default_routes(ns: str) -> list[dict]:
    return json.loads(sh("ip", "-n", ns, "-j", "-6", "route", "show", "default"))


def neighbour(ns: str, address: str) -> dict | None:
    rows = json.loads(sh("ip", "-n", ns, "-j", "-6", "neigh", "show", "dev", "eth0"))
    return next((r for r in rows if r.get("dst") == address), None)


def link_local(ns: str) -> str | None:
    data = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0"))
    for iface in data:
        for a in iface.get("addr_info", []):
            if a.get("scope") == "link" and not a.get("tentative"):
                return a["local"]
    return None


async def until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; the seconds it took. Fails the test after ``timeout``."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def send_rs(ns: str, mac: str, source: str) -> None:
    """Send a Router Solicitation from ``ns``'s eth0, as a host would."""
    from pyroute2 import netns as pyroute2_netns

    frame = bytes(
        Ether(src=mac, dst="33:33:00:00:00:02")
        / IPv6(src=source, dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )
    sock = pyroute2_netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind(("eth0", 0))
        sock.send(frame)
    finally:
        sock.close()


def binding(role: str) -> MobileNodeBinding:
    return MobileNodeBinding(
        mn_id=f"{role}@lab.example".encode(),
        mac=bytes.fromhex(MN_MACS[role].replace(":", "")),
        prefixes=(HNP[role],),
        lma="2001:db8:ffff::1",
        link_local=socket.inet_pton(socket.AF_INET6, SHARED_LL),
        lifetime=600,
        interface="acc0",
    )


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[SendRa, float]] = []

    def __call__(self, send: SendRa, sent_at: float) -> None:
        self.sent.append((send, sent_at))

    def to(self, role: str, after: float = 0.0) -> list[SendRa]:
        mac = binding(role).mac
        return [s for s, t in self.sent if s.mac == mac and t >= after]


FAST = RaSettings(
    max_rtr_adv_interval=1.0,
    min_rtr_adv_interval=0.5,
    adv_default_lifetime=60,
    adv_valid_lifetime=600,
    adv_preferred_lifetime=300,
    initial_ras=3,
    initial_ra_interval=0.2,
    min_delay_between_ras=0.5,
)


# --------------------------------------------------------------------------- tests


def test_each_mn_configures_only_its_own_prefix(lab):
    async def main():
        record = Recorder()
        emitter = RaEmitter("acc0", FAST, link_local=SHARED_LL, netns=lab["mag"], on_sent=record)
        emitter.start()
        assert emitter.kernel_filter, "the kernel refused the RS filter"
        assert emitter.mac == bytes.fromhex(SHARED_MAC.replace(":", ""))
        try:
            called = time.monotonic()
            emitter.serve(binding("mn1"))
            assert [s.reason for s in record.to("mn1")] == ["serve"], "RA not sent within serve()"
            print(f"\nserve() → RA sent: {(record.sent[0][1] - called) * 1e6:.0f} µs")
            emitter.serve(binding("mn2"))

            def configured() -> bool:
                p1, p2 = prefixes_seen(lab["mn1"]), prefixes_seen(lab["mn2"])
                assert HNP["mn2"] not in p1, f"MN1 configured MN2's prefix: {p1}"
                assert HNP["mn1"] not in p2, f"MN2 configured MN1's prefix: {p2}"
                return p1 == {HNP["mn1"]} and p2 == {HNP["mn2"]}

            took = await until(configured, 5, "both MNs to configure their prefix")
            print(f"SLAAC address present {took:.3f} s after serve")
            took += await until(
                lambda: (
                    addresses(lab["mn1"]) and not any(t for _unused, t in addresses(lab["mn1"]))
                ),
                5,
                "DAD of MN1's address to finish",
            )
            print(f"SLAAC address usable (DAD done) {took:.3f} s after serve")
            # Keep watching through several periodic RAs.
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                assert configured()
                await asyncio.sleep(0.1)
            assert [a for a, _unused in addresses(lab["mn1"])] == [SLAAC["mn1"]]
            assert [a for a, _unused in addresses(lab["mn2"])] == [SLAAC["mn2"]]
            for role in ("mn1", "mn2"):
                ns = lab[role]
                routes = default_routes(ns)
                assert [(r.get("gateway"), r.get("dev"), r.get("protocol")) for r in routes] == [
                    (SHARED_LL, "eth0", "ra")
                ], routes
                entry = neighbour(ns, SHARED_LL)
                assert entry is not None and entry.get("lladdr") == SHARED_MAC, entry
                assert "router" in entry, entry
            assert emitter.counters["ra_periodic"] >= 4
            # The MNs' DAD probes and MLD reports reached acc0 too, but the kernel
            # filter kept everything except RSs away from the socket.
            assert emitter.counters["frames_ignored"] == 0
        finally:
            emitter.close()

    asyncio.run(main())


def test_after_stop_no_more_ras_reach_the_mn(lab):
    async def main():
        record = Recorder()
        emitter = RaEmitter("acc0", FAST, link_local=SHARED_LL, netns=lab["mag"], on_sent=record)
        emitter.start()
        try:
            emitter.serve(binding("mn1"))
            emitter.serve(binding("mn2"))
            await until(lambda: ras_received(lab["mn1"]) >= 4, 5, "MN1 to get 4 RAs")
            await until(lambda: ras_received(lab["mn2"]) >= 4, 5, "MN2 to get 4 RAs")
            emitter.stop(binding("mn1").mac)
            stopped_at = time.monotonic()
            await asyncio.sleep(0.1)
            mn1_before, mn2_before = ras_received(lab["mn1"]), ras_received(lab["mn2"])
            # MN1 solicits: it is not served any more, so nobody answers.
            send_rs(lab["mn1"], MN_MACS["mn1"], link_local(lab["mn1"]))
            await asyncio.sleep(2.5)  # at least two periodic intervals (MaxRtrAdvInterval 1 s)
            assert ras_received(lab["mn1"]) == mn1_before
            assert ras_received(lab["mn2"]) >= mn2_before + 2
            assert record.to("mn1", after=stopped_at) == []
            assert emitter.counters["rs_unknown"] >= 1
        finally:
            emitter.close()

    asyncio.run(main())


def test_router_solicitations_are_answered(lab):
    async def main():
        record = Recorder()
        # Only the immediate RA and no periodic one within the test: every later RA
        # the MN gets is an answer to a solicitation.
        settings = RaSettings(initial_ras=1, min_delay_between_ras=0.5)
        emitter = RaEmitter(
            "acc0", settings, link_local=SHARED_LL, netns=lab["mag"], on_sent=record
        )
        emitter.start()
        try:
            mn1 = lab["mn1"]
            emitter.serve(binding("mn1"))
            await until(lambda: prefixes_seen(mn1) == {HNP["mn1"]}, 5, "MN1's address")
            await until(lambda: link_local(mn1), 5, "MN1's link-local address")
            ll = link_local(mn1)
            # The kernel solicits once its link-local address passed DAD (even though
            # it already has our RA); let that RS and its answer go by first.
            await asyncio.sleep(0.7)
            before = ras_received(mn1)
            crafted_at = time.monotonic()

            # A crafted RS from MN1's link-local: answered, unicast, at once.
            send_rs(mn1, MN_MACS["mn1"], ll)
            await until(lambda: ras_received(mn1) == before + 1, 2, "the answer to the RS")
            answers = [s for s in record.to("mn1", after=crafted_at) if s.reason == "solicited"]
            assert [socket.inet_ntop(socket.AF_INET6, s.destination) for s in answers] == [ll]

            # The MN's own stack: the link bounces, its addresses are flushed, the
            # kernel solicits after DAD of its link-local, and our answer brings the
            # address back long before any periodic RA would (MaxRtrAdvInterval 600 s).
            await asyncio.sleep(0.6)  # past MinDelayBetweenRAs
            sh("ip", "-n", mn1, "link", "set", "eth0", "down")
            assert prefixes_seen(mn1) == set()
            bounced = time.monotonic()
            sh("ip", "-n", mn1, "link", "set", "eth0", "up")
            took = await until(
                lambda: prefixes_seen(mn1) == {HNP["mn1"]}, 8, "MN1's address after link up"
            )
            print(f"address back {took:.3f} s after link up (kernel RS answered)")
            later = [s for s, t in record.sent if t >= bounced and s.mac == binding("mn1").mac]
            assert later and {s.reason for s in later} == {"solicited"}
            assert emitter.counters["rs_answered"] >= 2

            # MN2 is not served: its RS is ignored.
            unknown = emitter.counters["rs_unknown"]
            mn2_before = ras_received(lab["mn2"])
            send_rs(lab["mn2"], MN_MACS["mn2"], "fe80::200:ff:fe00:202")
            await until(lambda: emitter.counters["rs_unknown"] > unknown, 2, "MN2's RS")
            await asyncio.sleep(0.2)
            assert ras_received(lab["mn2"]) == mn2_before
            assert prefixes_seen(lab["mn2"]) == set()
        finally:
            emitter.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- link.py


def plan(desired: link.Desired, netns: str) -> list[link.Change]:
    return link.plan(link.read_state(desired.interface, netns=netns), desired)


def apply(desired: link.Desired, netns: str) -> list[link.Change]:
    with link.Netlink(netns=netns) as netlink:
        return link.apply(netlink, desired)[1]


def link_locals(interface: str, netns: str) -> list[str]:
    return [a.address for a in link.read_state(interface, netns=netns).link_locals]


def test_link_apply_is_idempotent_and_plan_changes_nothing(names):
    ns = names("link")
    sh("ip", "-n", ns, "link", "add", "a0", "type", "veth", "peer", "name", "b0")
    sh("ip", "-n", ns, "link", "set", "a0", "up")
    sh("ip", "-n", ns, "link", "set", "b0", "up")
    config = link.Desired("a0", link_local=SHARED_LL, mac=SHARED_MAC)

    deadline = time.monotonic() + 5
    while not link_locals("a0", ns):  # the kernel's EUI-64 one
        assert time.monotonic() < deadline, "the kernel added no link-local address"
        time.sleep(0.05)
    before = link.read_state("a0", netns=ns)
    assert before.mac != SHARED_MAC
    assert before.addr_gen_mode == link.IN6_ADDR_GEN_MODE_EUI64

    planned = plan(config, ns)
    assert [c.kind for c in planned] == ["addr_gen_mode", "mac", "add_address", "del_address"]
    assert link.read_state("a0", netns=ns) == before, "plan() changed the interface"

    done = apply(config, ns)
    assert done == planned
    after = link.read_state("a0", netns=ns)
    assert after.mac == SHARED_MAC
    assert after.addr_gen_mode == link.IN6_ADDR_GEN_MODE_NONE
    assert [a.address for a in after.link_locals] == [SHARED_LL]
    [ll] = [a for a in after.addresses if a.address == SHARED_LL]
    assert ll.prefixlen == 64
    assert ll.flags & link.IFA_F_NODAD and ll.flags & link.IFA_F_PERMANENT
    assert ll.usable

    assert apply(config, ns) == []
    assert plan(config, ns) == []

    # A down/up flushes the address; the kernel must not add an EUI-64 one back.
    sh("ip", "-n", ns, "link", "set", "a0", "down")
    sh("ip", "-n", ns, "link", "set", "a0", "up")
    time.sleep(0.3)
    assert link_locals("a0", ns) == []
    assert [c.kind for c in plan(config, ns)] == ["add_address"]
    sh("ip", "-n", ns, "addr", "add", "fe80::beef/64", "dev", "a0", "nodad")
    assert [str(c) for c in apply(config, ns)] == [
        "add address fe80::1/64 (nodad)",
        "remove address fe80::beef/64",
    ]
    assert link_locals("a0", ns) == [SHARED_LL]
    assert apply(config, ns) == []

    # Scenario 1: the other interface keeps its own identity.
    b0 = link.read_state("b0", netns=ns)
    own = link.Desired("b0", link_local=SHARED_LL, mac=SHARED_MAC, shared=False)
    assert plan(own, ns) == []
    assert apply(own, ns) == []
    assert link.read_state("b0", netns=ns) == b0

    with pytest.raises(link.AccessLinkError, match="no such interface"):
        plan(link.Desired("nope0"), ns)
