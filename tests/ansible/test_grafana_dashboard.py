"""The collection's Grafana dashboard asks only for what the agents' metrics endpoint exports.

files/grafana/pmip6d-dashboard.json is hand-kept; the agents' metric names live in
pmip6d/daemon/metrics.py. A renamed or dropped metric would leave a panel silently
empty, so every name in every query is checked against what the collector yields for
an LMA and a MAG, and each query's brackets must balance.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

from pmipv6_test_helpers import ROOT

from pmip6d.daemon.lma_timeline import LmaTimeline
from pmip6d.daemon.metrics import AgentCollector
from pmip6d.daemon.timeline import Timeline

DASHBOARD = ROOT / "files" / "grafana" / "pmip6d-dashboard.json"
_NAME = re.compile(r"\bpmip6d_[a-z0-9_]+")


def exported(role: str) -> set[str]:
    agent = SimpleNamespace(
        role=role,
        config=SimpleNamespace(name=role),
        counters=dict,
        status=dict,
        timeline=LmaTimeline() if role == "lma" else Timeline(),
    )
    return {
        sample_name
        for family in AgentCollector(agent).collect()
        for sample_name in (
            [family.name]
            + [s.name for s in family.samples]
            + ([f"{family.name}_total"] if family.type == "counter" else [])
        )
    }


def queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    out = []
    for panel in doc["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        out += [(panel["title"], t["expr"]) for t in panel["targets"]]
    return out


def test_every_metric_a_panel_asks_for_is_exported():
    names = exported("lma") | exported("mag")
    used = {name for _title, expr in queries() for name in _NAME.findall(expr)}
    assert used, "no pmip6d metric in the dashboard"
    assert used - names == set()
    # The histogram's buckets and the phases the panels name exist as labels too.
    phases = set(Timeline.PHASES) | set(LmaTimeline.PHASES)
    asked = {p for _t, expr in queries() for p in re.findall(r'phase="([a-z_0-9]+)"', expr)}
    assert asked and asked <= phases


def test_every_query_is_balanced():
    pairs = {")": "(", "]": "[", "}": "{"}
    for title, expr in queries():
        stack: list[str] = []
        for char in re.sub(r'"[^"]*"', '""', expr):
            if char in "([{":
                stack.append(char)
            elif char in pairs:
                assert stack and stack.pop() == pairs[char], (title, expr)
        assert not stack, (title, expr)
