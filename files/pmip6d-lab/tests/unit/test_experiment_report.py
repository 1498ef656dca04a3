"""results.csv/json, report.md and the figures, on a tree of synthetic runs.

Includes the consistency check the project asked for: Table II is read back from
report.md and compared with numbers recomputed from the raw captures.
"""

from __future__ import annotations

import csv
import json
import math
import statistics

import pytest
from test_experiment_synthetic import write_run

from pmip6d_lab.experiment import analysis, layout, report
from pmip6d_lab.experiment.__main__ import main
from pmip6d_lab.experiment.analysis import PHASES

# Per run of scenario 2, the event times (ms after the move) → distinct Table II rows.
S2_PHASES = {
    1: {"l2": 0.5, "pbu": 1.5, "pba": 3.0, "ra": 4.2},
    2: {"l2": 0.4, "pbu": 2.4, "pba": 2.9, "ra": 3.1},
    3: {"l2": 0.9, "pbu": 1.2, "pba": 5.2, "ra": 5.5},
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    for scenario in (1, 2, 3):
        for run in (1, 2, 3):
            phases = S2_PHASES[run] if scenario == 2 else None
            write_run(
                root,
                scenario,
                run,
                "udp",
                phases=phases,
                pba_status=157 if (scenario, run) == (3, 2) else 0,
            )
            write_run(
                root,
                scenario,
                run,
                "tcp",
                phases=phases,
                tcp="stuck" if scenario == 1 else "resumed",
            )
    write_run(root, 2, 4, "udp", done=False)  # interrupted: must be ignored
    (root / "settings.json").write_text(
        json.dumps(
            {
                "runs": 3,
                "udp_rate_bps": 1_000_000,
                "udp_length": 125,
                "tcp_rate_bps": 20_000_000,
                "before_s": 0.3,
                "udp_after_s": 0.3,
                "tcp_after_s": 0.3,
            }
        )
    )
    rows = report.write_results(root)
    files = report.write_report(root, rows)
    return root, rows, files


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


def test_results_have_one_row_per_complete_run(tree):
    root, rows, _unused = tree
    assert len(rows) == 18
    doc = json.loads((root / layout.RESULTS_JSON).read_text())
    assert len(doc["runs"]) == 18
    assert doc["incomplete_runs"] == ["s2/run-04-udp"]
    with open(root / layout.RESULTS_CSV) as f:
        table = list(csv.reader(f))
    assert table[0] == [*analysis.COLUMNS, "not_measured", "remarks"]
    assert len(table) == 19
    by_id = {r[0]: dict(zip(table[0], r, strict=True)) for r in table[1:]}
    assert float(by_id["s2/run-01-udp"]["total_ms"]) == 3.7
    assert by_id["s1/run-01-tcp"]["tcp_recovered"] == "False"
    assert "stall > " in by_id["s1/run-01-tcp"]["remarks"]
    assert by_id["s3/run-02-udp"]["pba_status"] == "157"
    assert "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED" in by_id["s3/run-02-udp"]["not_measured"]


def test_table_ii_in_the_report_matches_the_raw_captures(tree):
    """Read Table II back from report.md; recompute every number from the pcaps."""
    root, _unused, _unused = tree
    table = report.parse_table_ii((root / layout.REPORT).read_text())
    recomputed = {}
    for ref in layout.find_runs(root):
        if ref.scenario == 2:
            row = analysis.analyze_run(ref.path)  # straight from the captures
            recomputed[(ref.run, ref.kind)] = {k: row[k] for k in PHASES}
    assert (
        set(table["runs"]) == set(recomputed) == {(r, k) for r in (1, 2, 3) for k in ("udp", "tcp")}
    )
    for key, phases in recomputed.items():
        for phase, value in phases.items():
            assert table["runs"][key][phase] == pytest.approx(value, abs=5e-4), (key, phase)
    for phase in PHASES:
        values = [p[phase] for p in recomputed.values()]
        assert table["average"][phase] == pytest.approx(statistics.fmean(values), abs=5e-4)
        assert table["p50"][phase] == pytest.approx(nearest_rank(values, 50), abs=5e-4)
        assert table["p99"][phase] == pytest.approx(nearest_rank(values, 99), abs=5e-4)
    # And the synthetic events say exactly what the table must hold.
    assert table["runs"][(2, "udp")] == {
        "l2_to_pbu_ms": 2.0,
        "pbu_to_pba_ms": 0.5,
        "pba_to_ra_ms": 0.2,
        "total_ms": 2.7,
    }
    assert table["average"]["total_ms"] == pytest.approx((3.7 + 2.7 + 4.6) / 3, abs=5e-4)


def test_table_ii_in_the_report_matches_results_json(tree):
    root, _unused, _unused = tree
    table = report.parse_table_ii((root / layout.REPORT).read_text())
    rows = json.loads((root / layout.RESULTS_JSON).read_text())["runs"]
    for row in rows:
        if row["scenario"] == 2:
            for phase in PHASES:
                assert table["runs"][(row["run"], row["kind"])][phase] == pytest.approx(
                    row[phase], abs=5e-4
                )


def test_report_has_the_papers_numbers_and_the_summaries(tree):
    root, _unused, _unused = tree
    text = (root / layout.REPORT).read_text()
    assert (
        "| Total PMIPv6 latency | 14.5 | 12.8 | 17.7 | 9.5 | 9.6 | 10.7 | 20.6 | 19.3 | 20 "
        "| 8.5 | 14.32 |" in text
    )
    assert "| L2 attachment – PBU | 9.2 | 4 | 3.2 |" in text
    assert "## UDP handover latency per scenario" in text
    assert "| 2 | CN → MN | 3 | 6.00 | 6.00 | 6.00 | 6.00 | 0 |" in text  # six 6.0 ms handovers
    assert "## TCP stall per scenario" in text
    assert "| 1 | 3 | 0 | n/m | n/m | n/m | 3: > 2.0 s |" in text
    assert "| 2 | 3 | 3 | 211.0 | 211.0 | 211.0 | 0 |" in text
    assert "s3/run-02-udp: PBA status 157 TIMESTAMP_LOWER_THAN_PREV_ACCEPTED" in text
    assert "incomplete runs (ignored): s2/run-04-udp" in text


def test_figures_are_png_files(tree):
    root, _unused, files = tree
    names = {p.name for p in files[1:]}
    assert names == set(layout.FIGURES.values())
    for path in files[1:]:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", path
        assert len(data) > 20_000, path
        assert f"]({path.name})" in (root / layout.REPORT).read_text()


def test_cli_analyze_and_report(tree, capsys):
    root, _unused, _unused = tree
    (root / layout.REPORT).unlink()
    assert main(["analyze", str(root)]) == 0
    assert not (root / layout.REPORT).exists()
    assert main(["report", str(root)]) == 0
    assert (root / layout.REPORT).exists()
    assert "18 runs analyzed" in capsys.readouterr().out


def test_cli_refuses_a_missing_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([1.0], 99, 1.0),
        ([3.0, 1.0, 2.0], 50, 2.0),
        (list(range(1, 11)), 99, 10),
        (list(range(1, 11)), 50, 5),
        (list(range(1, 101)), 99, 99),
        ([], 50, None),
    ],
)
def test_nearest_rank_percentile(values, q, expected):
    assert report.percentile(values, q) == expected


def test_find_runs_orders_and_skips_incomplete(tree):
    root, _unused, _unused = tree
    refs = layout.find_runs(root)
    assert len(refs) == 18
    assert [r.run_id for r in refs[:3]] == ["s1/run-01-udp", "s1/run-01-tcp", "s1/run-02-udp"]
    every = layout.find_runs(root, include_incomplete=True)
    assert [r.run_id for r in every if not r.done] == ["s2/run-04-udp"]


def test_set_up_states_the_main_jobs_durations(tmp_path):
    doc = {
        "job": "scripts/lab.sh",
        "commit": "abc1234",
        "started_at": "2026-12-07T16:30:00Z",
        "ended_at": "2026-12-07T16:38:02Z",
        "host": "vm",
        "kernel": "6.18.44-fc-v1300",
        "image_before": "present",
        "steps": [
            {"name": "set-up (scripts/setup.sh)", "seconds": 12},
            {"name": "lab: site.yml (image present)", "seconds": 180},
            {"name": "experiment: playbooks/experiment.yml", "seconds": 290},
        ],
        "total_seconds": 482,
    }
    assert not any("main job" in line for line in report._settings_md(tmp_path, []))
    (tmp_path / layout.DURATIONS_JSON).write_text(json.dumps(doc))
    lines = [line for line in report._settings_md(tmp_path, []) if "main job" in line]
    assert len(lines) == 1
    assert "commit abc1234): 8 min 2 s, 2026-12-07T16:30:00Z to 2026-12-07T16:38:02Z" in lines[0]
    assert "on vm (kernel 6.18.44-fc-v1300, image present at the start)" in lines[0]
    assert "experiment: playbooks/experiment.yml 290 s" in lines[0]
    # A damaged record is left out, not guessed at.
    (tmp_path / layout.DURATIONS_JSON).write_text('{"steps": []}')
    assert not any("main job" in line for line in report._settings_md(tmp_path, []))
