"""The UDP stream MN → CN (iperf3 -R), measured beside the one CN → MN: synthetic runs
with known gaps (test_experiment_synthetic's builder)."""

from __future__ import annotations

from test_experiment_synthetic import UP_GAP, UP_STUCK_LAST_ON_WIRE, write_run

from pmip6d_lab.experiment import analysis, report
from pmip6d_lab.experiment.analysis import UDP_UP_METRICS


def test_uplink_stream_resumed(tmp_path):
    row = analysis.analyze_run(write_run(tmp_path, 2, 1, "udp", uplink="resumed"))
    # The gap across the move: k = -1 at -0.75 ms, k = 9 at 9.25 ms: 10 ms, 9 datagrams lost.
    assert row["udp_up_max_gap_ms"] == 10.0
    assert row["udp_up_latency_ms"] == 9.0
    assert row["udp_up_lost"] == len(UP_GAP) == row["udp_up_lost_in_gap"]
    assert row["udp_up_recovered"] is True
    assert row["iperf3_up_lost"] == len(UP_GAP)
    assert row["udp_up_sent"] == 600 and row["udp_up_received"] == 600 - len(UP_GAP)
    # The CN → MN stream of the same run keeps its own figures (7 ms gap, 6 lost).
    assert (row["udp_max_gap_ms"], row["udp_lost"]) == (7.0, 6)
    assert row["not_measured"] == {}, row["not_measured"]


def test_uplink_stream_that_never_resumes(tmp_path):
    """Scenario 1: the MN sends to the old MAG's MAC, then its kernel drops the datagrams;
    the gap lasts until the stream's planned end (started -300 ms, 0.3 + 0.3 s: +300 ms)."""
    row = analysis.analyze_run(write_run(tmp_path, 1, 1, "udp", uplink="stuck"))
    assert row["udp_up_recovered"] is False
    assert row["udp_up_max_gap_ms"] == 300.75
    assert row["udp_up_latency_ms"] == 299.75
    assert row["udp_up_lost"] == UP_STUCK_LAST_ON_WIRE + 1  # on the wire, never received
    assert "did not resume" in row["remarks"]["udp_up_recovered"]
    # The downlink went on: the MN's old router only matters to what the MN sends.
    assert row["udp_recovered"] is True


def test_runs_without_the_uplink_stream_have_no_uplink_figures(tmp_path):
    row = analysis.analyze_run(write_run(tmp_path, 2, 1, "udp"))
    assert all(row[key] is None for key in UDP_UP_METRICS)
    assert not any(key.startswith("udp_up") for key in row["not_measured"])


def test_series_per_direction(tmp_path):
    rdir = write_run(tmp_path, 2, 1, "both", uplink="resumed")
    down, up = analysis.udp_series(rdir), analysis.udp_series(rdir, "udpup")
    assert down["traffic"]["port"] != up["traffic"]["port"]
    assert round(max(g for g in up["gap_ms"] if g is not None), 3) == 10.0
    assert analysis.udp_series(write_run(tmp_path, 2, 2, "both"), "udpup") is None


def test_report_has_both_directions(tmp_path):
    for run in (1, 2):
        write_run(tmp_path, 1, run, "udp", uplink="stuck")
        write_run(tmp_path, 2, run, "udp", uplink="resumed")
    rows = report.write_results(tmp_path)
    text = report.write_report(tmp_path, rows)[0].read_text()
    udp = text.split("## UDP handover latency per scenario")[1].split("\n## ")[0]
    assert "| 1 | CN → MN | 2 |" in udp and "| 1 | MN → CN | 2 |" in udp
    assert "| 2 | MN → CN | 2 | 9.00 | 9.00 |" in udp
    assert "2 (> 300 ms)" in udp  # scenario 1 uplink: never resumed, a lower bound
