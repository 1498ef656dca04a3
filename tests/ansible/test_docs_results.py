"""The committed full-run report (docs/results) agrees with its own raw data.

docs/results holds a 10-runs-per-scenario run of playbooks/experiment.yml on the
emulated lab. Its Table II must be what results.json says, and results.json's
phases what its packet timestamps say: the report is regenerated, never edited.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pmipv6_test_helpers import assert_table_ii_is

from pmip6d_lab.experiment import layout
from pmip6d_lab.experiment.analysis import PHASES

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"

# Each phase from the packet timestamps it is defined by (Table II's definitions).
PHASE_TIMES = {
    "l2_to_pbu_ms": ("l2_at", "pbu_at"),
    "pbu_to_pba_ms": ("pbu_at", "pba_at"),
    "pba_to_ra_ms": ("pba_at", "ra_at"),
    "total_ms": ("l2_at", "ra_at"),
}


@pytest.fixture(scope="module")
def runs():
    return json.loads((RESULTS / "results.json").read_text())["runs"]


def test_ten_complete_runs_per_scenario(runs):
    for scenario in (1, 2, 3):
        mine = [r for r in runs if r["scenario"] == scenario and not r["long_observation"]]
        assert len(mine) == 10, scenario
        assert all(r["pba_status"] == 0 for r in mine)
    # Scenario 1 to the end: the long runs the settings asked for, numbered after the ten.
    settings = json.loads((RESULTS / "settings.json").read_text())
    long = [r for r in runs if r["long_observation"]]
    assert settings["long_runs"] >= 3 and len(long) == settings["long_runs"]
    assert {(r["scenario"], r["run"]) for r in long} == {
        (1, 10 + k) for k in range(1, settings["long_runs"] + 1)
    }


def test_phases_are_the_packet_timestamps(runs):
    assert set(PHASE_TIMES) == set(PHASES)
    for row in runs:
        for phase, (start, end) in PHASE_TIMES.items():
            assert row[phase] == pytest.approx((row[end] - row[start]) * 1000, abs=0.002), (
                row["run_id"],
                phase,
            )


def test_table_ii_is_results_json(runs):
    assert_table_ii_is((RESULTS / "report.md").read_text(), runs)


def test_csv_and_json_hold_the_same_runs(runs):
    with (RESULTS / "results.csv").open(newline="") as f:
        rows = {r["run_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {r["run_id"] for r in runs}
    for row in runs:
        for phase in PHASES:
            assert float(rows[row["run_id"]][phase]) == pytest.approx(row[phase])


def test_the_report_shows_every_figure():
    text = (RESULTS / "report.md").read_text()
    for name in layout.FIGURES.values():
        assert (RESULTS / name).stat().st_size > 10_000, name
        assert f"]({name})" in text
