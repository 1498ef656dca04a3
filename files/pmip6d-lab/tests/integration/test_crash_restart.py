"""An agent killed with SIGKILL (a crash, the OOM killer, a power cut for its state)
comes back with every binding it had saved, and the MN's traffic continues with
no PBU: the LMA reinstalls its routes, the MAG its routes and RAs (daemon/store.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import CN, MAGS, build_domain

PROBE = Path(__file__).with_name("udp_probe.py")

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok, backend):
    work = tmp_path_factory.mktemp(f"crash-{backend}")
    dom = build_domain(
        work,
        prefix=f"kc{id(work) % 1000}-",
        mobile_nodes=1,
        backend=backend,
        lma_extra={"state_file": str(work / "state" / "lma.state")},
        mag_extra={"state_file": str(work / "state" / "{mag}.state")},
    )
    try:
        dom.probes.append(dom.lab.ns("cn").popen(sys.executable, str(PROBE), "echo", "7000"))
        yield dom
    finally:
        dom.close()


def crash_and_restart(dom, name: str, role: str, between=None) -> None:
    old = dom.agents[name]
    old.kill()
    if between is not None:
        between()
    dom.agents[name] = dom.lab.agent(old.ns, role, old.config, old.socket)


def ping_cn(dom, address: str) -> None:
    dom.mns["mn1"].ns.run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", address, CN)


def lma_routes(dom, prefix: str) -> str:
    return dom.agents["lma"].ns.run("ip", "-6", "route", "show", "table", "all", prefix).stdout


def echoed_after(out: Path, since: float) -> tuple[int, int]:
    """(datagrams sent after ``since`` (CLOCK_MONOTONIC), how many of them came back)."""
    data = json.loads(out.read_text())
    after = [s for s, t in data["sent"].items() if t > since - data["start"]]
    return len(after), sum(1 for s in after if s in data["echoed"])


def test_lma_killed_comes_back_with_the_binding_and_its_route(domain):
    dom = domain
    dom.associate("mn1", "ap1")
    address = dom.wait_address("mn1")
    ping_cn(dom, address)
    before = dom.binding("mn1")
    hnp = before["hnps"][0]
    mag_pbus = dom.agents["mag1"].counters().get("pbu_sent", 0)
    # A flow MN → CN → MN (the echo needs the LMA's route) runs through the crash.
    out = dom.work / "probe.json"
    mn = dom.mns["mn1"].ns
    probe = mn.popen(sys.executable, str(PROBE), "probe", CN, "7000", "0.01", "120", str(out))
    wait_for(lambda: Path(f"{out}.started").exists(), timeout=60, what="the probe's flow")
    time.sleep(0.5)
    crash_and_restart(dom, "lma", "lma")
    restarted = time.monotonic()
    time.sleep(1.5)
    probe.terminate()
    assert probe.wait(timeout=30) == 0
    sent, echoed = echoed_after(out, restarted)
    assert sent >= 50 and echoed == sent  # the flow continues once the LMA is back
    after = dom.binding("mn1")
    assert after is not None and after["hnps"] == before["hnps"]
    assert after["proxy_coa"] == MAGS["mag1"] and after["sequence"] == before["sequence"]
    counters = dom.agents["lma"].counters()
    assert counters["restored"] == 1
    assert counters.get("pbu_received", 0) == 0 and counters.get("registrations", 0) == 0
    assert dom.agents["lma"].call("status")["dataplane"]["routes_installed"] == 1
    assert hnp in lma_routes(dom, hnp)  # in the kernel again
    ping_cn(dom, address)  # CN → MN needs the LMA's route back; no PBU was needed
    assert dom.agents["mag1"].counters().get("pbu_sent", 0) == mag_pbus
    assert dom.agents["lma"].counters().get("pbu_received", 0) == 0


def test_mag_killed_serves_the_mn_again_without_a_pbu(domain):
    dom = domain
    address = dom.wait_address("mn1")
    lma_pbus = dom.agents["lma"].counters().get("pbu_received", 0)
    crash_and_restart(dom, "mag1", "mag")
    mag = dom.agents["mag1"]
    [row] = mag.bindings()
    assert row["state"] == "active" and row["hnps"] == dom.binding("mn1")["hnps"]
    assert row["interface"] == "acc0"
    assert mag.counters()["restored"] == 1
    assert mag.call("status")["access"]["acc0"]["served"] == 1  # its RAs again
    ping_cn(dom, address)  # the MAG's routes and rules are back
    assert mag.counters().get("pbu_sent", 0) == 0
    assert dom.agents["lma"].counters().get("pbu_received", 0) == lma_pbus


def test_a_torn_journal_tail_is_dropped_with_a_warning_and_the_rest_kept(domain):
    dom = domain
    address = dom.wait_address("mn1")
    state = dom.work / "state"
    torn: list = []

    def tear() -> None:
        journal = max(state.glob("lma.state.journal.*"), key=lambda p: int(p.suffix[1:]))
        size = journal.stat().st_size
        with journal.open("ab") as out:
            out.write(b'0000004f 1234abcd {"k":"2001:db8:')  # a write cut short
        torn.append((journal, size))

    crash_and_restart(dom, "lma", "lma", between=tear)
    [(journal, offset)] = torn
    log = dom.agents["lma"].log.read_text()
    assert f"saved state {journal}: torn or corrupt record at byte {offset} " in log
    assert dom.agents["lma"].counters()["restored"] == 1
    assert dom.binding("mn1")["proxy_coa"] == MAGS["mag1"]
    ping_cn(dom, address)
