"""The experiment analysis on synthetic runs: known event times → exact metrics.

See ``test_experiment_synthetic`` for how the runs are laid out: the MN moves at
T0; at the new MAG the AP's syslog arrives at +0.5 ms, the PBU leaves at +1.5,
the PBA arrives at +3.0 and the RA leaves at +4.2 ms, next to decoys of
another MN. The UDP stream (1 ms interval) loses 6 datagrams across a 7.0 ms
gap; the TCP transfer stalls 211.0 ms (or, stuck, for the whole window).
"""

from __future__ import annotations

import json

import pytest
from test_experiment_synthetic import MN_MAC, T0, at, mh, pbu, syslog, write_run

from pmip6d_lab.experiment import layout
from pmip6d_lab.experiment.analysis import PHASES, analyze_run, tcp_trace
from pmip6d_lab.experiment.frames import Frame, Packet, ip_bytes, parse_frame, read_frames


def test_phases_are_timed_from_the_new_mags_packets(tmp_path):
    row = analyze_run(write_run(tmp_path))
    assert {k: row[k] for k in PHASES} == {
        "l2_to_pbu_ms": 1.0,
        "pbu_to_pba_ms": 1.5,
        "pba_to_ra_ms": 1.2,
        "total_ms": 3.7,
    }
    assert row["move_to_l2_ms"] == 0.5
    assert row["lma_pbu_to_pba_ms"] == 1.3
    assert row["pba_status"] == 0
    assert row["l2_at"] == pytest.approx(float(at(0.5)), abs=1e-6)
    assert row["not_measured"] == {}


@pytest.mark.parametrize(
    "phases, expected",
    [
        ({"l2": 0.25, "pbu": 0.75, "pba": 1.0, "ra": 1.5}, (0.5, 0.25, 0.5, 1.25)),
        ({"l2": 2.0, "pbu": 9.2, "pba": 13.3, "ra": 18.0}, (7.2, 4.1, 4.7, 16.0)),
    ],
)
def test_phases_follow_the_events(tmp_path, phases, expected):
    row = analyze_run(write_run(tmp_path, phases=phases))
    assert tuple(row[k] for k in PHASES) == expected


def test_udp_handover_latency_is_the_largest_gap_minus_the_interval(tmp_path):
    row = analyze_run(write_run(tmp_path, kind="udp"))
    assert row["udp_interval_ms"] == 1.0
    assert row["udp_max_gap_ms"] == 7.0
    assert row["udp_latency_ms"] == 6.0
    assert row["udp_recovered"] is True
    # Not the 10 ms pause of the sender at +150 ms: PMIPv6 was done by then (RA at +4.2 ms).
    assert row["udp_sent"] == 591 and row["udp_received"] == 585
    assert row["udp_lost"] == 6 and row["udp_lost_in_gap"] == 6
    assert row["udp_baseline_gap_ms"] == 0.4  # the one datagram 0.4 ms late before the move
    assert row["iperf3_lost"] == 6


def test_udp_without_the_cn_capture_counts_sequence_holes(tmp_path):
    row = analyze_run(write_run(tmp_path, kind="udp", omit=("cn-eth0.pcap",)))
    assert row["udp_latency_ms"] == 6.0
    assert row["udp_lost"] == 6
    assert row["udp_sent"] is None


def test_udp_stream_that_never_resumes_is_a_lower_bound(tmp_path):
    rdir = write_run(tmp_path, kind="udp", omit=("mn5-wlan0.pcap",))
    from scapy.utils import wrpcap
    from test_experiment_synthetic import udp_datagram, udp_times

    # Only what arrived before the move.
    wrpcap(str(rdir / "mn5-wlan0.pcap"), [udp_datagram(t, k) for t, k in udp_times() if t < 0])
    row = analyze_run(rdir)
    assert row["udp_recovered"] is False
    # The CN sent until +299.2 ms; the last arrival was at -0.7 ms.
    assert row["udp_max_gap_ms"] == 299.9
    assert row["udp_latency_ms"] == 298.9
    assert "did not resume" in row["remarks"]["udp_recovered"]


def test_udp_datagrams_in_flight_when_the_captures_stop_are_not_an_open_gap(tmp_path):
    # The MN's capture stopped 15 ms before the CN's: the last datagrams were still on
    # their way. The stream had resumed long before, so this is no stream that did not
    # resume (seen on a loaded CI machine), and those datagrams are not lost either.
    rdir = write_run(tmp_path, kind="udp", omit=("mn5-wlan0.pcap",))
    from scapy.utils import wrpcap
    from test_experiment_synthetic import udp_datagram, udp_times

    wrpcap(str(rdir / "mn5-wlan0.pcap"), [udp_datagram(t, k) for t, k in udp_times() if t < 285])
    row = analyze_run(rdir)
    assert row["udp_recovered"] is True
    assert row["udp_max_gap_ms"] == 7.0 and row["udp_latency_ms"] == 6.0
    assert row["udp_lost"] == 6
    assert "udp_recovered" not in row["remarks"]


def test_udp_stream_that_stops_within_the_handover_is_an_open_gap(tmp_path):
    # Two datagrams after the move (within the handover: RA at +4.2 ms), then nothing.
    rdir = write_run(tmp_path, kind="udp", omit=("mn5-wlan0.pcap",))
    from scapy.utils import wrpcap
    from test_experiment_synthetic import udp_datagram

    frames = [udp_datagram(round(k + 0.3, 3), k + 301) for k in range(-300, 0)]
    frames += [udp_datagram(1.3, 302), udp_datagram(2.3, 303)]
    wrpcap(str(rdir / "mn5-wlan0.pcap"), frames)
    row = analyze_run(rdir)
    assert row["udp_recovered"] is False
    assert row["udp_max_gap_ms"] == pytest.approx(299.2 - 2.3, abs=0.01)


def test_udp_gap_search_ends_with_the_handover(tmp_path):
    # Were the RA sent only at +200 ms, the pause at +150 ms would fall in the handover.
    row = analyze_run(write_run(tmp_path, kind="udp", phases={"ra": 200.0}))
    assert row["udp_max_gap_ms"] == 10.0 and row["udp_lost_in_gap"] == 0
    # Without an RA (no access capture) only the gap across the move counts.
    row = analyze_run(write_run(tmp_path, run=2, kind="udp", omit=("mag2-acc0.pcap",)))
    assert row["udp_max_gap_ms"] == 7.0


def test_tcp_stall_from_last_progress_before_to_first_after(tmp_path):
    row = analyze_run(write_run(tmp_path, kind="tcp"))
    assert row["tcp_baseline_gap_ms"] == 1.0
    # Last in-order data at -0.5 ms; segment 205 at +5.5 ms is out of order (no progress);
    # the retransmission of 200–204 at +210.5 ms fills the hole.
    assert row["tcp_stall_ms"] == 211.0
    assert row["tcp_recovered"] is True
    assert row["tcp_retrans_mn"] == 1 and row["tcp_retrans_cn"] == 1
    assert row["tcp_bytes"] == 300 * 1000
    assert row["iperf3_retransmits"] == 1


def test_tcp_that_does_not_resume_is_reported_as_more_than_the_window(tmp_path):
    row = analyze_run(write_run(tmp_path, scenario=1, kind="tcp", tcp="stuck"))
    assert row["tcp_recovered"] is False
    assert row["tcp_stall_ms"] == 2000.5  # last progress -0.5 ms, observation ended +2000 ms
    assert row["tcp_window_s"] == 2.0
    assert row["tcp_retrans_cn"] == 3 and row["tcp_retrans_mn"] == 3
    assert "stall > 2.0 s" in row["remarks"]["tcp_recovered"]
    # Scenario 1: the MN's ACKs went to the old MAG's MAC, none to the new one.
    assert row["uplink_to_old_mac"] == 3 and row["uplink_to_new_mac"] == 0
    assert row["first_uplink_to_new_mac_ms"] is None
    assert "first_uplink_to_new_mac_ms" in row["remarks"]


def test_short_quiet_tail_at_the_end_is_not_a_stall(tmp_path):
    # The flow resumed (stall 211 ms), then the CN sent one more segment the MN had not
    # received when the observation ended 500 ms after the MN's last progress (+304.5 ms):
    # the end of a capture, not a stall that never ended.
    from scapy.utils import rdpcap, wrpcap
    from test_experiment_synthetic import ISN, SEG, at, tcp_segment

    def run_with_tail(run: int, quiet_ms: float):
        stop = float(at(304.5 + quiet_ms))
        rdir = write_run(
            tmp_path, run=run, kind="tcp", meta_extra={"traffic": {"stopped_at": stop}}
        )
        cn = list(rdpcap(str(rdir / "cn-eth0.pcap")))
        cn.append(tcp_segment(320, ISN + 1 + SEG * 300, SEG))
        wrpcap(str(rdir / "cn-eth0.pcap"), cn)
        return analyze_run(rdir)

    row = run_with_tail(1, 500.0)
    assert row["tcp_recovered"] is True
    assert row["tcp_stall_ms"] == 211.0
    assert "not counted as a stall" in row["remarks"]["tcp_recovered"]
    # A quiet tail of more than a second is a stall that had not ended.
    row = run_with_tail(2, 1500.0)
    assert row["tcp_recovered"] is False
    assert row["tcp_stall_ms"] == 1500.0


def test_shared_mac_uplink(tmp_path):
    row = analyze_run(write_run(tmp_path, scenario=2, kind="tcp"))
    assert row["uplink_to_old_mac"] is None  # one MAC on every MAG: cannot tell them apart
    assert row["uplink_to_new_mac"] == 2 and row["first_uplink_to_new_mac_ms"] == 6.0


def test_rejected_handover_is_named(tmp_path):
    row = analyze_run(write_run(tmp_path, kind="udp", pba_status=157))
    assert row["pba_status"] == 157
    assert row["l2_to_pbu_ms"] == 1.0
    assert row["pbu_to_pba_ms"] is None and row["total_ms"] is None
    assert "157 TIMESTAMP_LOWER_THAN_PREV_ACCEPTED" in row["not_measured"]["pbu_to_pba_ms"]


@pytest.mark.parametrize(
    "missing, metrics",
    [
        ("mag2-acc0.pcap", ("l2_to_pbu_ms", "pba_to_ra_ms", "total_ms", "move_to_l2_ms")),
        ("mag2-core0.pcap", ("l2_to_pbu_ms", "pbu_to_pba_ms", "pba_to_ra_ms", "total_ms")),
        ("mn5-wlan0.pcap", ("udp_latency_ms", "udp_lost", "udp_received")),
    ],
)
def test_missing_capture_means_not_measured_with_the_reason(tmp_path, missing, metrics):
    row = analyze_run(write_run(tmp_path, kind="udp", omit=(missing,)))
    for metric in metrics:
        assert row[metric] is None, metric
        assert missing in row["not_measured"][metric], row["not_measured"]


def test_missing_packets_mean_not_measured(tmp_path):
    rdir = write_run(tmp_path)
    # The new MAG's core capture holds only another MN's messages.
    from scapy.utils import wrpcap
    from test_experiment_synthetic import OTHER_ID, OTHER_MAC, pba

    wrpcap(
        str(rdir / "mag2-core0.pcap"),
        [
            mh(1.0, "2001:db8:ffff::12", "2001:db8:ffff::1", pbu(OTHER_MAC, OTHER_ID, 3)),
            mh(1.2, "2001:db8:ffff::1", "2001:db8:ffff::12", pba(OTHER_MAC, OTHER_ID, 3)),
        ],
    )
    row = analyze_run(rdir)
    assert row["l2_to_pbu_ms"] is None
    assert "no PBU for the MN" in row["not_measured"]["l2_to_pbu_ms"]
    assert row["total_ms"] is None


def test_syslog_of_the_wrong_mac_or_too_old_is_not_the_trigger(tmp_path):
    rdir = write_run(tmp_path, omit=("mag2-acc0.pcap",))
    from scapy.utils import wrpcap
    from test_experiment_synthetic import OTHER_MAC

    wrpcap(str(rdir / "mag2-acc0.pcap"), [syslog(-900, MN_MAC), syslog(0.5, OTHER_MAC)])
    row = analyze_run(rdir)
    assert row["move_to_l2_ms"] is None
    assert "0200.0000.0505" in row["not_measured"]["move_to_l2_ms"]


@pytest.mark.parametrize("content", [b"", b"not a capture at all", b"\xd4\xc3\xb2\xa1\x02"])
def test_damaged_captures_do_not_crash(tmp_path, content):
    rdir = write_run(tmp_path, kind="tcp")
    for name in ("mag2-acc0.pcap", "mn5-wlan0.pcap"):
        (rdir / name).write_bytes(content)
    row = analyze_run(rdir)
    assert row["total_ms"] is None and row["tcp_stall_ms"] is None
    assert row["not_measured"]["tcp_stall_ms"]


def test_truncated_capture_keeps_what_was_read(tmp_path):
    rdir = write_run(tmp_path, kind="udp")
    data = (rdir / "mn5-wlan0.pcap").read_bytes()
    (rdir / "mn5-wlan0.pcap").write_bytes(data[: len(data) - 77])
    row = analyze_run(rdir)
    assert row["udp_latency_ms"] == 6.0


def test_bad_meta_does_not_crash(tmp_path):
    rdir = write_run(tmp_path)
    (rdir / layout.META).write_text("{")
    row = analyze_run(rdir)
    assert "meta.json" in row["not_measured"]["all"]
    meta = {"scenario": 2, "run": 1, "kind": "udp"}
    (rdir / layout.META).write_text(json.dumps(meta))
    row = analyze_run(rdir)
    assert row["total_ms"] is None and row["udp_latency_ms"] is None
    assert row["not_measured"]["total_ms"]


def test_pcapng_and_cooked_captures_read_too(tmp_path):
    from scapy.layers.l2 import CookedLinux
    from scapy.utils import wrpcapng

    frames = [syslog(0.5, MN_MAC)]
    wrpcapng(str(tmp_path / "a.pcapng"), frames)
    (frame,) = read_frames(tmp_path / "a.pcapng")
    assert round((frame.ts - float(T0)) * 1000, 3) == 0.5
    assert frame.ip.ports == (50000, 514)
    cooked = bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes(8), proto=0x86DD))
    parsed = parse_frame(cooked + bytes(frames[0].payload), 113, 1.0)
    assert parsed.ip.ports == (50000, 514) and parsed.eth_dst is None


def test_extension_headers_are_walked_to_the_mobility_header():
    from scapy.layers.inet6 import IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    from pmip6d.wire import encode

    body = encode(pbu(MN_MAC, "x@y", 1))
    pkt = (
        Ether(src="0a:00:00:00:00:01", dst="0a:00:00:00:00:02")
        / IPv6_(nh=0)
        / IPv6ExtHdrHopByHop(nh=60)
        / IPv6ExtHdrDestOpt(nh=135)
        / Raw(body)
    )
    frame = parse_frame(bytes(pkt), 1, 0.0)
    assert frame.ip.proto == 135 and frame.ip.l4 == body


def IPv6_(**kw):
    from scapy.layers.inet6 import IPv6

    return IPv6(src="2001:db8::1", dst="2001:db8::2", **kw)


def test_tcp_trace_handles_sequence_wraparound():
    cn, mn = ip_bytes("2001:db8::1"), ip_bytes("2001:db8::2")
    frames = []
    seq = 2**32 - 1500
    for i in range(4):
        tcp = (
            (5201).to_bytes(2, "big")
            + (40000).to_bytes(2, "big")
            + ((seq + 1000 * i) % 2**32).to_bytes(4, "big")
            + bytes(4)
            + bytes([0x50, 0x10])
            + bytes(6)
        )
        frames.append(Frame(float(i), None, None, Packet(6, cn, mn, 6, tcp, 20 + 1000)))
    trace = tcp_trace(frames, cn, mn)
    assert [s[1] for s in trace.segments] == [0, 1000, 2000, 3000]
    assert trace.progress[-1] == (3.0, 4000) and trace.retransmissions == 0


# --------------------------------------------------------------------------- ESP, syslog link


def _as_esp(rdir, sas) -> None:
    """Rewrite the run's core captures as the ESP the agents send (RFC 5213 §4): every
    Mobility Header sealed with its direction's SA, the rest of each frame kept."""
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    from pmip6d.security.esp import OutboundSa, SecurityAssociation

    outbound = {
        (sa["source"], sa["destination"]): OutboundSa(
            SecurityAssociation(sa["spi"], bytes.fromhex(sa["key"]), sa["algorithm"])
        )
        for sa in sas
    }
    for name in ("mag2-core0.pcap", "lma-core0.pcap"):
        packets = []
        for pkt in rdpcap(str(rdir / name)):
            ip = pkt[IPv6]
            sealed = outbound[(ip.src, ip.dst)].seal(135, bytes(ip.payload))
            new = pkt.copy()
            new[IPv6].remove_payload()
            new[IPv6].nh = 50
            new[IPv6].plen = None
            new = new / Raw(sealed)
            new.time = pkt.time
            packets.append(new)
        wrpcap(str(rdir / name), packets)


ESP_SAS = [
    {"source": "2001:db8:ffff::12", "destination": "2001:db8:ffff::1", "spi": 4097,
     "algorithm": "aes256-gcm16", "key": "11" * 36},
    {"source": "2001:db8:ffff::1", "destination": "2001:db8:ffff::12", "spi": 8193,
     "algorithm": "aes128-gcm16", "key": "22" * 20},
]  # fmt: skip


def test_signaling_inside_esp_is_opened_with_the_runs_sas(tmp_path):
    from test_experiment_synthetic import LMA, MAG2

    assert (ESP_SAS[0]["source"], ESP_SAS[0]["destination"]) == (MAG2, LMA)
    rdir = write_run(tmp_path)
    clear = analyze_run(rdir)
    _as_esp(rdir, ESP_SAS)
    # Without the SAs the PBU and PBA are opaque: not measured, with the reason.
    blind = analyze_run(rdir)
    assert blind["l2_to_pbu_ms"] is None and "no PBU" in blind["not_measured"]["l2_to_pbu_ms"]
    layout.write_esp_sas(rdir, ESP_SAS)
    assert (rdir / layout.ESP_SAS).stat().st_mode & 0o777 == 0o600
    row = analyze_run(rdir)
    assert {k: row[k] for k in (*PHASES, "lma_pbu_to_pba_ms", "pba_status")} == {
        k: clear[k] for k in (*PHASES, "lma_pbu_to_pba_ms", "pba_status")
    }
    assert row["not_measured"] == {}
    # A wrong key opens nothing (authentication fails): not measured again, no crash.
    layout.write_esp_sas(rdir, [{**sa, "key": "33" * (len(sa["key"]) // 2)} for sa in ESP_SAS])
    assert analyze_run(rdir)["l2_to_pbu_ms"] is None


def test_the_l2_trigger_is_read_on_the_syslog_link_when_the_aps_have_one(tmp_path):
    rdir = write_run(tmp_path)
    # The APs' syslog arrives on a management link (the podman lab's mgmt0): move the
    # datagrams from the access capture to that link's.
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap, wrpcap

    access = rdpcap(str(rdir / "mag2-acc0.pcap"))
    wrpcap(str(rdir / "mag2-acc0.pcap"), [p for p in access if UDP not in p])
    wrpcap(str(rdir / "mag2-mgmt0.pcap"), [p for p in access if UDP in p])
    meta = layout.read_meta(rdir)
    meta["captures"].append(
        {"file": "mag2-mgmt0.pcap", "host": "mag2", "interface": "mgmt0", "role": "syslog"}
    )
    layout.write_meta(rdir, meta)
    row = analyze_run(rdir)
    assert row["l2_at"] == pytest.approx(float(at(0.5)), abs=1e-6)
    assert row["total_ms"] == 3.7 and row["not_measured"] == {}
