"""Shared helpers of the collection's playbook-level tests (run with the repo's .venv)."""

from __future__ import annotations

import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def playbook(*args: str, timeout: float = 1800, env: dict | None = None, cwd: Path = ROOT):
    """Run ansible-playbook; returns (rc, output, seconds)."""
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})},
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - start


def recap(output: str) -> dict[str, dict[str, int]]:
    """host → {ok, changed, failed, ...} from the PLAY RECAP."""
    out = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"^(\S+)\s*:\s*(.*)$", line)
        if match and "=" in match.group(2):
            out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return out


def podman_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for rootful podman"
    if shutil.which("podman") is None:
        return "podman is not installed"
    return None


def nearest_rank(values: list[float], q: float) -> float:
    """The q-th percentile by the nearest-rank method (what the report uses)."""
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


def assert_table_ii_is(report_md: str, rows: list[dict]) -> None:
    """report.md's Table II is exactly the scenario-2 rows of results.json: every cell,
    and the average, p50 and p99 recomputed from them."""
    from pmip6d_lab.experiment import report
    from pmip6d_lab.experiment.analysis import PHASES

    table = report.parse_table_ii(report_md)
    s2 = [r for r in rows if r["scenario"] == 2]
    assert s2, "no scenario-2 run"
    assert set(table["runs"]) == {(r["run"], r["kind"]) for r in s2}
    for row in s2:
        for phase in PHASES:
            assert row[phase] is not None, row["not_measured"]
            assert f"{table['runs'][(row['run'], row['kind'])][phase]:.3f}" == f"{row[phase]:.3f}"
    for phase in PHASES:
        values = [r[phase] for r in s2]
        assert f"{table['average'][phase]:.3f}" == f"{statistics.fmean(values):.3f}"
        assert f"{table['p50'][phase]:.3f}" == f"{nearest_rank(values, 50):.3f}"
        assert f"{table['p99'][phase]:.3f}" == f"{nearest_rank(values, 99):.3f}"
