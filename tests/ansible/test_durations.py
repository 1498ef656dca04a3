"""Durations are traceable to a run (issue 14).

* The test command's duration the README quotes is the committed record of that run,
  docs/test-durations.json (what scripts/test.sh writes to artifacts/ on every call).
* scripts/test.sh writes its record also when a stage fails, and scripts/lab.sh writes
  durations.json in the form the report's Set-up reads: both run here on their own
  (the functions cut out of the scripts, no stage run, no lab).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pmip6d_lab.experiment import layout, report

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "docs" / "test-durations.json"
# The stages of scripts/test.sh, in the order it runs them.
STAGES = ("lint", "agent", "stock-kernel", "collection", "lab", "experiment", "molecule")
# The figure right before the link to the record is the one the record holds.
CITED = re.compile(r"([\d,]+) s\s+\(\[docs/test-durations\.json\]\(docs/test-durations\.json\)\)")


def readme_total(text: str) -> int:
    found = CITED.findall(text)
    assert len(found) == 1, (
        "README.md must quote the test command's total once as 'N s ([docs/test-durations.json]"
        f"(docs/test-durations.json))'; found {found}"
    )
    return int(found[0].replace(",", ""))


def test_the_readme_quotes_the_committed_total():
    record = json.loads(RECORD.read_text())
    stated = readme_total((ROOT / "README.md").read_text())
    assert stated == record["total_seconds"], (
        f"README.md says {stated} s, docs/test-durations.json {record['total_seconds']} s"
    )


def test_the_readme_quotes_the_record_s_stages():
    record = json.loads(RECORD.read_text())
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())
    found = re.search(
        rf"commit {record['commit']}: lint ([\d,]+) s, agent ([\d,]+) s, stock kernel ([\d,]+) s, "
        r"collection ([\d,]+) s, emulated lab ([\d,]+) s, experiments ([\d,]+) s, "
        r"molecule ([\d,]+) s",
        text,
    )
    assert found, "README.md must quote the record's commit and every stage's seconds"
    stated = [int(g.replace(",", "")) for g in found.groups()]
    assert stated == [s["seconds"] for s in record["stages"]]


def test_another_total_is_noticed():
    text = (ROOT / "README.md").read_text()
    total = json.loads(RECORD.read_text())["total_seconds"]
    changed = CITED.sub(lambda m: m[0].replace(m[1], f"{total + 1:,}"), text)
    assert readme_total(changed) != total


def test_the_record_is_a_full_passed_run():
    record = json.loads(RECORD.read_text())
    assert record["full_run"] is True and record["only"] is None and record["pytest_args"] == []
    assert record["result"] == "passed" and record["exit_code"] == 0
    assert tuple(s["name"] for s in record["stages"]) == STAGES
    assert all(s["result"] == "passed" for s in record["stages"])
    known = [s["seconds"] for s in record["stages"] if s["seconds"] is not None]
    # Stages run one after the other inside the total.
    assert sum(known) <= record["total_seconds"], (known, record["total_seconds"])


def _cut(script: str, first: str, last: str) -> str:
    """The lines of ``script`` from the one starting with ``first`` up to (without) the one
    starting with ``last``: the scripts' bookkeeping without anything it times."""
    lines = (ROOT / "scripts" / script).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith(last))
    return "\n".join(lines[start:end]) + "\n"


def test_test_sh_records_a_failed_stage(tmp_path):
    script = (
        "set -euo pipefail\n"
        + _cut("test.sh", "t0=$(date", "bash scripts/setup.sh")
        + "begin_stage lint\nbegin_stage agent\nfalse\necho never\n"
    )
    proc = subprocess.run(
        ["bash", "-c", script, "test.sh", "-k", 'x "y"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PMIPV6_TEST_ONLY": "agent"},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "never" not in proc.stdout
    record = json.loads((tmp_path / "artifacts" / "test-durations.json").read_text())
    assert [(s["name"], s["result"]) for s in record["stages"]] == [
        ("lint", "passed"),
        ("agent", "failed"),
    ]
    assert record["result"] == "failed" and record["exit_code"] == 1
    assert record["only"] == "agent" and record["full_run"] is False
    assert record["pytest_args"] == ["-k", 'x "y"']
    assert record["kernel"] and record["host"] and record["total_seconds"] >= 0


def test_test_sh_a_full_run_is_one_without_choices(tmp_path):
    script = "set -euo pipefail\n" + _cut("test.sh", "t0=$(date", "bash scripts/setup.sh")
    script += "".join(f"begin_stage {name}\n" for name in STAGES)
    subprocess.run(["bash", "-c", script], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, check=True)
    record = json.loads((tmp_path / "artifacts" / "test-durations.json").read_text())
    assert record["full_run"] is True and record["result"] == "passed"
    assert tuple(s["name"] for s in record["stages"]) == STAGES


@pytest.mark.parametrize("image", ["present", "absent"])
def test_lab_sh_durations_are_what_the_report_reads(tmp_path, image):
    out = tmp_path / "xp"
    script = (
        "set -euo pipefail\n"
        + _cut("lab.sh", "started=$(date", "elapsed()")
        + f"out={out}; runs=3; long_runs=1; fresh=1; teardown=0; image_before={image}; rc=0\n"
        + 'step_done "set-up (scripts/setup.sh)"\n'
        + f'step_done "lab: site.yml (image {image})"\n'
        + 'step_done "experiment: playbooks/experiment.yml"\n'
        + 'write_durations "$(date +%s)"\n'
    )
    subprocess.run(["bash", "-c", script], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, check=True)
    doc = json.loads((out / layout.DURATIONS_JSON).read_text())
    assert [s["name"] for s in doc["steps"]] == [
        "set-up (scripts/setup.sh)",
        f"lab: site.yml (image {image})",
        "experiment: playbooks/experiment.yml",
    ]
    assert doc["image_before"] == image and doc["runs_per_scenario"] == 3
    assert doc["long_runs"] == 1
    assert doc["fresh"] is True and doc["experiment_exit_code"] == 0
    (line,) = [line for line in report._settings_md(out, []) if "main job" in line]
    assert f"image {image} at the start" in line
    assert f"kernel {doc['kernel']}" in line and doc["started_at"] in line
