"""The README's benchmark tables are what the committed benchmark outputs say.

Every table between ``<!-- bench FILE RENDERER -->`` markers in README.md is
regenerated from docs/benchmarks/FILE by files/pmip6d-lab/bench/tables.py and
must equal what the README holds: a figure is never typed in by hand.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "docs" / "benchmarks"


def _tables():
    spec = importlib.util.spec_from_file_location(
        "bench_tables", ROOT / "files" / "pmip6d-lab" / "bench" / "tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_table_agrees_with_its_json():
    tables = _tables()
    text = (ROOT / "README.md").read_text()
    blocks = tables._BLOCK.findall(text)
    assert blocks, "README.md has no generated benchmark tables"
    rendered, problems = tables.render_readme(text)
    assert problems == []
    assert rendered == text, "README.md differs: run files/pmip6d-lab/bench/tables.py --write"


def test_every_committed_benchmark_output_is_in_the_readme():
    text = (ROOT / "README.md").read_text()
    named = {name for m in _tables()._BLOCK.finditer(text) for name in (m["file"], m["other"])}
    assert {p.name for p in BENCHMARKS.glob("*.json")} <= named


def test_a_changed_figure_is_noticed(tmp_path):
    tables = _tables()
    text = (ROOT / "README.md").read_text()
    copy = tmp_path / "benchmarks"
    shutil.copytree(BENCHMARKS, copy)
    for path in copy.glob("*.json"):
        doc = json.loads(path.read_text())
        doc.setdefault("meta", {})["date"] = "1999-01-01T00:00:00+00:00"
        path.write_text(json.dumps(doc))
    rendered, problems = tables.render_readme(text, copy)
    assert problems == []
    assert rendered != text
    bodies = [m["body"] for m in tables._BLOCK.finditer(rendered)]
    assert bodies and all("Measured 1999-01-01" in body for body in bodies)
