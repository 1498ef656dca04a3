"""playbooks/experiment.yml on the emulated lab (rootful podman containers on this machine).

Builds the lab with site.yml, runs the paper's three scenarios with one handover each
(UDP both ways and TCP through the same handover) and one long scenario-1 run (observed
LONG_AFTER s, its stall read to the end), then checks: every run complete and captured in
the containers' namespaces; report.md's Table II exactly what results.json says (each
cell, and average, p50, p99 recomputed); results.json what the captures say; a second
call resumes — nothing reconfigured, nothing re-run. Tears the lab down at the end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pmipv6_test_helpers import assert_table_ii_is, playbook, recap

from pmip6d_lab.experiment import analysis, layout
from pmip6d_lab.experiment.analysis import PHASES

pytestmark = pytest.mark.podman

# inventories/emulated under the test suite's own names (pmipv6t-*), so that a
# lab left up by scripts/lab.sh (pmipv6-*) is neither in the way nor touched.
INVENTORY = "tests/inventories/emulated"


@pytest.fixture(scope="module")
def lab(podman_ok):
    try:
        rc, out, seconds = playbook("site.yml", "-i", INVENTORY)
        assert rc == 0, out[-5000:]
        print(f"site.yml: {seconds:.0f} s")
        yield
    finally:
        rc, out, _seconds = playbook("playbooks/teardown.yml", "-i", INVENTORY, timeout=600)
        assert rc == 0, out[-3000:]


LONG_AFTER = 40
"""The long run's observation, s: on this lab the stall ends after ≈ 14-27 s (the CN's
retransmission after the MN gave up its old router); the main job observes 160 s."""


def run_experiment(out):
    """playbooks/experiment.yml into ``out``, one run per scenario and one long run of
    scenario 1: (rc, log, seconds)."""
    return playbook(
        "playbooks/experiment.yml",
        "-i",
        INVENTORY,
        "-e",
        f"pmipv6_experiment_dir={out}",
        "-e",
        "pmipv6_experiment_runs=1",
        "-e",
        "pmipv6_experiment_long_runs=1",
        "-e",
        f"pmipv6_experiment_long_after={LONG_AFTER}",
    )


@pytest.fixture(scope="module")
def experiment(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("experiment")
    rc, log, seconds = run_experiment(out)
    print(f"experiment.yml, 1 run per scenario: {seconds:.0f} s")
    assert rc == 0, log[-6000:]
    return out, log


def test_one_line_per_run_and_the_summary(experiment):
    _unused, log = experiment
    for sc in (1, 2, 3):
        assert f"changed: [localhost] => (item=scenario {sc} run 01 of 1)" in log
        assert re.search(rf"s{sc}/run-01-both xs{sc}r01: L2→RA [0-9.]+ ms;", log), sc
    assert "changed: [localhost] => (item=scenario 1 run 02 (long observation))" in log
    assert "TASK [Show the Table II summary and where the report is]" in log
    assert "Table II (ours: scenario 2, 1 handovers, ms)" in log
    hosts = recap(log)
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in hosts.values()), hosts


def test_every_run_is_complete_and_captured_in_the_lab(experiment):
    out, _unused = experiment
    refs = layout.find_runs(out, include_incomplete=True)
    assert [(r.scenario, r.run, r.kind, r.done) for r in refs] == [
        (1, 1, "both", True),
        (1, 2, "both", True),
        (2, 1, "both", True),
        (3, 1, "both", True),
    ]
    for ref in refs:
        meta = layout.read_meta(ref.path)
        tb = meta["testbed"]
        assert tb["kind"] == "podman" and tb["shared_addresses"] is (ref.scenario != 1)
        assert tb["tunnels"] == ("dynamic" if ref.scenario == 3 else "static")
        assert tb["containers"]["lma"]["container"] == "pmipv6t-lma"
        assert meta["mn"]["name"] == f"xs{ref.scenario}r{ref.run:02d}"
        assert meta["mn"]["hnp"] == f"2001:db8:e{ref.scenario}:{ref.run}::/64"
        assert meta["mn"]["address"].startswith(f"2001:db8:e{ref.scenario}:{ref.run}:")
        macs = {m["access_mac"] for m in meta["mags"].values()}
        assert len(macs) == (2 if ref.scenario == 1 else 1), macs
        for cap in meta["captures"]:
            assert (ref.path / cap["file"]).stat().st_size > 24, cap
            assert cap["dropped"] in (0, None), cap
        namespaces = {c["namespace"] for c in meta["captures"]}
        assert sum(ns.startswith("pid:") for ns in namespaces) == 4  # LMA, MAG1, MAG2, CN
        assert f"pmipv6t-air-xs{ref.scenario}r{ref.run:02d}" in namespaces
    # Each run removed its MN.
    assert not list(Path("/run/netns").glob("pmipv6t-air-xs*"))


def test_table_ii_is_results_json_exactly(experiment):
    out, _unused = experiment
    rows = json.loads((out / layout.RESULTS_JSON).read_text())["runs"]
    assert {(r["run"], r["kind"]) for r in rows if r["scenario"] == 2} == {(1, "both")}
    # The long run is not one of the ten-run tables' (nor Table II's: scenario 1 anyway).
    assert [r["run_id"] for r in rows if r["long_observation"]] == ["s1/run-02-both"]
    assert_table_ii_is((out / layout.REPORT).read_text(), rows)


def test_results_json_is_what_the_captures_say(experiment):
    out, _unused = experiment
    rows = {r["run_id"]: r for r in json.loads((out / layout.RESULTS_JSON).read_text())["runs"]}
    for ref in layout.find_runs(out):
        again = analysis.analyze_run(ref.path)
        row = rows[ref.run_id]
        keys = (*PHASES, "udp_latency_ms", "udp_up_latency_ms", "tcp_stall_ms", "tcp_recovered")
        for key in (*keys, "pba_status", "stall_ended_by"):
            assert again[key] == row[key], (ref.run_id, key)
        assert row["pba_status"] == 0 and row["udp_recovered"] is True, row
    # The paper's contrast, with per-MAG addresses and with shared ones: TCP, and UDP in
    # the direction that depends on the MN's default router (MN → CN); CN → MN resumes.
    s1, s2, s3 = (rows[f"s{sc}/run-01-both"] for sc in (1, 2, 3))
    assert s1["tcp_recovered"] is False and s1["uplink_to_old_mac"] > 0
    assert s1["udp_up_recovered"] is False and s1["udp_up_lost"] > 0
    for row in (s2, s3):
        assert row["tcp_recovered"] is True and row["udp_up_recovered"] is True, row
        assert row["stall_ended_by"] is None  # the MN's router never left
    figures = {p.name for p in out.glob("*.png")}
    assert figures == set(layout.FIGURES.values())


def test_the_long_run_reads_what_ended_the_stall(experiment):
    out, _unused = experiment
    rows = {r["run_id"]: r for r in json.loads((out / layout.RESULTS_JSON).read_text())["runs"]}
    long = rows["s1/run-02-both"]
    assert long["long_observation"] is True and long["udp_up_latency_ms"] is None
    assert long["tcp_window_s"] >= LONG_AFTER
    # Neighbour unreachability detection of the old router, never answered.
    assert long["old_router_probes"] >= 1 and long["old_router_answered"] is False
    if long["tcp_recovered"]:
        # The MN switched to the new MAG, then a retransmission of the CN got through.
        assert long["first_uplink_to_new_mac_ms"] <= long["tcp_resumed_ms"]
        assert long["tcp_resumed_by_retrans_ms"] <= long["tcp_resumed_ms"]
        assert long["tcp_stall_ms"] > 1000 and "TCP resumed at" in long["stall_ended_by"]
    else:
        assert long["tcp_stall_ms"] >= 0.9 * LONG_AFTER * 1000
        assert "had not resumed" in long["stall_ended_by"]
    report = (out / layout.REPORT).read_text()
    assert "## Scenario 1 to the end (long observation)" in report
    assert f"* **s1/run-02-both**: {long['stall_ended_by']}." in report
    figures = {p.name for p in out.glob("*.png")}
    assert figures == set(layout.FIGURES.values())


def test_a_second_call_resumes(experiment):
    out, _unused = experiment
    before = {r.run_id: (r.path / layout.META).stat().st_mtime for r in layout.find_runs(out)}
    rc, log, seconds = run_experiment(out)
    assert rc == 0, log[-5000:]
    print(f"experiment.yml again, nothing to do: {seconds:.0f} s")
    assert "0 runs to do" in log
    assert "(item=scenario" not in log
    changed = {h: r["changed"] for h, r in recap(log).items() if h != "localhost" and r["changed"]}
    assert changed == {}, changed
    after = {r.run_id: (r.path / layout.META).stat().st_mtime for r in layout.find_runs(out)}
    assert after == before
    assert (out / layout.REPORT).exists()
