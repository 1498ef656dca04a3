"""Kind *both* on the namespace testbed: the UDP stream and the TCP transfer through one
handover, on the runner's one code path (the same :func:`run_handover` the podman lab uses).

Scenarios 1 and 2, one run each: both flows measured from the same handover's captures,
the paper's contrast (TCP stuck with per-MAG addresses, resumed with shared ones) in one
run per scenario, the iperf3 outputs per flow, the report's Table II from the captures.
"""

from __future__ import annotations

import pytest

from pmip6d_lab.experiment import analysis, layout, report
from pmip6d_lab.experiment.analysis import PHASES
from pmip6d_lab.experiment.namespace_run import run_namespace_experiment
from pmip6d_lab.experiment.settings import Settings

pytestmark = pytest.mark.netns

SETTINGS = Settings(before_s=0.6, udp_after_s=0.8, tcp_after_s=1.5, settle_s=0.1)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, netns_ok):
    out = tmp_path_factory.mktemp("both")
    lines: list[str] = []
    done = run_namespace_experiment(
        out,
        scenarios=(1, 2),
        runs=1,
        kinds=("both",),
        settings=SETTINGS,
        progress=lines.append,
        prefix=f"xb{id(out) % 1000}",
    )
    rows = report.write_results(out)
    report.write_report(out, rows)
    return out, done, {r["run_id"]: r for r in rows}, lines


def test_one_handover_carries_both_flows(experiment):
    out, done, rows, lines = experiment
    assert [p.name for p in done] == ["run-01-both", "run-01-both"], lines
    assert set(rows) == {"s1/run-01-both", "s2/run-01-both"}
    for ref in layout.find_runs(out):
        meta = layout.read_meta(ref.path)
        flows = meta["traffic"]["flows"]
        ports = (flows["udp"]["port"], flows["udpup"]["port"], flows["tcp"]["port"])
        assert ports == (5201, 5202, 5203)
        assert (flows["udp"]["direction"], flows["udpup"]["direction"]) == ("cn->mn", "mn->cn")
        assert meta["traffic"]["after_s"] == 1.5 and flows["udp"]["after_s"] == 0.8
        for flow in ("udp", "udpup", "tcp"):
            for side in ("client", "server"):
                assert (ref.path / layout.iperf3_file("both", flow, side)).stat().st_size > 0
        assert meta["testbed"]["kind"] == "namespaces"
    assert any("UDP latency" in line and "TCP stall" in line for line in lines), lines


def test_both_flows_are_measured(experiment):
    _unused, _unused, rows, _unused = experiment
    s1, s2 = rows["s1/run-01-both"], rows["s2/run-01-both"]
    for row in (s1, s2):
        assert row["pba_status"] == 0, row
        for phase in PHASES:
            assert 0 < row[phase] < 500, (row["run_id"], phase)
        assert row["udp_recovered"] is True and 0 < row["udp_latency_ms"] < 500, row
        assert row["udp_received"] > 1000
    # The stream MN → CN through the same handover: it needs the MN's default router.
    assert s2["udp_up_recovered"] is True and 0 < s2["udp_up_latency_ms"] < 500, s2
    assert s2["udp_up_received"] > 1000
    assert s1["udp_up_recovered"] is False and s1["udp_up_lost"] > 0, s1
    # One handover, the paper's two TCP outcomes.
    assert s1["tcp_recovered"] is False and s1["uplink_to_old_mac"] > 0, s1
    assert s1["uplink_to_new_mac"] == 0
    assert s2["tcp_recovered"] is True and 0 < s2["tcp_stall_ms"] < 1000, s2
    assert s2["tcp_bytes"] > 1_000_000


def test_report_table_ii_matches_the_captures(experiment):
    out, _unused, _unused, _unused = experiment
    table = report.parse_table_ii((out / layout.REPORT).read_text())
    ref = next(r for r in layout.find_runs(out) if r.scenario == 2)
    row = analysis.analyze_run(ref.path)
    assert set(table["runs"]) == {(1, "both")}
    for phase in PHASES:
        assert table["runs"][(1, "both")][phase] == pytest.approx(row[phase], abs=5e-4)
