"""Synthetic experiment runs: run directories with pcaps crafted by scapy at known times.

The builder here is what the other ``test_experiment_*`` modules measure against:
every event is placed at an exact microsecond relative to the move, so the
expected metrics are known exactly. Decoys (another MN's syslog, PBU, PBA and
RA, an old association report of our MN) sit next to the real events; a
correct analysis must pass over them. The tests in this module check the
builder itself: the captures read back with exact stamps and decode as meant.
"""

from __future__ import annotations

import functools
import itertools
import json
from decimal import Decimal
from pathlib import Path

from scapy.layers.inet import TCP as _TCP
from scapy.layers.inet import UDP as _UDP
from scapy.layers.inet6 import ICMPv6ND_RA, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from pmip6d.wire import ProxyBindingAck, ProxyBindingUpdate, decode, encode, with_checksum
from pmip6d_lab.experiment import layout
from pmip6d_lab.experiment.frames import cisco_mac, mac_bytes, read_frames

T0 = Decimal("1700000000")
"""The move (``handover.moved_at``), in Unix seconds."""
MN_MAC = "02:00:00:00:05:05"
OTHER_MAC = "02:00:00:00:06:06"
MN_ID = "mn5@lab.pmipv6.example"
OTHER_ID = "mn6@lab.pmipv6.example"
CN = "2001:db8:c::2"
MN_ADDR = "2001:db8:100:5:0:ff:fe00:505"
LMA = "2001:db8:ffff::1"
MAG1 = "2001:db8:ffff::11"
MAG2 = "2001:db8:ffff::12"
AP2 = "fd00:a2::2"
MAG2_ACC = "fd00:a2::1"
MAG_MACS = {1: ("0a:00:00:00:00:01", "0a:00:00:00:00:02")}
SHARED_MAC = "02:50:4d:49:50:36"
PORT = 5201
TCP_PORT_BOTH = 5202
"""Kind both: the UDP stream on PORT, the TCP transfer on the next port (as the runner does)."""
UP_PORT = 5209
"""The UDP stream MN → CN of a run made with ``uplink`` (the iperf3 server's port on the MN)."""

DEFAULT_PHASES = {"l2": 0.5, "pbu": 1.5, "pba": 3.0, "ra": 4.2, "lma_pbu": 1.6, "lma_pba": 2.9}
"""Event times in ms after the move: expected phases 1.0, 1.5, 1.2 ms, total 3.7 ms."""


def at(ms: float | str) -> Decimal:
    """The Unix time ``ms`` milliseconds after the move (exact, for pcap stamps)."""
    return T0 + Decimal(str(ms)) / 1000


def _stamp(pkt, ms):
    pkt.time = at(ms)
    return pkt


def mag_macs(scenario: int) -> tuple[str, str]:
    return MAG_MACS.get(scenario, (SHARED_MAC, SHARED_MAC))


def make_meta(scenario: int, run: int, kind: str, **extra) -> dict:
    old_mac, new_mac = mag_macs(scenario)
    meta = {
        "schema": 1,
        "scenario": scenario,
        "scenario_name": layout.SCENARIOS[scenario],
        "run": run,
        "kind": kind,
        "testbed": {"kind": "synthetic"},
        "mn": {"name": "mn5", "mac": MN_MAC, "mn_id": MN_ID, "address": MN_ADDR},
        "cn": {"address": CN, "interface": "eth0"},
        "lma": {"address": LMA, "core_interface": "core0"},
        "mags": {
            "mag1": {"address": MAG1, "access_mac": old_mac, "access_address": "fd00:a1::1"},
            "mag2": {"address": MAG2, "access_mac": new_mac, "access_address": MAG2_ACC},
        },
        "aps": {"ap2": {"mag": "mag2", "address": AP2}},
        "syslog_port": 514,
        "handover": {
            "from_ap": "ap1",
            "to_ap": "ap2",
            "from_mag": "mag1",
            "to_mag": "mag2",
            "move_started_at": float(at(-0.1)),
            "moved_at": float(T0),
        },
        "traffic": {
            "tool": "iperf3",
            "kind": kind,
            "port": PORT,
            "rate_bps": 1_000_000 if kind == "udp" else 20_000_000,
            "length": 125 if kind == "udp" else None,
            "before_s": 0.3,
            "after_s": 0.3,
            "stopped_at": float(at(350)),
            "client_exit": "completed",
        },
        "captures": [
            {"file": "mag1-acc0.pcap", "host": "mag1", "interface": "acc0", "role": "access"},
            {"file": "mag2-acc0.pcap", "host": "mag2", "interface": "acc0", "role": "access"},
            {"file": "mag2-core0.pcap", "host": "mag2", "interface": "core0", "role": "core"},
            {"file": "lma-core0.pcap", "host": "lma", "interface": "core0", "role": "core"},
            {"file": "mn5-wlan0.pcap", "host": "mn5", "interface": "wlan0", "role": "mn"},
            {"file": "cn-eth0.pcap", "host": "cn", "interface": "eth0", "role": "cn"},
        ],
    }
    if kind == "both":
        flows = {
            "udp": {"port": PORT, "rate_bps": 1_000_000, "length": 125, "after_s": 0.3},
            "tcp": {"port": TCP_PORT_BOTH, "rate_bps": 20_000_000, "length": None, "after_s": 0.3},
        }
        for flow in flows.values():
            flow["client_exit"] = "completed"
        meta["traffic"] = {
            "tool": "iperf3",
            "kind": kind,
            "before_s": 0.3,
            "after_s": 0.3,
            "stopped_at": float(at(350)),
            "client_exit": "completed",
            "flows": flows,
        }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(meta.get(key), dict):
            meta[key] = {**meta[key], **value}
        else:
            meta[key] = value
    return meta


# --------------------------------------------------------------------------- frames


def syslog(ms, mac: str, verb: str = "Reassociated"):
    line = (
        f"<190>42: *Nov 14 22:13:20.000: %DOT11-6-ASSOC: Interface Dot11Radio0, "
        f"Station MN {cisco_mac(mac_bytes(mac))} {verb} KEY_MGMT[NONE]"
    )
    pkt = (
        Ether(src="0a:00:00:00:00:aa", dst=mag_macs(2)[1])
        / IPv6(src=AP2, dst=MAG2_ACC)
        / _UDP(sport=50000, dport=514)
        / Raw(line.encode())
    )
    return _stamp(pkt, ms)


def mh(ms, src: str, dst: str, message):
    body = with_checksum(src, dst, encode(message))
    pkt = Ether(src="0a:00:00:00:01:00", dst="0a:00:00:00:01:01") / IPv6(src=src, dst=dst, nh=135)
    pkt = pkt / Raw(body)
    return _stamp(pkt, ms)


def pbu(mac: str, mn_id: str, sequence: int, lifetime_units: int = 150):
    return ProxyBindingUpdate(
        sequence=sequence,
        lifetime_units=lifetime_units,
        mn_id=mn_id.encode(),
        mn_link_layer_id=mac_bytes(mac),
        handoff_indicator=3,
        access_technology_type=4,
        timestamp=(1_700_000_000 << 16),
    )


def pba(mac: str, mn_id: str, sequence: int, status: int = 0):
    return ProxyBindingAck(
        status=status,
        sequence=sequence,
        lifetime_units=150 if status == 0 else 0,
        mn_id=mn_id.encode(),
        mn_link_layer_id=mac_bytes(mac),
        timestamp=(1_700_000_000 << 16),
    )


def ra(ms, dst_mac: str, scenario: int = 2):
    pkt = (
        Ether(src=mag_macs(scenario)[1], dst=dst_mac)
        / IPv6(src="fe80::1", dst="ff02::1", hlim=255)
        / ICMPv6ND_RA()
    )
    return _stamp(pkt, ms)


def udp_datagram(ms, seq: int, length: int = 125):
    payload = (1_700_000_000).to_bytes(4, "big") + bytes(4) + seq.to_bytes(4, "big")
    pkt = (
        Ether(src=SHARED_MAC, dst=MN_MAC)
        / IPv6(src=CN, dst=MN_ADDR)
        / _UDP(sport=40000, dport=PORT)
        / Raw(payload + bytes(length - len(payload)))
    )
    return _stamp(pkt, ms)


def tcp_segment(
    ms,
    seq: int,
    length: int,
    flags: str = "A",
    src: str = CN,
    dst: str = MN_ADDR,
    port: int = PORT,
):
    sport, dport = (40001, port) if src == CN else (port, 40001)
    pkt = (
        Ether(src=SHARED_MAC, dst=MN_MAC)
        / IPv6(src=src, dst=dst)
        / _TCP(sport=sport, dport=dport, seq=seq, ack=1, flags=flags)
    )
    if length:
        pkt = pkt / Raw(bytes(length))
    return _stamp(pkt, ms)


_tcp_segment = tcp_segment


def up_datagram(ms, seq: int, dst_mac: str = SHARED_MAC, length: int = 125):
    """A datagram of the stream MN → CN (iperf3 -R: from the server's port on the MN)."""
    payload = (1_700_000_000).to_bytes(4, "big") + bytes(4) + seq.to_bytes(4, "big")
    pkt = (
        Ether(src=MN_MAC, dst=dst_mac)
        / IPv6(src=MN_ADDR, dst=CN)
        / _UDP(sport=UP_PORT, dport=40002)
        / Raw(payload + bytes(length - len(payload)))
    )
    return _stamp(pkt, ms)


UP_GAP = range(0, 9)
"""Stream MN → CN, resumed: datagrams k = 0..8 are lost, a gap of 10 ms (latency 9 ms)."""
UP_STUCK_LAST_ON_WIRE = 40
"""Stream MN → CN, stuck (scenario 1): the MN puts datagrams on the wire, to the old MAG's
MAC, until k = 40, then none (its kernel drops them); the CN gets none after the move."""


def uplink_stream(scenario: int, how: str) -> tuple[list, list]:
    """(MN capture, CN capture) of the stream MN → CN: one datagram every 1 ms, k = -300 …
    299, leaving the MN at k + 0.1 ms and reaching the CN at k + 0.25 ms."""
    old_mac, new_mac = mag_macs(scenario)
    mn, cn = [], []
    for k in range(-300, 300):
        seq = k + 301
        if how == "stuck" and k > UP_STUCK_LAST_ON_WIRE:
            break
        mn.append(up_datagram(round(k + 0.1, 3), seq, old_mac if k >= 0 else new_mac))
        if (how == "resumed" and k in UP_GAP) or (how == "stuck" and k >= 0):
            continue
        cn.append(up_datagram(round(k + 0.25, 3), seq, old_mac if k >= 0 else new_mac))
    return mn, cn


def uplink(ms, dst_mac: str):
    """An ACK from the MN to its default router's MAC."""
    pkt = (
        Ether(src=MN_MAC, dst=dst_mac)
        / IPv6(src=MN_ADDR, dst=CN)
        / _TCP(sport=PORT, dport=40001, flags="A")
    )
    return _stamp(pkt, ms)


# --------------------------------------------------------------------------- streams

UDP_GAP = range(0, 6)
"""Datagrams k = 0..5 (due 0.3 … 5.3 ms after the move) are lost: the handover gap is 7.0 ms."""
UDP_PAUSE = range(150, 159)
"""The sender pauses 10 ms at +150 ms (datagrams k = 150..158 never sent): a gap larger than
the handover's, after the handover is over — noise the analysis must not take for it."""


def udp_times() -> list[tuple[float, int]]:
    """(arrival ms, sequence) at the MN: one every 1 ms at k + 0.3 ms, k = -300 … 299, but
    for the datagrams of the handover gap, and one 0.4 ms late at k = -100 (the noise)."""
    out = []
    for k in range(-300, 300):
        if k in UDP_GAP or k in UDP_PAUSE:
            continue
        t = k + 0.3 + (0.4 if k == -100 else 0.0)
        out.append((round(t, 3), udp_seq(k)))
    return out


def udp_seq(k: int) -> int:
    """iperf3's sequence number of datagram k: counts the datagrams sent, from 1."""
    return k + 301 - sum(1 for p in UDP_PAUSE if p < k)


SEG = 1000
ISN = 5000


def tcp_resumed(port: int = PORT) -> tuple[list, list]:
    """(MN frames, CN frames): in-order data until -0.5 ms, segments 200–204 lost, 205
    arrives out of order at +5.5 ms, one retransmission of 200–204 at +210.5 ms, then on."""
    tcp_segment = functools.partial(_tcp_segment, port=port)
    mn = [tcp_segment(-300, ISN, 0, "S")]
    cn = [tcp_segment(-300.1, ISN, 0, "S")]
    for i in range(300):
        t = -199.5 + i
        seq = ISN + 1 + SEG * i
        cn.append(tcp_segment(round(t - 0.1, 3), seq, SEG))
        if 200 <= i <= 204:
            continue
        if i == 205:
            mn.append(tcp_segment(5.5, seq, SEG))
            continue
        if i > 205:
            t = 211.5 + (i - 206)
        mn.append(tcp_segment(round(t, 3), seq, SEG))
    cn.append(tcp_segment(210.4, ISN + 1 + SEG * 200, 5 * SEG))
    mn.append(tcp_segment(210.5, ISN + 1 + SEG * 200, 5 * SEG))
    cn.sort(key=lambda p: p.time)
    mn.sort(key=lambda p: p.time)
    return mn, cn


def tcp_stuck(port: int = PORT) -> tuple[list, list]:
    """In-order data until -0.5 ms; after the move only retransmissions of the last segment
    (the MN's ACKs never reach the CN): at +200, +600, +1400 ms."""
    tcp_segment = functools.partial(_tcp_segment, port=port)
    mn = [tcp_segment(-300, ISN, 0, "S")]
    cn = [tcp_segment(-300.1, ISN, 0, "S")]
    for i in range(200):
        t = -199.5 + i
        seq = ISN + 1 + SEG * i
        cn.append(tcp_segment(round(t - 0.1, 3), seq, SEG))
        mn.append(tcp_segment(round(t, 3), seq, SEG))
    for t in (200, 600, 1400):
        cn.append(tcp_segment(t - 0.1, ISN + 1 + SEG * 199, SEG))
        mn.append(tcp_segment(t, ISN + 1 + SEG * 199, SEG))
    return mn, cn


@functools.cache
def _traffic(scenario: int, kind: str, tcp: str, port: int = PORT) -> tuple[list, list]:
    """(MN capture, CN capture) of a run's traffic; built once, the packets are never changed."""
    old_mac, new_mac = mag_macs(scenario)
    if kind == "both":
        # The two flows at once, the TCP transfer on the next port: the union of the frames.
        udp_mn, udp_cn = _traffic(scenario, "udp", tcp)
        tcp_mn, tcp_cn = _traffic(scenario, "tcp", tcp, TCP_PORT_BOTH)
        mn = sorted(udp_mn + tcp_mn, key=lambda p: p.time)
        return mn, sorted(udp_cn + tcp_cn, key=lambda p: p.time)
    if kind == "udp":
        mn = [udp_datagram(t, k) for t, k in udp_times()]
        cn = [
            udp_datagram(round(k + 0.2, 3), udp_seq(k))
            for k in range(-300, 300)
            if k not in UDP_PAUSE
        ]
        mn += [uplink(100, new_mac)]
    elif tcp == "resumed":
        mn, cn = tcp_resumed(port)
        mn += [uplink(t, new_mac) for t in (6.0, 212.0)]
    else:
        mn, cn = tcp_stuck(port)
        mn += [uplink(t, old_mac) for t in (200.05, 600.05, 1400.05)]
    mn.sort(key=lambda p: p.time)
    return mn, cn


# --------------------------------------------------------------------------- a run


def write_run(
    root: Path,
    scenario: int = 2,
    run: int = 1,
    kind: str = "udp",
    *,
    phases: dict | None = None,
    pba_status: int = 0,
    tcp: str = "resumed",
    omit: tuple[str, ...] = (),
    done: bool = True,
    meta_extra: dict | None = None,
    uplink: str | None = None,
) -> Path:
    """Write one synthetic run under ``root`` (the run layout); returns its directory.

    ``phases``: event times in ms after the move (``DEFAULT_PHASES``; shift them per run to
    get distinct Table II rows). ``omit``: capture files to leave out. ``uplink``
    (resumed | stuck, UDP runs): the run also carries the stream MN → CN on ``UP_PORT``.
    """
    ph = {**DEFAULT_PHASES, **(phases or {})}
    rdir = layout.run_dir(root, scenario, run, kind)
    rdir.mkdir(parents=True, exist_ok=True)
    extra = dict(meta_extra or {})
    if layout.has_tcp(kind) and tcp == "stuck":
        extra.setdefault("traffic", {})
        extra["traffic"] = {**extra["traffic"], "stopped_at": float(at(2000))}
    meta = make_meta(scenario, run, kind, **extra)
    if uplink is not None:
        traffic = meta["traffic"]
        flows = traffic.get("flows") or {
            "udp": {k: traffic[k] for k in ("port", "rate_bps", "length", "after_s")}
        }
        flows["udpup"] = {"port": UP_PORT, "rate_bps": 1_000_000, "length": 125, "after_s": 0.3}
        traffic.update(flows=flows, started_at=float(at(-300)))
    layout.write_meta(rdir, meta)
    seq = 7
    access = [
        syslog(-5000, MN_MAC, "Associated"),  # an old report of our MN: before the window
        syslog(ph["l2"] - 0.3, OTHER_MAC),  # another MN roaming just before ours
        syslog(ph["l2"], MN_MAC),
        ra(ph["pba"] + 0.2, OTHER_MAC, scenario),  # another MN's RA, after our PBA
        ra(ph["ra"], MN_MAC, scenario),
        ra(ph["ra"] + 300, MN_MAC, scenario),  # the periodic one later
    ]
    core = [
        mh(ph["pbu"] - 0.4, MAG2, LMA, pbu(OTHER_MAC, OTHER_ID, 3)),
        mh(ph["pbu"] - 0.1, LMA, MAG2, pba(OTHER_MAC, OTHER_ID, 3)),
        mh(ph["pbu"], MAG2, LMA, pbu(MN_MAC, MN_ID, seq)),
        mh(ph["pba"], LMA, MAG2, pba(MN_MAC, MN_ID, seq, pba_status)),
    ]
    lma = [
        mh(ph["lma_pbu"], MAG2, LMA, pbu(MN_MAC, MN_ID, seq)),
        mh(ph["lma_pba"], LMA, MAG2, pba(MN_MAC, MN_ID, seq, pba_status)),
    ]
    if pba_status != 0:
        access = [p for p in access if p.time <= at(ph["pba"]) or ICMPv6ND_RA not in p]
    mn, cn = _traffic(scenario, kind, tcp)
    if uplink is not None:
        up_mn, up_cn = uplink_stream(scenario, uplink)
        mn, cn = mn + up_mn, cn + up_cn
    files = {
        "mag1-acc0.pcap": [ra(-200, MN_MAC, scenario)],
        "mag2-acc0.pcap": access,
        "mag2-core0.pcap": core,
        "lma-core0.pcap": lma,
        "mn5-wlan0.pcap": mn,
        "cn-eth0.pcap": cn,
    }
    for name, packets in files.items():
        if name not in omit:
            wrpcap(str(rdir / name), sorted(packets, key=lambda p: p.time))
    for flow in layout.flows(kind, uplink=uplink is not None):
        if flow == "udpup":
            lost = len(UP_GAP) if uplink == "resumed" else None
            server = {"end": {"sum": {"sender": True}}}
            client = {"end": {"sum": {"lost_packets": lost, "sender": False}}}
        elif flow == "udp":
            server = {"end": {"sum": {"lost_packets": len(UDP_GAP), "sender": False}}}
            client = {"end": {"sum": {"lost_packets": len(UDP_GAP), "sender": True}}}
        else:
            server = {"end": {"sum_received": {"bytes": 1}}}
            client = {"end": {"sum_sent": {"retransmits": 1, "sender": True}}}
        (rdir / layout.iperf3_file(kind, flow, "server")).write_text(json.dumps(server))
        (rdir / layout.iperf3_file(kind, flow, "client")).write_text(json.dumps(client))
    if done:
        (rdir / layout.DONE).write_text("")
    return rdir


# --------------------------------------------------------------------------- the builder's tests


def test_captures_read_back_with_exact_stamps(tmp_path):
    rdir = write_run(tmp_path)
    frames = read_frames(rdir / "mag2-core0.pcap")
    assert [round((f.ts - float(T0)) * 1000, 3) for f in frames] == [1.1, 1.4, 1.5, 3.0]
    messages = [decode(f.ip.l4) for f in frames]
    assert [type(m).__name__ for m in messages] == [
        "ProxyBindingUpdate",
        "ProxyBindingAck",
        "ProxyBindingUpdate",
        "ProxyBindingAck",
    ]
    assert messages[2].mn_link_layer_id == mac_bytes(MN_MAC)


def test_udp_stream_has_the_gap_it_claims():
    times = udp_times()
    gaps = [(b[0] - a[0], a, b) for a, b in itertools.pairwise(times)]
    around_move = max(g for g in gaps if g[1][0] < 0 < g[2][0])
    assert round(around_move[0], 3) == 7.0
    assert around_move[1] == (-0.7, 300) and around_move[2] == (6.3, 307)
    assert round(max(gaps)[0], 3) == 10.0  # the sender's pause at +150 ms
