"""The figures README.md's *The main job* quotes are the committed run's (issue 14).

Each is recomputed here from docs/results (results.json, durations.json): a README that
keeps an old figure after the report was regenerated fails, naming the figure.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from pmip6d_lab.experiment.report import table_ii_rows, table_ii_summary

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


@pytest.fixture(scope="module")
def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## The main job")
    return text[start : text.index("\n## ", start + 1)]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return json.loads((RESULTS / "results.json").read_text())["runs"]


def one(section: str, pattern: str) -> tuple[str, ...]:
    found = re.findall(pattern, re.sub(r"\s+", " ", section))
    assert len(found) == 1, f"README.md's main job section: {pattern!r} found {len(found)} times"
    return found[0] if isinstance(found[0], tuple) else (found[0],)


def _short(rows: list[dict], scenario: int) -> list[dict]:
    return [r for r in rows if r["scenario"] == scenario and not r["long_observation"]]


def _median(rows: list[dict], key: str, ok: str) -> float:
    return statistics.median(r[key] for r in rows if r.get(ok) is True)


def test_table_ii(section, rows):
    total = table_ii_summary(table_ii_rows(rows))["total_ms"]
    avg, p50 = one(section, r"takes ([\d.]+) ms on average, p50 ([\d.]+) ms")
    assert (float(avg), float(p50)) == (round(total["average"], 2), round(total["p50"], 2))


def test_udp_both_directions(section, rows):
    s1, s2, s3 = (_short(rows, sc) for sc in (1, 2, 3))
    down, up = one(section, r"median ([\d.]+) ms CN → MN and ([\d.]+) ms MN → CN")
    assert float(down) == round(_median(s2, "udp_latency_ms", "udp_recovered"), 2)
    assert float(up) == round(_median(s2, "udp_up_latency_ms", "udp_up_recovered"), 2)
    (dyn,) = one(section, r"\(([\d.]+) ms CN → MN: the new MAG's tunnel")
    assert float(dyn) == round(_median(s3, "udp_latency_ms", "udp_recovered"), 2)
    (s1_down,) = one(section, r"CN → MN is as fast \(median ([\d.]+) ms\)")
    assert float(s1_down) == round(_median(s1, "udp_latency_ms", "udp_recovered"), 2)
    stuck, of = one(section, r"did not resume within the observation in (\d+) of (\d+) runs")
    assert int(of) == len(s1)
    assert int(stuck) == sum(r["udp_up_recovered"] is False for r in s1)
    assert int(stuck) == sum(r["tcp_recovered"] is False for r in s1)


def test_scenario_one_to_the_end(section, rows):
    long = [r for r in rows if r["long_observation"]]
    n, median, low, high = one(
        section,
        r"\((\d+) long runs, observed 160 s\): the TCP stall lasted ([\d.]+) s "
        r"\(median; ([\d.]+)–([\d.]+) s\)",
    )
    stalls = [r["tcp_stall_ms"] / 1000 for r in long if r["tcp_recovered"]]
    assert int(n) == len(long) == len(stalls)
    assert float(median) == round(statistics.median(stalls), 1)
    assert (float(low), float(high)) == (round(min(stalls), 1), round(max(stalls), 1))


def test_main_job_durations(section):
    record = json.loads((RESULTS / "durations.json").read_text())
    steps = {s["name"].split(":")[0].split(" (")[0]: s["seconds"] for s in record["steps"]}
    total, setup, lab, experiment = one(
        section,
        r"(\d+) s \(\[docs/results/durations\.json\]\(docs/results/durations\.json\): "
        r"set-up (\d+) s, the lab (\d+) s, the experiment (\d+) s",
    )
    assert int(total) == record["total_seconds"]
    assert (int(setup), int(lab), int(experiment)) == (
        steps["set-up"],
        steps["lab"],
        steps["experiment"],
    )
    assert record["long_runs"] == 3 and "--long-runs 3" in section
