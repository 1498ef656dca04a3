"""The UDP stream MN → CN (iperf3 -R), measured beside the one CN → MN: synthetic runs
with known gaps (test_experiment_synthetic's builder)."""

from __future__ import annotations

import json
from pathlib import Path

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap
from test_experiment_synthetic import (
    ISN,
    MAG_MACS,
    MN_ADDR,
    MN_MAC,
    SEG,
    UP_GAP,
    UP_STUCK_LAST_ON_WIRE,
    _stamp,
    at,
    make_meta,
    tcp_segment,
    uplink,
    write_run,
)

from pmip6d_lab.experiment import analysis, report
from pmip6d_lab.experiment.analysis import UDP_UP_METRICS
from pmip6d_lab.experiment.podmanlab import mobile_nodes
from pmip6d_lab.experiment.settings import Settings


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


# --------------------------------------------------------------------------- scenario 1 to the end


def test_long_runs_are_scenario_one_runs_after_the_others():
    s = Settings(long_runs=2, long_after_s=150.0)
    assert s.runs_of(1, 10) == 12 and s.runs_of(2, 10) == 10
    assert not s.is_long(1, 10, 10) and s.is_long(1, 11, 10) and s.is_long(1, 12, 10)
    assert not s.is_long(1, 13, 10) and not s.is_long(2, 11, 10)
    long = s.for_run(1, 11, 10)
    assert (long.tcp_after_s, long.udp_after_s, long.long_observation) == (150.0, 150.0, True)
    assert long.udp_rate_bps < s.udp_rate_bps and long.tcp_rate_bps < s.tcp_rate_bps
    assert long.udp_uplink is False  # TCP's own stall: no MN → CN datagrams to end it sooner
    assert s.for_run(1, 3, 10) is s
    names = [n["name"] for n in mobile_nodes([1, 2], 2, long_runs=1)]
    assert names == ["xs1r01", "xs1r02", "xs1r03", "xs2r01", "xs2r02"]


def test_plan_lists_the_long_runs(tmp_path, capsys):
    from pmip6d_lab.experiment.__main__ import main

    args = ["plan", str(tmp_path), "--runs", "2", "--scenarios", "1", "2", "--long-runs", "1"]
    assert main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["pending"] == {"1": [1, 2, 3], "2": [1, 2]}
    assert json.loads((tmp_path / "settings.json").read_text())["long_runs"] == 1


OLD_LL = "fe80::a1"
NEW_LL = "fe80::a2"
MN_LL = "fe80::5"


def _mags(scenario: int, old_ll: str, new_ll: str) -> dict:
    mags = make_meta(scenario, 1, "tcp")["mags"]
    mags["mag1"]["access_link_local"] = [old_ll]
    mags["mag2"]["access_link_local"] = [new_ll]
    return mags


def _nd(ms, src, dst, target, eth_dst, kind="ns"):
    layer = ICMPv6ND_NS(tgt=target) if kind == "ns" else ICMPv6ND_NA(tgt=target)
    return _stamp(Ether(src=MN_MAC, dst=eth_dst) / IPv6(src=src, dst=dst) / layer, ms)


def _long_stuck_run(tmp_path, run: int = 11) -> Path:
    old_mac, new_mac = MAG_MACS[1]
    rdir = write_run(
        tmp_path,
        1,
        run,
        "tcp",
        tcp="stuck",
        meta_extra={
            "mags": _mags(1, OLD_LL, NEW_LL),
            "traffic": {"long_observation": True, "stopped_at": float(at(3000))},
        },
    )
    mn_file, cn_file = rdir / "mn5-wlan0.pcap", rdir / "cn-eth0.pcap"
    extra = [
        _nd(900, MN_LL, OLD_LL, OLD_LL, old_mac),
        _nd(1000, MN_LL, OLD_LL, OLD_LL, old_mac),
        _nd(1100, MN_LL, OLD_LL, OLD_LL, old_mac),
        _nd(1200, MN_ADDR, "ff02::1:ff00:a1", OLD_LL, "33:33:ff:00:00:a1"),
        _nd(1250, MN_LL, "ff02::1:ff00:a1", OLD_LL, "33:33:ff:00:00:a1"),
        uplink(1400.05, new_mac),
        tcp_segment(1401, ISN + 1 + SEG * 200, SEG),
        tcp_segment(1402, ISN + 1 + SEG * 201, SEG),
    ]
    wrpcap(str(mn_file), sorted([*rdpcap(str(mn_file)), *extra], key=lambda p: p.time))
    cn = [
        *rdpcap(str(cn_file)),
        tcp_segment(1400.9, ISN + 1 + SEG * 200, SEG),
        tcp_segment(1401.9, ISN + 1 + SEG * 201, SEG),
    ]
    wrpcap(str(cn_file), sorted(cn, key=lambda p: p.time))
    return rdir


def test_a_stall_after_the_retransmissions_that_filled_the_holes(tmp_path):
    """The move lost segment 199; the CN's retransmission at +600 ms fills the hole (in-order
    progress, later than 250 ms after the move), then nothing until the MN has switched to
    the new MAG: the stall is the gap after that progress, not the one before it."""
    rdir = _long_stuck_run(tmp_path)
    mn_file = rdir / "mn5-wlan0.pcap"
    lost = ISN + 1 + SEG * 199
    frames = [
        p
        for p in rdpcap(str(mn_file))
        if not (p.haslayer("TCP") and p["TCP"].seq == lost and p.time < at(600))
    ]
    wrpcap(str(mn_file), frames)
    row = analysis.analyze_run(rdir)
    assert row["tcp_recovered"] is True
    assert row["tcp_stall_ms"] == 801.0  # +600 → +1401, not -1.5 → +600 (601.5 ms)


def test_what_ended_the_stall(tmp_path):
    """Scenario 1 stuck at first, then: three unanswered unicast probes of the old router,
    a multicast resolution for a waiting ACK (from the MN's global address) and a router
    probe (from its link-local one, not counted), the ACK of the CN's retransmission at
    +1400 ms to the new MAG's MAC, and the transfer resumes."""
    rdir = _long_stuck_run(tmp_path)
    row = analysis.analyze_run(rdir)
    assert row["long_observation"] is True
    assert row["old_router_probes"] == 3 and row["old_router_last_probe_ms"] == 1100.0
    assert row["old_router_resolves"] == 1 and row["old_router_answered"] is False
    assert row["first_uplink_to_new_mac_ms"] == 1400.05
    assert row["cn_retrans_after_move"] == 3
    assert row["tcp_resumed_by_retrans_ms"] == 1399.9
    assert row["tcp_recovered"] is True and row["tcp_resumed_ms"] == 1401.0
    story = row["stall_ended_by"]
    assert "probed it 3 times, unanswered" in story and "3rd since the move" in story
    assert "+0.20 s, +0.60 s, +1.40 s" in story
    # The report: a section of their own, out of the ten-run tables, in Fig. 8.
    write_run(tmp_path, 1, 1, "tcp", tcp="stuck")
    rows = report.write_results(tmp_path)
    text = report.write_report(tmp_path, rows)[0].read_text()
    assert "## Scenario 1 to the end (long observation)" in text
    assert "| s1/run-11-tcp | 1.40 |" in text
    tcp = text.split("## TCP stall per scenario")[1].split("\n## ")[0]
    assert "| 1 | 1 | 0 |" in tcp  # the ten-run table counts the short run only


def test_no_stall_analysis_with_one_link_local_address(tmp_path):
    rdir = write_run(
        tmp_path,
        2,
        1,
        "tcp",
        meta_extra={"mags": _mags(2, NEW_LL, NEW_LL)},
    )
    row = analysis.analyze_run(rdir)
    assert all(row[k] is None for k in analysis.STALL_END_METRICS)
    assert row["not_measured"] == {}, row["not_measured"]
