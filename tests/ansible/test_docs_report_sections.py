"""Every section of the committed report is what its committed data gives (issue 14).

docs/results/report.md is regenerated here with report.write_report from a copy of
docs/results' results.json (and settings.json, lab.json, durations.json where present)
and compared with the committed text section by section (``## `` headings), so that no
figure in it can be anything but its raw rows. What the committed files cannot give is
left out of the comparison, and only that:

* the "Generated <time> from <dir>" line (the time and the directory of the run);
* the Set-up section's ``testbed:`` line, read from the first run's meta.json, which is
  not committed (the run directories stay with the run);
* the figures (drawn from the captures, which are not committed): the section's images
  must exist beside the report and carry the figures' captions.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from pathlib import Path

import pytest

from pmip6d_lab.experiment import layout, plots, report

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
# What write_report reads besides results.json (durations.json: scripts/lab.sh's record).
INPUTS = ("results.json", "settings.json", "lab.json", layout.DURATIONS_JSON)
FIGURES = "## Figures"
SETUP = "## Set-up"
TESTBED = "* testbed: "
GENERATED = re.compile(r"^Generated .* from `[^`]*` \(", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """``{heading: body}`` for every ``## `` heading, in order; ``""`` is what precedes the
    first one (the title and the Generated line)."""
    out: dict[str, str] = {}
    heading = ""
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            out[heading] = "\n".join(body)
            heading, body = line, []
        else:
            body.append(line)
    out[heading] = "\n".join(body)
    return out


def normalised(parts: dict[str, str]) -> dict[str, str]:
    """What cannot be recomputed from the committed files taken out (module docstring)."""
    parts = dict(parts)
    parts[""] = GENERATED.sub("Generated <time> from <dir> (", parts.get("", ""))
    if SETUP in parts:
        parts[SETUP] = "\n".join(
            line for line in parts[SETUP].splitlines() if not line.startswith(TESTBED)
        )
    parts.pop(FIGURES, None)
    return parts


def regenerate(src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """report.md as write_report writes it from the committed files of ``src``."""
    dest.mkdir()
    for name in INPUTS:
        if (src / name).exists():
            shutil.copy(src / name, dest / name)
    # The Set-up lists incomplete runs from their directories: make them, empty.
    doc = json.loads((src / layout.RESULTS_JSON).read_text())
    for run_id in doc.get("incomplete_runs") or []:
        (dest / run_id.replace("s", "scenario-", 1)).mkdir(parents=True)
    # The figures need the captures; they are checked apart (test_every_figure_is_there).
    monkeypatch.setattr(plots, "draw_all", lambda out, rows: {})
    report.write_report(dest, report.load_results(dest))
    return (dest / layout.REPORT).read_text()


def differences(committed: str, recomputed: str) -> list[str]:
    """One message per section that differs, naming it, with a diff of its lines."""
    mine, theirs = normalised(sections(committed)), normalised(sections(recomputed))
    problems = []
    if list(mine) != list(theirs):
        problems.append(f"the sections differ: committed {list(mine)}, recomputed {list(theirs)}")
    for heading in mine.keys() & theirs.keys():
        if mine[heading] != theirs[heading]:
            diff = difflib.unified_diff(
                mine[heading].splitlines(),
                theirs[heading].splitlines(),
                "committed",
                "recomputed",
                lineterm="",
                n=0,
            )
            name = heading or "(title and Generated line)"
            problems.append(f"section {name!r} differs:\n" + "\n".join(list(diff)[:40]))
    return problems


@pytest.fixture
def recomputed(tmp_path, monkeypatch) -> str:
    return regenerate(RESULTS, tmp_path / "copy", monkeypatch)


def test_every_section_is_recomputed_from_the_committed_data(recomputed):
    problems = differences((RESULTS / layout.REPORT).read_text(), recomputed)
    assert not problems, "docs/results/report.md is not what its data gives:\n\n" + "\n\n".join(
        problems
    )


def test_the_left_out_lines_are_there_once():
    parts = sections((RESULTS / layout.REPORT).read_text())
    assert len(GENERATED.findall(parts[""])) == 1
    assert sum(line.startswith(TESTBED) for line in parts[SETUP].splitlines()) == 1


def test_every_figure_is_there():
    body = sections((RESULTS / layout.REPORT).read_text())[FIGURES]
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", body)
    assert images, "the Figures section shows no image"
    for caption, name in images:
        assert caption in plots.CAPTIONS.values(), caption
        assert name in layout.FIGURES.values(), name
        assert (RESULTS / name).stat().st_size > 0, name


def test_a_changed_row_is_noticed_in_its_sections(tmp_path, monkeypatch):
    # The comparison can fail: one run's UDP latency changed in a copy of the data.
    src = tmp_path / "src"
    src.mkdir()
    for name in INPUTS:
        if (RESULTS / name).exists():
            shutil.copy(RESULTS / name, src / name)
    doc = json.loads((src / layout.RESULTS_JSON).read_text())
    row = next(r for r in doc["runs"] if r.get("udp_recovered") and r["scenario"] == 2)
    row["udp_latency_ms"] += 1000.0
    (src / layout.RESULTS_JSON).write_text(json.dumps(doc))
    problems = differences(
        (RESULTS / layout.REPORT).read_text(), regenerate(src, tmp_path / "copy", monkeypatch)
    )
    named = {p.split("\n", 1)[0] for p in problems}
    assert "section '## UDP handover latency per scenario' differs:" in named
    assert "section '## Every run' differs:" in named
    assert "section '## Table II' differs:" not in named
