"""Restarting an agent (an upgrade, a config change) keeps the bindings it had accepted.

The agent saves its bindings (every change, and a snapshot on SIGTERM) and takes
them back at start: the LMA reinstalls the routes, the MAG serves its MNs again
and refreshes them when their timers say. A crash (SIGKILL): test_crash_restart.py.
"""

from __future__ import annotations

import pytest

from pmip6d_lab.nsdomain import CN, MAGS, build_domain

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok, backend):
    work = tmp_path_factory.mktemp(f"restart-{backend}")
    dom = build_domain(
        work,
        prefix=f"rs{id(work) % 1000}-",
        mobile_nodes=1,
        backend=backend,
        lma_extra={"state_file": str(work / "lma.state")},
        mag_extra={"state_file": str(work / "{mag}.state")},
    )
    try:
        yield dom
    finally:
        dom.close()


def restart(dom, name: str, role: str) -> None:
    old = dom.agents[name]
    old.stop()
    dom.agents[name] = dom.lab.agent(old.ns, role, old.config, old.socket)


def ping_cn(dom, address: str) -> None:
    dom.mns["mn1"].ns.run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-I", address, CN)


def test_lma_restart_keeps_the_binding_and_its_route(domain):
    dom = domain
    dom.associate("mn1", "ap1")
    address = dom.wait_address("mn1")
    before = dom.binding("mn1")
    restart(dom, "lma", "lma")
    after = dom.binding("mn1")
    assert after is not None and after["hnps"] == before["hnps"]
    assert after["proxy_coa"] == MAGS["mag1"]
    assert dom.agents["lma"].counters()["restored"] == 1
    ping_cn(dom, address)  # CN → MN needs the LMA's route back


def test_mag_restart_serves_again_with_no_pbu(domain):
    dom = domain
    address = dom.wait_address("mn1")
    pbus = dom.agents["lma"].counters().get("pbu_received", 0)
    restart(dom, "mag1", "mag")
    rows = dom.agents["mag1"].bindings()
    assert rows and rows[0]["hnps"] == dom.binding("mn1")["hnps"]
    assert rows[0]["state"] == "active"
    ping_cn(dom, address)  # the MAG's routes and rules are back
    # The binding still holds at the LMA: the refresh waits for its timer.
    assert dom.agents["lma"].counters().get("pbu_received", 0) == pbus
