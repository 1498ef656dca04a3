"""RFC 5847 heartbeat between the real agents, over real raw Mobility Header sockets.

An LMA that comes back without its binding cache (its state file removed: a new
disk, an operator's mistake) gets every binding back from the MAGs, which see its
Restart Counter change and re-register all their MNs at once, within two
heartbeat intervals of the LMA answering again. An LMA that stops answering is
shown down in the MAGs' status. A MAG that dies loses its bindings at the LMA once
it has been down for the configured grace period.
"""

from __future__ import annotations

import signal

import pytest

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import CN, LMA, MAGS, build_domain

pytestmark = pytest.mark.netns

INTERVAL = 1.0
"""HEARTBEAT_INTERVAL for this test bed, seconds (60 by default)."""
MARGIN = 0.5
"""Slack on top of the bound: polling, process scheduling on a shared 2-core machine."""


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok, backend):
    work = tmp_path_factory.mktemp(f"heartbeat-{backend}")
    heartbeat = {"heartbeat_interval": INTERVAL, "missing_heartbeats_allowed": 3}
    dom = build_domain(
        work,
        prefix=f"hb{id(work) % 1000}-",
        mobile_nodes=2,
        backend=backend,
        # No restart_counter_file: the counter sits beside the state file.
        lma_extra={"state_file": str(work / "lma.state"), **heartbeat},
        mag_extra=heartbeat,
    )
    try:
        yield dom
    finally:
        dom.close()


def lma_peer(dom, mag: str) -> dict | None:
    peers = dom.agents[mag].call("status")["heartbeat"]["peers"]
    return next((p for p in peers if p["address"] == LMA), None)


def ping_cn(dom, mn: str, address: str) -> None:
    dom.mns[mn].ns.run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-I", address, CN)


def test_lma_restart_without_its_state_is_repaired_by_the_mags(domain):
    dom = domain
    dom.associate("mn1", "ap1")
    dom.associate("mn2", "ap2")
    addresses = {mn: dom.wait_address(mn) for mn in ("mn1", "mn2")}
    before = {mn: dom.binding(mn) for mn in ("mn1", "mn2")}
    assert {b["proxy_coa"] for b in before.values()} == set(MAGS.values())
    for mag in MAGS:
        wait_for(
            lambda mag=mag: (lma_peer(dom, mag) or {}).get("restart_counter") == 1,
            timeout=2 * INTERVAL + MARGIN,
            what=f"{mag} to learn the LMA's restart counter",
        )
    lma_status = dom.agents["lma"].call("status")["heartbeat"]
    assert lma_status["restart_counter"] == 1
    assert {p["address"] for p in lma_status["peers"]} == set(MAGS.values())

    old = dom.agents["lma"]
    old.stop()  # saves its state on SIGTERM ...
    state = dom.work / "lma.state"
    assert state.exists()
    # ... which is then lost: the snapshot and its journals (daemon/store.py).
    for path in [state, *dom.work.glob("lma.state.journal.*")]:
        path.unlink()
    assert (dom.work / "lma.state.restart-counter").read_text() == "1\n"
    dom.agents["lma"] = dom.lab.agent(old.ns, "lma", old.config, old.socket)
    # Came back empty: nothing restored (its bindings may already be coming back,
    # since a MAG whose heartbeat sees the new restart counter re-registers at once,
    # so the binding table alone cannot show it on a loaded machine).
    assert dom.agents["lma"].counters().get("restored", 0) == 0, "the LMA came back empty"
    assert dom.agents["lma"].call("status")["heartbeat"]["restart_counter"] == 2

    # Every MN back, at the same MAG with the same prefix, within two intervals.
    wait_for(
        lambda: all(dom.binding(mn) for mn in before),
        timeout=2 * INTERVAL + MARGIN,
        what="every binding re-registered at the restarted LMA",
    )
    for mn, row in before.items():
        after = dom.binding(mn)
        assert (after["proxy_coa"], after["hnps"]) == (row["proxy_coa"], row["hnps"])
    for mag in MAGS:
        counters = dom.agents[mag].counters()
        assert counters["heartbeat.peer_restarted"] == 1
        assert counters["reregistered"] == 1
        assert lma_peer(dom, mag)["restart_counter"] == 2
    for mn, address in addresses.items():
        ping_cn(dom, mn, address)  # the restarted LMA routes towards the MAGs again


def test_a_silent_lma_is_shown_down(domain):
    dom = domain
    dom.agents["lma"].stop()
    # Down at the third unanswered request: at most four intervals after the last answer.
    for mag in MAGS:
        row = wait_for(
            lambda mag=mag: (p := lma_peer(dom, mag)) and p["state"] == "down" and p,
            timeout=(3 + 1) * INTERVAL + MARGIN,
            what=f"{mag} to show the LMA down",
        )
        assert row["missed"] >= 3
        assert dom.agents[mag].counters()["heartbeat.peer_down"] == 1
        assert "is down: 3 heartbeats unanswered" in dom.agents[mag].log.read_text()


# --------------------------------------------------------------------------- a dead MAG

GRACE = 2.0
"""peer_down_grace for the test bed below, seconds (off by default)."""


@pytest.fixture
def grace_domain(tmp_path, netns_ok, backend):
    heartbeat = {"heartbeat_interval": INTERVAL, "missing_heartbeats_allowed": 3}
    dom = build_domain(
        tmp_path / "grace",
        prefix=f"hg{id(tmp_path) % 1000}-",
        mobile_nodes=2,
        backend=backend,
        lma_extra={"peer_down_grace": GRACE, **heartbeat},
        mag_extra=heartbeat,
    )
    try:
        yield dom
    finally:
        dom.close()


def lma_routes(dom) -> str:
    return dom.agents["lma"].ns.run("ip", "-6", "route", "show", "table", "all").stdout


def test_the_lma_removes_the_bindings_of_a_mag_dead_past_the_grace(grace_domain):
    dom = grace_domain
    dom.associate("mn1", "ap1")
    dom.associate("mn2", "ap2")
    addresses = {mn: dom.wait_address(mn) for mn in ("mn1", "mn2")}
    hnp1 = dom.binding("mn1")["hnps"][0]
    assert hnp1 in lma_routes(dom)
    wait_for(
        lambda: all(
            p["state"] == "up" for p in dom.agents["lma"].call("status")["heartbeat"]["peers"]
        ),
        timeout=2 * INTERVAL + MARGIN,
        what="both MAGs answering the LMA",
    )
    dom.agents["mag1"].signal(signal.SIGKILL)  # dies without a word: no de-registration
    # Down at the third miss (at most four intervals), removed once the grace has
    # passed, at the next heartbeat tick (one more interval).
    wait_for(
        lambda: dom.binding("mn1") is None,
        timeout=(3 + 1) * INTERVAL + GRACE + INTERVAL + MARGIN,
        what="mn1's binding removed with its dead MAG",
    )
    assert hnp1 not in lma_routes(dom), "its route went with it"
    counters = dom.agents["lma"].counters()
    assert counters["heartbeat.peer_expired"] == 1 and counters["heartbeat.bindings_removed"] == 1
    assert dom.binding("mn2")["proxy_coa"] == MAGS["mag2"], "the other MAG's MN stays"
    ping_cn(dom, "mn2", addresses["mn2"])
