"""A short real experiment in namespaces: one UDP and one TCP run per scenario, analyzed.

The runner builds the paper's testbed three times (per-MAG addresses; shared
addresses with static, then dynamic tunnels), captures on every MAG, the LMA,
the MN and the CN, drives iperf3 across a roam AP1 → AP2, and writes the run
layout; the analysis and the report must then find everything in the
captures. Checked: completeness, sane values, the paper's scenario-1 finding
(TCP does not resume while the MN's default router is the vanished MAG), the
report's Table II against the raw captures, and resuming an interrupted run.
"""

from __future__ import annotations

import json

import pytest

from pmip6d_lab.experiment import analysis, layout, report
from pmip6d_lab.experiment.analysis import PHASES
from pmip6d_lab.experiment.namespace_run import run_namespace_experiment
from pmip6d_lab.experiment.settings import Settings

pytestmark = pytest.mark.netns

SETTINGS = Settings(before_s=0.6, udp_after_s=0.8, tcp_after_s=1.5, settle_s=0.1)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, netns_ok):
    out = tmp_path_factory.mktemp("experiment")
    lines: list[str] = []
    done = run_namespace_experiment(
        out, runs=1, settings=SETTINGS, progress=lines.append, prefix=f"xt{id(out) % 1000}"
    )
    rows = report.write_results(out)
    files = report.write_report(out, rows)
    return out, done, rows, files, lines


def by_id(rows):
    return {r["run_id"]: r for r in rows}


def test_every_run_is_complete(experiment):
    out, done, rows, _unused, lines = experiment
    assert len(done) == 6, lines
    assert sorted(r["run_id"] for r in rows) == sorted(
        f"s{s}/run-01-{k}" for s in (1, 2, 3) for k in ("udp", "tcp")
    )
    for ref in layout.find_runs(out):
        meta = layout.read_meta(ref.path)
        assert meta["scenario"] == ref.scenario and meta["kind"] == ref.kind
        assert meta["testbed"]["shared_addresses"] is (ref.scenario != 1)
        assert meta["testbed"]["tunnels"] == ("dynamic" if ref.scenario == 3 else "static")
        for cap in meta["captures"]:
            assert (ref.path / cap["file"]).stat().st_size > 24, cap
            assert cap["dropped"] in (0, None), cap
        assert meta["handover"]["move_started_at"] <= meta["handover"]["moved_at"]
        assert meta["traffic"]["stopped_at"] > meta["handover"]["moved_at"]
        assert (ref.path / layout.IPERF_CLIENT).stat().st_size > 0
    assert any("[6/6]" in line for line in lines), lines


def test_signaling_is_measured_from_the_packets(experiment):
    _unused, _unused, rows, _unused, _unused = experiment
    for row in rows:
        assert row["l2_to_pbu_ms"] is not None, row["not_measured"]
        if row["pba_status"] not in (0, None):
            # The LMA rejected the new MAG (a race with the old MAG's de-registration, see
            # the report): then there is no RA to time, and the analysis says why.
            assert row["not_measured"]["total_ms"], row
            continue
        assert row["pba_status"] == 0, row
        for phase in PHASES:
            assert 0 < row[phase] < 500, (row["run_id"], phase, row[phase])
        assert row["total_ms"] == pytest.approx(
            row["l2_to_pbu_ms"] + row["pbu_to_pba_ms"] + row["pba_to_ra_ms"], abs=0.002
        )
        assert 0 <= row["move_to_l2_ms"] < 100
        assert 0 < row["lma_pbu_to_pba_ms"] <= row["pbu_to_pba_ms"]


def test_udp_across_the_handover(experiment):
    _unused, _unused, rows, _unused, _unused = experiment
    for sc in (1, 2):
        row = by_id(rows)[f"s{sc}/run-01-udp"]
        assert row["udp_recovered"] is True, row
        assert row["udp_interval_ms"] == 1.0
        assert 0 < row["udp_latency_ms"] < 500, row
        assert row["udp_received"] > 1000
        assert row["udp_lost"] < 100


def test_tcp_scenario_1_stalls_and_scenario_2_resumes(experiment):
    _unused, _unused, rows, _unused, _unused = experiment
    s1, s2 = by_id(rows)["s1/run-01-tcp"], by_id(rows)["s2/run-01-tcp"]
    # Per-MAG addresses: the MN keeps sending to its old default router, which is gone.
    assert s1["tcp_recovered"] is False, s1
    assert s1["tcp_stall_ms"] > 1000
    assert s1["uplink_to_old_mac"] > 0 and s1["uplink_to_new_mac"] == 0
    assert "stall >" in s1["remarks"]["tcp_recovered"]
    # One link-local address and MAC on every MAG: the transfer goes on.
    assert s2["tcp_recovered"] is True, s2
    assert 0 < s2["tcp_stall_ms"] < 1000
    assert s2["tcp_bytes"] > 1_000_000


def test_report_table_ii_matches_the_captures(experiment):
    out, _unused, _unused, files, _unused = experiment
    table = report.parse_table_ii((out / layout.REPORT).read_text())
    runs = [ref for ref in layout.find_runs(out) if ref.scenario == 2]
    assert set(table["runs"]) == {(ref.run, ref.kind) for ref in runs}
    for ref in runs:
        row = analysis.analyze_run(ref.path)  # recomputed from the pcaps
        for phase in PHASES:
            if row[phase] is None:
                assert table["runs"][(ref.run, ref.kind)][phase] is None
            else:
                assert table["runs"][(ref.run, ref.kind)][phase] == pytest.approx(
                    row[phase], abs=5e-4
                )
    assert {p.name for p in files[1:]} == set(layout.FIGURES.values())
    for path in files[1:]:
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_resume_redoes_only_incomplete_runs(experiment):
    out, _unused, _unused, _unused, _unused = experiment
    # Nothing left to do: returns at once, touching nothing.
    assert (
        run_namespace_experiment(out, runs=1, settings=SETTINGS, progress=lambda _unused: None)
        == []
    )
    # An interrupted run (no marker) is redone, and only that one.
    target = layout.run_dir(out, 2, 1, "udp")
    before = {ref.run_id: (ref.path / layout.META).stat().st_mtime for ref in layout.find_runs(out)}
    (target / layout.DONE).unlink()
    (target / "leftover.pcap").write_bytes(b"half a capture")
    lines: list[str] = []
    done = run_namespace_experiment(
        out, scenarios=(2,), runs=1, kinds=("udp",), settings=SETTINGS, progress=lines.append
    )
    assert done == [target], lines
    assert not (target / "leftover.pcap").exists()
    assert layout.is_done(target)
    after = {ref.run_id: (ref.path / layout.META).stat().st_mtime for ref in layout.find_runs(out)}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"s2/run-01-udp"}
    assert json.loads((target / layout.META).read_text())["kind"] == "udp"
