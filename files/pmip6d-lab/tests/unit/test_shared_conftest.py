"""The namespace tests' fixtures are one file in two test trees (see its docstring).

The agent's tests must not import the lab and neither test tree is installed, so
the lab's copy of ``tests/integration/conftest.py`` is vendored; this keeps the
two copies from drifting apart.
"""

from __future__ import annotations

from pathlib import Path

LAB_TESTS = Path(__file__).resolve().parents[1]
AGENT_TESTS = LAB_TESTS.parents[1] / "pmip6d" / "tests"


def test_the_lab_uses_the_agents_namespace_fixtures_unchanged() -> None:
    ours = (LAB_TESTS / "integration" / "conftest.py").read_text()
    theirs = (AGENT_TESTS / "integration" / "conftest.py").read_text()
    assert ours == theirs, "copy files/pmip6d/tests/integration/conftest.py to the lab's tests"
