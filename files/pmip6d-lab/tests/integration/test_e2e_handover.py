"""End to end in namespaces: an unmodified MN moves between two MAGs and keeps its flows.

MN ── AP1 ── MAG1 ══╗
                     LMA ── CN          (ip6tnl, seg6 or ebpf tunnels, unicast RAs, Cisco syslog)
MN ── AP2 ── MAG2 ══╝

The MN associates at AP1, whose syslog line makes MAG1 register it; the MN
configures an address from its home network prefix by SLAAC; UDP echo and
ping to CN go through the tunnel; the MN roams to AP2 and keeps its address,
its default router and its flows while the LMA points at MAG2. The module runs
once per tunnel backend the kernel offers (``backend``, see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import CN, MAGS, build_domain

pytestmark = pytest.mark.netns

PROBE = Path(__file__).with_name("udp_probe.py")


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok, backend):
    work = tmp_path_factory.mktemp(f"e2e-{backend}")
    dom = build_domain(work, prefix=f"e2e{id(work) % 1000}-", mobile_nodes=2, backend=backend)
    try:
        pcap = work / "core.pcapng"
        capture = dom.lab.capture(dom.lab.ns("lma"), "core0", pcap, "ip6 proto 41")
        dom.probes.append(dom.lab.ns("cn").popen(sys.executable, str(PROBE), "echo", "7000"))
        yield dom, pcap, capture
    finally:
        dom.close()


def test_association_registers_and_the_mn_configures_its_prefix(domain):
    dom, _unused, _unused = domain
    dom.associate("mn1", "ap1")
    row = wait_for(lambda: dom.binding("mn1"), what="mn1 registered at the LMA")
    assert row["proxy_coa"] == MAGS["mag1"]
    counters = dom.agents["mag1"].counters()
    assert (
        sum(v for k, v in counters.items() if k.startswith("trigger.") and k.endswith(".events"))
        >= 1
    ), counters
    address = dom.wait_address("mn1")
    assert ip_address(address) in ip_network(row["hnps"][0])
    # The default router is the MAG's shared link-local address and MAC, learnt from the RA.
    assert dom.mns["mn1"].default_routers() == [("fe80::1", "02:50:4d:49:50:36")]
    timeline = dom.agents["mag1"].call("timeline")
    assert timeline and timeline[-1]["total_ms"] is not None
    assert timeline[-1]["reason"] == "Associated"


def test_second_mn_on_the_same_mag_gets_only_its_own_prefix(domain):
    dom, _unused, _unused = domain
    dom.associate("mn2", "ap1")
    wait_for(lambda: dom.binding("mn2"), what="mn2 registered")
    dom.wait_address("mn2")
    p1 = ip_network(dom.binding("mn1")["hnps"][0])
    p2 = ip_network(dom.binding("mn2")["hnps"][0])
    assert p1 != p2
    time.sleep(4)  # periodic RAs (MaxRtrAdvInterval 3 s) must not leak either
    assert not [a for a in dom.mns["mn1"].addresses() if ip_address(a["local"]) in p2]
    assert not [a for a in dom.mns["mn2"].addresses() if ip_address(a["local"]) in p1]
    assert [a for a in dom.mns["mn1"].addresses() if ip_address(a["local"]) in p1]


def test_traffic_to_cn_goes_through_the_tunnel(domain):
    dom, _unused, _unused = domain
    mn1, mn2 = dom.mns["mn1"], dom.mns["mn2"]
    a1, a2 = dom.wait_address("mn1"), dom.wait_address("mn2")
    mn1.ns.run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", a1, CN)
    dom.lab.ns("cn").run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", a1)
    # Two MNs behind one MAG reach each other (through the LMA, RFC 5213 §6.10.3).
    mn2.ns.run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-I", a2, a1)


def probe_loss(result_file: Path, moved_at: float) -> dict:
    """Loss and gap of the probe's flow; ``moved_at`` is CLOCK_MONOTONIC, like the probe's."""
    data = json.loads(result_file.read_text())
    moved_at_rel = moved_at - data["start"]
    sent = {int(k): v for k, v in data["sent"].items()}
    echoed = {int(k): v for k, v in data["echoed"].items()}
    after = [s for s, t in sent.items() if t > moved_at_rel + 1.0]
    lost = [s for s in sent if s not in echoed]
    gap_ms = 0.0
    if lost:
        times = sorted(sent[s] for s in lost)
        gap_ms = (times[-1] - times[0]) * 1000 + data["interval"] * 1000
    return {
        "sent": len(sent),
        "echoed": len(echoed),
        "lost": len(lost),
        "gap_ms": gap_ms,
        "echoed_after_move": sum(1 for s in after if s in echoed),
        "sent_after_move": len(after),
    }


def test_handover_keeps_address_router_and_flows(domain):
    dom, _unused, _unused = domain
    mn1 = dom.mns["mn1"]
    address = dom.wait_address("mn1")
    before_hnp = dom.binding("mn1")["hnps"]
    routers_before = mn1.default_routers()
    out = dom.work / "probe.json"
    # Until told to stop: the flow runs before, through and well after the move,
    # however long the move takes on this machine.
    probe = mn1.ns.popen(sys.executable, str(PROBE), "probe", CN, "7000", "0.005", "120", str(out))
    wait_for(lambda: Path(f"{out}.started").exists(), timeout=60, what="the probe's flow")
    time.sleep(1.5)
    dom.roam("mn1", "ap2")
    moved_at = time.monotonic()  # the roam happened before this: an upper bound
    wait_for(lambda: dom.binding("mn1")["proxy_coa"] == MAGS["mag2"], what="LMA points at MAG2")
    time.sleep(2.0)  # the flow after the move
    probe.terminate()
    assert probe.wait(timeout=30) == 0
    row = dom.binding("mn1")
    assert row["hnps"] == before_hnp and row["handoffs"] == 1
    assert address in mn1.usable_addresses()
    # Identical MAG link-local and MAC: the MN's default router did not change.
    assert mn1.default_routers() == routers_before == [("fe80::1", "02:50:4d:49:50:36")]
    # MAG1 let go: it heard the old AP's ROAMED line or the LMA's revocation (RFC 5846),
    # whichever came first; a late de-registration did no harm.
    wait_for(lambda: not dom.agents["mag1"].bindings(mac=mn1.mac), what="MAG1 forgets mn1")

    # Every order is legal: MAG1's de-registration arrives after MAG2's PBU (a late one,
    # ignored), before it (the binding lingers and MAG2's PBU takes it over), or stamped
    # before MAG2's PBU but arriving after it (rejected as older, status 157; seen on a
    # slow emulated CPU); or the LMA's BRI reached MAG1 first and MAG1, revoked, had
    # nothing to de-register. MAG1 may drop its entry before the LMA has seen the PBU: wait.
    def previous_mag_settled() -> bool:
        counters = dom.agents["lma"].counters()
        return (
            counters.get("deregistrations_from_previous_mag", 0)
            + counters.get("deregistrations", 0)
            + counters.get("rejected.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED", 0)
            + counters.get("revocations_acknowledged", 0)
        ) >= 1

    wait_for(previous_mag_settled, what="the LMA saw MAG1 let go")
    assert dom.binding("mn1")["proxy_coa"] == MAGS["mag2"]
    stats = probe_loss(out, moved_at)
    assert stats["sent_after_move"] > 100
    assert stats["echoed_after_move"] >= 0.95 * stats["sent_after_move"], stats
    assert stats["gap_ms"] < 1000, stats
    # Ping still works both ways through MAG2.
    mn1.ns.run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-I", address, CN)
    timeline = dom.agents["mag2"].call("timeline")
    assert timeline[-1]["reason"] == "Reassociated"


def test_tunnel_packets_are_plain_ipv6_in_ipv6(domain):
    dom, pcap, capture = domain
    time.sleep(0.3)
    dom.lab.stop_capture(capture)
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "ipv6.nxt",
            "-e",
            "ipv6.routing.type",
            "-e",
            "_ws.malformed",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert len(out) > 50
    peers = {MAGS["mag1"], MAGS["mag2"]}
    for line in out:
        src, dst, nxt, routing, malformed = line.split("|")
        outer_src, outer_dst = src.split(",")[0], dst.split(",")[0]
        assert {outer_src, outer_dst} <= peers | {"2001:db8:ffff::1"}, line
        assert nxt.split(",")[0] == "41", line  # outer header: IPv6-in-IPv6
        assert routing == "", f"routing header on the wire: {line}"
        assert malformed == ""
    used = {line.split("|")[1].split(",")[0] for line in out}
    assert peers <= used, "both MAG tunnels carried traffic"
