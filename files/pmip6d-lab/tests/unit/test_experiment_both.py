"""Runs of kind *both*: a UDP stream and a TCP transfer through the same handover.

The synthetic builder's "both" run carries exactly the frames of its UDP run and of its
TCP run (the TCP transfer on the next port), so every metric of a both run must equal the
one-flow run's; the TCP data connection is picked by its port, not by its size; the
report counts a both run in the UDP and in the TCP tables, once in Table II.
"""

from __future__ import annotations

import json

import pytest
from scapy.utils import rdpcap, wrpcap
from test_experiment_synthetic import (
    CN,
    MN_ADDR,
    PORT,
    TCP_PORT_BOTH,
    tcp_segment,
    write_run,
)

from pmip6d_lab.experiment import analysis, layout, report
from pmip6d_lab.experiment.analysis import PHASES, TCP_METRICS, UDP_METRICS


def test_layout_knows_both():
    assert layout.KINDS == ("udp", "tcp", "both")
    assert layout.flows("both") == ("udp", "udpup", "tcp")
    assert layout.flows("both", uplink=False) == ("udp", "tcp")
    assert layout.flows("udp") == ("udp", "udpup")
    assert layout.flows("udp", uplink=False) == ("udp",)
    assert layout.flows("tcp") == ("tcp",)
    assert layout.has_udp("both") and layout.has_tcp("both")
    assert not layout.has_tcp("udp") and not layout.has_udp("tcp")
    assert layout.iperf3_file("both", "tcp", "client") == "iperf3-tcp-client.json"
    assert layout.iperf3_file("udp", "udp", "server") == layout.IPERF_SERVER
    assert layout.iperf3_file("udp", "udpup", "client") == "iperf3-udpup-client.json"
    assert layout.run_name(3, "both") == "run-03-both"


@pytest.mark.parametrize("tcp", ["resumed", "stuck"])
def test_both_measures_what_the_one_flow_runs_measure(tmp_path, tcp):
    scenario = 1 if tcp == "stuck" else 2
    both = analysis.analyze_run(write_run(tmp_path, scenario, 1, "both", tcp=tcp))
    udp = analysis.analyze_run(write_run(tmp_path, scenario, 2, "udp", tcp=tcp))
    tcp_row = analysis.analyze_run(write_run(tmp_path, scenario, 3, "tcp", tcp=tcp))
    assert both["kind"] == "both" and both["run_id"] == f"s{scenario}/run-01-both"
    for key in PHASES:
        assert both[key] == udp[key] == tcp_row[key], key
    for key in UDP_METRICS:
        assert both[key] == udp[key], key
    # The stuck transfer's window is the TCP one (stopped later): compare the rest.
    for key in TCP_METRICS:
        assert both[key] == tcp_row[key], key
    assert both["udp_latency_ms"] == 6.0 and both["udp_recovered"] is True
    if tcp == "stuck":
        assert both["tcp_recovered"] is False and "stall >" in both["remarks"]["tcp_recovered"]
    else:
        assert both["tcp_stall_ms"] == 211.0 and both["tcp_recovered"] is True
    assert both["iperf3_lost"] == 6 and both["iperf3_retransmits"] == 1
    assert both["not_measured"] == {}, both["not_measured"]


def test_the_tcp_transfer_is_found_by_its_port(tmp_path):
    """iperf3's UDP test has a TCP control connection to the UDP port; give it more payload
    than the transfer: the analysis must still take the connection to the TCP port."""
    rdir = write_run(tmp_path, 2, 1, "both")
    clean = analysis.analyze_run(rdir)
    decoy = [
        tcp_segment(-250 + i, 9_000_000 + 1400 * i, 1400, port=PORT)
        for i in range(0, 500)  # 700 kB to port 5201, across the move and past it
    ]
    for name in ("mn5-wlan0.pcap", "cn-eth0.pcap"):
        frames = list(rdpcap(str(rdir / name))) + decoy
        wrpcap(str(rdir / name), sorted(frames, key=lambda p: p.time))
    # Picked by size, the decoy would win …
    frames = analysis.read_frames(rdir / "mn5-wlan0.pcap")
    cn, mn = analysis.ip_bytes(CN), analysis.ip_bytes(MN_ADDR)
    assert analysis.tcp_trace(frames, cn, mn).flow[1] == PORT
    assert analysis.tcp_trace(frames, cn, mn, port=TCP_PORT_BOTH).flow[1] == TCP_PORT_BOTH
    # … by port, the metrics are the clean run's.
    row = analysis.analyze_run(rdir)
    for key in ("tcp_stall_ms", "tcp_bytes", "tcp_retrans_mn", "tcp_retrans_cn"):
        assert row[key] == clean[key], key
    series = analysis.tcp_series(rdir)
    assert series["traffic"]["port"] == TCP_PORT_BOTH
    assert analysis.udp_series(rdir)["traffic"]["port"] == PORT


def test_iperf3_outputs_per_flow(tmp_path):
    rdir = write_run(tmp_path, 2, 1, "both")
    assert sorted(p.name for p in rdir.glob("iperf3-*")) == [
        "iperf3-tcp-client.json",
        "iperf3-tcp-server.json",
        "iperf3-udp-client.json",
        "iperf3-udp-server.json",
    ]
    run = analysis.RunData.load(rdir)
    assert analysis.iperf3_summary(run, "udp")["lost"] == 6
    assert analysis.iperf3_summary(run, "tcp")["retransmits"] == 1
    (rdir / "iperf3-tcp-client.json").write_text(json.dumps({"error": "interrupt - the client"}))
    summary = analysis.iperf3_summary(run)
    assert summary == {"lost": 6, "retransmits": None, "error": "interrupt - the client"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("both")
    for scenario in (1, 2, 3):
        for run in (1, 2):
            write_run(
                root,
                scenario,
                run,
                "both",
                phases={"l2": 0.4 * run} if scenario == 2 else None,
                tcp="stuck" if scenario == 1 else "resumed",
            )
    (root / "settings.json").write_text(
        json.dumps({"runs": 2, "kinds": ["both"], "udp_rate_bps": 1_000_000, "udp_length": 125})
    )
    rows = report.write_results(root)
    files = report.write_report(root, rows)
    return root, rows, files


def test_report_of_both_runs(tree):
    root, rows, files = tree
    assert len(rows) == 6
    text = (root / layout.REPORT).read_text()
    table = report.parse_table_ii(text)
    assert set(table["runs"]) == {(1, "both"), (2, "both")}
    for row in rows:
        if row["scenario"] == 2:
            for phase in PHASES:
                assert table["runs"][(row["run"], "both")][phase] == pytest.approx(
                    row[phase], abs=5e-4
                )
    # Each both run counts in the UDP table and in the TCP table.
    assert "| 2 | CN → MN | 2 | 6.00 | 6.00 | 6.00 | 6.00 | 0 |" in text
    assert "| 1 | 2 | 0 | n/m | n/m | n/m | 2: > 2.0 s |" in text
    assert "| 2 | 2 | 2 | 211.0 | 211.0 | 211.0 | 0 |" in text
    assert "scenario 2 both 2" in text and "kind *both*" in text
    assert "| s1/run-01-both | mn5 | 0 |" in text
    assert {p.name for p in files[1:]} == set(layout.FIGURES.values())


def test_summary_text(tree):
    root, rows, _unused = tree
    lines = report.summary_text(root)
    assert lines[0] == "Table II (ours: scenario 2, 2 handovers, ms) beside the paper's average:"
    summary = report.table_ii_summary(report.table_ii_rows(rows))
    total = next(line for line in lines if "Total PMIPv6 latency" in line)
    assert f"{summary['total_ms']['average']:.3f}" in total and total.rstrip().endswith("14.32")
    assert sum(line.lstrip().startswith("Scenario ") for line in lines) == 3
    assert lines[-2] == "6 complete runs"
    assert lines[-1].startswith(f"report: {root / layout.REPORT}")
