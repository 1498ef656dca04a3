"""playbooks/experiment.yml on the emulated lab (rootful podman containers on this machine).

Builds the lab with site.yml, runs the paper's three scenarios with one handover each
(UDP and TCP through the same handover), then checks: every run complete and captured in
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


def run_experiment(out):
    """playbooks/experiment.yml into ``out``, one run per scenario: (rc, log, seconds)."""
    return playbook(
        "playbooks/experiment.yml",
        "-i",
        INVENTORY,
        "-e",
        f"pmipv6_experiment_dir={out}",
        "-e",
        "pmipv6_experiment_runs=1",
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
    assert "TASK [Show the Table II summary and where the report is]" in log
    assert "Table II (ours: scenario 2, 1 handovers, ms)" in log
    hosts = recap(log)
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in hosts.values()), hosts


def test_every_run_is_complete_and_captured_in_the_lab(experiment):
    out, _unused = experiment
    refs = layout.find_runs(out, include_incomplete=True)
    assert [(r.scenario, r.run, r.kind, r.done) for r in refs] == [
        (sc, 1, "both", True) for sc in (1, 2, 3)
    ]
    for ref in refs:
        meta = layout.read_meta(ref.path)
        tb = meta["testbed"]
        assert tb["kind"] == "podman" and tb["shared_addresses"] is (ref.scenario != 1)
        assert tb["tunnels"] == ("dynamic" if ref.scenario == 3 else "static")
        assert tb["containers"]["lma"]["container"] == "pmipv6t-lma"
        assert meta["mn"]["name"] == f"xs{ref.scenario}r01"
        assert meta["mn"]["hnp"] == f"2001:db8:e{ref.scenario}:1::/64"
        assert meta["mn"]["address"].startswith(f"2001:db8:e{ref.scenario}:1:")
        macs = {m["access_mac"] for m in meta["mags"].values()}
        assert len(macs) == (2 if ref.scenario == 1 else 1), macs
        for cap in meta["captures"]:
            assert (ref.path / cap["file"]).stat().st_size > 24, cap
            assert cap["dropped"] in (0, None), cap
        namespaces = {c["namespace"] for c in meta["captures"]}
        assert sum(ns.startswith("pid:") for ns in namespaces) == 4  # LMA, MAG1, MAG2, CN
        assert f"pmipv6t-air-xs{ref.scenario}r01" in namespaces
    # Each run removed its MN.
    assert not list(Path("/run/netns").glob("pmipv6t-air-xs*"))


def test_table_ii_is_results_json_exactly(experiment):
    out, _unused = experiment
    rows = json.loads((out / layout.RESULTS_JSON).read_text())["runs"]
    assert {(r["run"], r["kind"]) for r in rows if r["scenario"] == 2} == {(1, "both")}
    assert_table_ii_is((out / layout.REPORT).read_text(), rows)


def test_results_json_is_what_the_captures_say(experiment):
    out, _unused = experiment
    rows = {r["run_id"]: r for r in json.loads((out / layout.RESULTS_JSON).read_text())["runs"]}
    for ref in layout.find_runs(out):
        again = analysis.analyze_run(ref.path)
        row = rows[ref.run_id]
        for key in (*PHASES, "udp_latency_ms", "tcp_stall_ms", "tcp_recovered", "pba_status"):
            assert again[key] == row[key], (ref.run_id, key)
        assert row["pba_status"] == 0 and row["udp_recovered"] is True, row
    # The paper's contrast, with per-MAG addresses and with shared ones.
    assert rows["s1/run-01-both"]["tcp_recovered"] is False
    assert rows["s1/run-01-both"]["uplink_to_old_mac"] > 0
    assert rows["s2/run-01-both"]["tcp_recovered"] is True
    assert rows["s3/run-01-both"]["tcp_recovered"] is True
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
