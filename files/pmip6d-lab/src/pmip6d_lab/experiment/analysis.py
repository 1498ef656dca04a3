"""One run directory → the paper's metrics, from packet timestamps only (pure: no sockets).

Every time used here is a capture timestamp, except the instant the radio link
moved (``meta.json`` → ``handover.moved_at``, taken by whoever moved it on the
same clock as the captures). Definitions, with *h* = ``moved_at`` and *h₀* =
``move_started_at`` (just before the move was asked for; *h* when absent):

PMIPv6 phases (Table II), at the **new** MAG:

* ``l2_at`` — the first syslog datagram reporting the MN's (re)association
  (Cisco ``%DOT11-6-ASSOC`` naming the MN's MAC as ``xxxx.xxxx.xxxx``, read by
  the MAG's own parser) captured on the new MAG's access interface, from
  *h* − 0.5 s on;
* ``pbu_at`` — the first Proxy Binding Update (lifetime > 0) for the MN
  (its MN link-layer identifier or MN-Identifier option) leaving the new MAG's
  core interface, at or after ``l2_at``;
* ``pba_at`` — the first accepting PBA for the MN arriving there whose sequence
  number is one of those PBUs', at or after ``pbu_at`` (``pba_status``: its
  status, or the first reject's when none accepted: the handover failed);
* ``ra_at`` — the first Router Advertisement whose Ethernet destination is the
  MN's MAC leaving the new MAG's access interface, at or after ``pba_at``;
* phases: ``l2_to_pbu_ms``, ``pbu_to_pba_ms``, ``pba_to_ra_ms`` and
  ``total_ms`` = ``ra_at − l2_at``. Also ``move_to_l2_ms`` (``l2_at − h``: how
  late the AP reported the move) and ``lma_pbu_to_pba_ms`` (the same PBU in and
  its PBA out on the LMA's core interface: the LMA's share of PBU → PBA).

UDP handover latency (constant-rate stream CN → MN, interval *I* = datagram
length × 8 / rate): the MN's capture gives the arrival times *t₀ < t₁ < …* of
the stream's datagrams; *tᵦ* is the last one before *h₀*. *Around the move*
means the handover period, from the move until the new MAG's first RA to the
MN (``ra_at``; *h* if unknown): among the gaps *tᵢ₊₁ − tᵢ* with *i ≥ b* and
*tᵢ ≤* that end — always including the gap across the move — the largest is
``udp_max_gap_ms`` and ``udp_latency_ms`` = that gap − *I*. Gaps that start
after PMIPv6 is done are not the handover's (a loaded sender pauses a few ms
now and then: ``udp_baseline_gap_ms`` is the same measure before *h₀*, the
noise floor). If the CN went on sending datagrams the MN never received after an
arrival within the handover period (the *open gap*: CN's last datagram − MN's
last arrival, or without a CN capture, no arrival at all after the move: end of
observation − *tᵦ*) and that is the largest, the stream did not resume in the
window: ``udp_recovered`` is false and the latency is a lower bound.
``udp_lost``: datagrams the CN's capture saw leave that never reached the MN
(without a CN capture: holes in the iperf3 sequence numbers); when the stream
went on after the handover, those sent after the MN's last arrival were still in
flight when the captures stopped and do not count. ``udp_lost_in_gap``: sequence
numbers missing across the largest gap.

UDP MN → CN (``udp_up_…``): the same measures of a second stream at the same rate,
sent by the MN (iperf3 -R) and received by the CN, through the same handover; sent
and lost are counted at the MN's and the CN's captures. This is the direction that
depends on the MN's default router: in scenario 1 the MN goes on sending to the old
MAG's MAC. Once the old router's neighbour entry has failed the MN's kernel drops the
datagrams before the wire, so an open gap lasts until the stream's planned end. Runs
recorded before this stream existed have no ``udp_up_…`` values (not "not measured":
there was nothing to measure, as for UDP in a TCP run).

TCP stall (bulk transfer CN → MN): the MN's capture of the data connection
(the CN → MN TCP flow with the most payload), sequence numbers relative to the
SYN. *In-order progress* is every arrival that advances the next expected byte
(all bytes below it received): times *p₀ < p₁ < …*; *pᵦ* is the last at or
before *h*. ``tcp_stall_ms`` is the longest time without in-order progress
from *pᵦ* on: the largest *pₖ₊₁ − pₖ* (k ≥ b, *pₖ ≤ h* + 250 ms: a stall
starts before the move or once the in-flight window has trickled in; where the
MN had to change router (the new MAG has another MAC: scenario 1), until its
first frame to the new MAG, as progress before it is the CN's retransmissions
filling the holes the move left; later gaps are the flow's own noise, whose size before the move is
``tcp_baseline_gap_ms``) — in the common case the time from the last progress
before the move to the first after — or the open gap
*end of observation − last progress*, if at least ``TCP_OPEN_GAP_MIN_S``, when the
CN was still sending after the MN's last progress (new data, or retransmissions
of data whose ACKs never reached it; without a CN capture: when iperf3 did not complete) — the MN's
in-flight window can still trickle in after the move while its ACKs go
nowhere, and the stall comes after it. When the open gap is the
largest, ``tcp_recovered`` is false and the stall a lower bound ("> window").
The end of observation is when the traffic was stopped (``traffic.stopped_at``).
``tcp_retrans_mn`` / ``tcp_retrans_cn``: segments starting below the highest
sequence already seen, at the MN (arrived) and at the CN (sent);
``iperf3_retransmits``: the sender's own count.

Uplink after the move (the MN's TCP/UDP frames by Ethernet destination):
``uplink_to_old_mac`` (the old MAG's access MAC; None when every MAG has the
same MAC), ``uplink_to_new_mac`` and ``first_uplink_to_new_mac_ms`` (after
*h*): in scenario 1 they show the MN keeping its old, vanished default router.

A run of kind ``both`` carries a UDP stream and a TCP transfer through the same
handover, on two iperf3 ports (``traffic.flows``): the UDP metrics come from
the datagrams to the UDP port, the TCP ones from the data connection to the
TCP port; the PMIPv6 phases are the handover's, measured once.

A metric that cannot be computed is None and ``not_measured[metric]`` says why;
``remarks`` holds what qualifies a value (a lower bound: "> window"). No input
makes :func:`analyze_run` raise.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmip6d.triggers.cisco import parse_cisco_datagram
from pmip6d.triggers.events import L2Event
from pmip6d.wire import ProxyBindingAck, ProxyBindingUpdate, decode, status_name

from . import layout
from .frames import (
    IPPROTO_ICMPV6,
    IPPROTO_MH,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_SYN,
    Frame,
    Packet,
    cisco_mac,
    ip_bytes,
    mac_bytes,
    read_frames,
)

TCP_STALL_START_S = 0.25
"""A TCP stall must start by this long after the move (see the module docstring)."""
TCP_OPEN_GAP_MIN_S = 1.0
"""The shortest open gap at the end of the observation that counts as a stall that never
ended. Shorter ones (5 x Linux's 200 ms minimum RTO: the CN would have retransmitted
several times) are the observation ending between the CN's last send and its arrival at
the MN, which a loaded machine stretches to tens of milliseconds."""
L2_LOOKBACK_S = 0.5
"""How long before ``moved_at`` an association report may be stamped and still count."""
ND_ROUTER_ADVERT = 134
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
PHASES = ("l2_to_pbu_ms", "pbu_to_pba_ms", "pba_to_ra_ms", "total_ms")
PHASE_TITLES = {
    "l2_to_pbu_ms": "L2 attachment – PBU",
    "pbu_to_pba_ms": "PBU – PBA",
    "pba_to_ra_ms": "PBA – RA",
    "total_ms": "Total PMIPv6 latency",
}
UDP_METRICS = (
    "udp_interval_ms",
    "udp_sent",
    "udp_received",
    "udp_lost",
    "udp_lost_in_gap",
    "udp_max_gap_ms",
    "udp_latency_ms",
    "udp_recovered",
    "udp_baseline_gap_ms",
    "iperf3_lost",
)
TCP_METRICS = (
    "tcp_bytes",
    "tcp_stall_ms",
    "tcp_recovered",
    "tcp_window_s",
    "tcp_baseline_gap_ms",
    "tcp_retrans_mn",
    "tcp_retrans_cn",
    "iperf3_retransmits",
)
UDP_UP = {
    key: "iperf3_up_lost" if key == "iperf3_lost" else "udp_up_" + key[4:] for key in UDP_METRICS
}
"""The UDP metrics of the stream MN → CN: the same measures, ``udp_up_…`` (``iperf3_up_lost``)."""
UDP_UP_METRICS = tuple(UDP_UP.values())
UPLINK_METRICS = ("uplink_to_old_mac", "uplink_to_new_mac", "first_uplink_to_new_mac_ms")
STALL_END_METRICS = (
    "old_router_probes",
    "old_router_last_probe_ms",
    "old_router_resolves",
    "old_router_answered",
    "last_uplink_to_old_mac_ms",
    "cn_retrans_after_move",
    "tcp_resumed_ms",
    "tcp_resumed_by_retrans_ms",
    "stall_ended_by",
)
"""What ended a stall of the MN's uplink (scenario 1), read from the MN's and the CN's
captures: :func:`stall_end_metrics`."""
REMARKS = ("udp_recovered", "udp_up_recovered", "tcp_recovered", "first_uplink_to_new_mac_ms")
"""Notes that qualify a measured value (a lower bound, "never in the window") rather than
say a metric could not be measured: they go to ``remarks``, not ``not_measured``."""
EVENT_TIMES = ("l2_at", "pbu_at", "pba_at", "ra_at", "lma_pbu_at", "lma_pba_at")
COLUMNS = (
    "run_id",
    "scenario",
    "run",
    "kind",
    "mn_name",
    "mn_mac",
    "mn_address",
    "from_mag",
    "to_mag",
    "moved_at",
    *EVENT_TIMES,
    "move_to_l2_ms",
    *PHASES,
    "lma_pbu_to_pba_ms",
    "pba_status",
    *UDP_METRICS,
    *UDP_UP_METRICS,
    *TCP_METRICS,
    *UPLINK_METRICS,
    *STALL_END_METRICS,
    "long_observation",
    "iperf3_error",
)
"""The columns of results.csv, in order (then ``not_measured`` and ``remarks``)."""


def ms(a: float | None, b: float | None) -> float | None:
    """b − a in milliseconds, rounded to the microsecond (the captures' resolution)."""
    if a is None or b is None:
        return None
    return round((b - a) * 1000, 3)


# --------------------------------------------------------------------------- run data


@dataclass
class RunData:
    """A run directory: its meta.json and (lazily) the frames of its captures."""

    path: Path
    meta: dict[str, Any]
    _frames: dict[str, list[Frame]] = field(default_factory=dict)
    _esp: EspKeys | None = None

    @classmethod
    def load(cls, path: Path | str) -> RunData:
        path = Path(path)
        return cls(path, layout.read_meta(path))

    def capture_file(self, host: str | None, role: str) -> str | None:
        for cap in self.meta.get("captures", []):
            if cap.get("role") == role and (host is None or cap.get("host") == host):
                return cap["file"]
        return None

    def frames(self, host: str | None, role: str) -> tuple[list[Frame] | None, str]:
        """Frames of the capture of ``host``'s ``role`` interface, or None and why not."""
        name = self.capture_file(host, role)
        where = f"{host}'s {role} interface" if host else f"the {role} interface"
        if name is None:
            return None, f"no capture of {where} in this run"
        if name not in self._frames:
            file = self.path / name
            if not file.exists():
                return None, f"capture {name} of {where} is missing"
            self._frames[name] = read_frames(file)
        frames = self._frames[name]
        if not frames:
            return None, f"capture {name} of {where} holds no packet"
        return frames, ""

    @property
    def esp_keys(self) -> EspKeys | None:
        """The run's signaling SAs, if its signaling was in ESP (:data:`layout.ESP_SAS`)."""
        if self._esp is None:
            self._esp = EspKeys(layout.read_esp_sas(self.path))
        return self._esp if self._esp else None

    # -- the facts every metric needs
    @property
    def mn_mac(self) -> bytes | None:
        mac = self.meta.get("mn", {}).get("mac")
        return mac_bytes(mac) if mac else None

    @property
    def mn_id(self) -> bytes | None:
        mn_id = self.meta.get("mn", {}).get("mn_id")
        return mn_id.encode() if mn_id else None

    @property
    def moved_at(self) -> float | None:
        return self.meta.get("handover", {}).get("moved_at")

    @property
    def move_started_at(self) -> float | None:
        ho = self.meta.get("handover", {})
        return ho.get("move_started_at", ho.get("moved_at"))

    @property
    def to_mag(self) -> str | None:
        return self.meta.get("handover", {}).get("to_mag")

    def address(self, *keys: str) -> bytes | None:
        node: Any = self.meta
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        try:
            return ip_bytes(node) if isinstance(node, str) else None
        except OSError:
            return None


class NotMeasured(Exception):
    """Raised inside the metric functions; becomes a ``not_measured`` entry."""


# --------------------------------------------------------------------------- PMIPv6 phases


def _is_association_report(frame: Frame, mac: bytes, port: int) -> bool:
    ip = frame.ip
    if ip is None or ip.proto != IPPROTO_UDP or ip.ports is None or ip.ports[1] != port:
        return False
    payload = ip.udp_payload
    result = parse_cisco_datagram(payload)
    if isinstance(result, L2Event):
        return result.kind == "attach" and result.mac == mac
    # Cut short by the snap length, or a format the parser does not know: the text test.
    text = payload.decode("latin-1")
    return cisco_mac(mac) in text and "ssociated" in text and "Disassociated" not in text


def _mh_messages(frames: Iterable[Frame], esp: EspKeys | None = None):
    """The Mobility Header messages in the frames: in clear, or inside the signaling's ESP
    (RFC 5213 §4) when the run's SAs are known (``esp``)."""
    for frame in frames:
        ip = frame.ip
        if ip is None:
            continue
        if ip.proto == IPPROTO_MH:
            yield frame, decode(ip.l4)
        elif ip.proto == IPPROTO_ESP and esp is not None:
            mh = esp.open(ip)
            if mh is not None:
                yield frame, decode(mh)


IPPROTO_ESP = 50


class EspKeys:
    """The run's ESP SAs (``esp-sas.json``), to open the PBUs and PBAs in its captures."""

    def __init__(self, sas: list[dict[str, Any]]) -> None:
        from pmip6d.security.esp import SecurityAssociation

        self._sas = {
            (ip_bytes(sa["source"]), ip_bytes(sa["destination"]), int(sa["spi"])): (
                SecurityAssociation(
                    int(sa["spi"]), bytes.fromhex(sa["key"].removeprefix("0x")), sa["algorithm"]
                )
            )
            for sa in sas
        }

    def __bool__(self) -> bool:
        return bool(self._sas)

    def open(self, ip: Packet) -> bytes | None:
        """The Mobility Header inside an ESP packet, or None (another SA, cut short, forged)."""
        from pmip6d.security.esp import EspError, InboundSa

        if len(ip.l4) < 8 or len(ip.l4) < ip.l4_len:
            return None  # not captured whole: the ICV covers every byte
        sa = self._sas.get((ip.src, ip.dst, int.from_bytes(ip.l4[:4], "big")))
        if sa is None:
            return None
        try:
            # A fresh window per packet: a capture is read, not defended (the same packet
            # is in the MAG's and the LMA's capture).
            next_header, payload = InboundSa(sa).open(ip.l4[: ip.l4_len])
        except EspError:
            return None
        return payload if next_header == IPPROTO_MH else None


def _for_mn(msg: ProxyBindingUpdate | ProxyBindingAck, mac: bytes | None, mn_id: bytes | None):
    return (mac is not None and msg.mn_link_layer_id == mac) or (
        mn_id is not None and msg.mn_id == mn_id
    )


def pmip_phases(run: RunData) -> tuple[dict[str, Any], dict[str, str]]:
    """Event times and Table II phases at the new MAG (see the module docstring)."""
    out: dict[str, Any] = dict.fromkeys((*EVENT_TIMES, "move_to_l2_ms", *PHASES))
    out["lma_pbu_to_pba_ms"] = out["pba_status"] = None
    notes: dict[str, str] = {}
    mac, mn_id, mag = run.mn_mac, run.mn_id, run.to_mag
    if mac is None or mag is None:
        reason = "meta.json names no MN MAC or no new MAG"
        for key in (*PHASES, "move_to_l2_ms", "lma_pbu_to_pba_ms"):
            notes[key] = reason
        return out, notes
    moved = run.moved_at
    earliest = moved - L2_LOOKBACK_S if moved is not None else -math.inf
    mags = run.meta.get("mags", {})
    syslog_port = int(run.meta.get("syslog_port", 514))
    access, why_access = run.frames(mag, "access")
    core, why_core = run.frames(mag, "core")
    mag_address = run.address("mags", mag, "address") if mag in mags else None

    # L2: the AP's report of the (re)association arriving at the MAG: on the link the
    # APs' syslog comes over (a management link: the "syslog" capture), else on the
    # access interface.
    where = "syslog" if run.capture_file(mag, "syslog") is not None else "access"
    reports, why_reports = (access, why_access) if where == "access" else run.frames(mag, where)
    l2_at = None
    if reports is None:
        notes["l2_at"] = why_reports
    else:
        l2_at = next(
            (
                f.ts
                for f in reports
                if f.ts >= earliest and _is_association_report(f, mac, syslog_port)
            ),
            None,
        )
        if l2_at is None:
            notes["l2_at"] = (
                f"no syslog datagram reporting the association of {cisco_mac(mac)} "
                f"on {mag}'s {where} interface after the move"
            )
    out["l2_at"] = l2_at

    # PBU out and PBA in, on the new MAG's core interface.
    pbu_at = pba_at = None
    pbu_sequences: set[int] = set()
    if core is None:
        notes["pbu_at"] = notes["pba_at"] = why_core
    else:
        start = l2_at if l2_at is not None else earliest
        for frame, msg in _mh_messages(core, run.esp_keys):
            if frame.ts < start:
                continue
            if (
                isinstance(msg, ProxyBindingUpdate)
                and msg.lifetime_units > 0
                and _for_mn(msg, mac, mn_id)
                and (mag_address is None or frame.ip.src == mag_address)
            ):
                if pbu_at is None:
                    pbu_at = frame.ts
                pbu_sequences.add(msg.sequence)
            elif (
                isinstance(msg, ProxyBindingAck)
                and pbu_at is not None
                and msg.sequence in pbu_sequences
                and _for_mn(msg, mac, mn_id)
            ):
                if msg.accepted:
                    pba_at = frame.ts
                    out["pba_status"] = msg.status
                    break
                if out["pba_status"] is None:
                    out["pba_status"] = msg.status  # a reject; the MAG may still try again
        if pbu_at is None:
            notes["pbu_at"] = f"no PBU for the MN leaving {mag}'s core interface after L2"
        if pba_at is None:
            if out["pba_status"] is not None:
                notes["pba_at"] = (
                    f"the LMA rejected the handover: PBA status {out['pba_status']} "
                    f"{status_name(out['pba_status'])}, and no accepting PBA followed"
                )
            elif pbu_at is not None:
                notes["pba_at"] = f"no PBA for the MN's PBU arriving on {mag}'s core interface"
            else:
                notes["pba_at"] = "no PBU, so no PBA to match"
    out["pbu_at"], out["pba_at"] = pbu_at, pba_at

    # First RA to the MN's MAC leaving the access interface.
    ra_at = None
    if access is not None and pba_at is not None:
        ra_at = next(
            (
                f.ts
                for f in access
                if f.ts >= pba_at
                and f.eth_dst == mac
                and f.ip is not None
                and f.ip.icmp6_type == ND_ROUTER_ADVERT
            ),
            None,
        )
        if ra_at is None:
            notes["ra_at"] = f"no Router Advertisement to {mac.hex(':')} left {mag} after the PBA"
    elif access is None:
        notes["ra_at"] = why_access
    else:
        notes["ra_at"] = f"no PBA to time the RA from ({notes.get('pba_at', 'not found')})"
    out["ra_at"] = ra_at

    # The LMA's share: the first of those PBUs in, its PBA out.
    lma_core, _unused = run.frames("lma", "core")
    if lma_core is not None and pbu_sequences:
        lma_pbu = lma_pba = None
        lma_pbu_seq = None
        for frame, msg in _mh_messages(lma_core, run.esp_keys):
            if frame.ts < (pbu_at or -math.inf):
                continue
            if (
                isinstance(msg, ProxyBindingUpdate)
                and lma_pbu is None
                and msg.sequence in pbu_sequences
                and _for_mn(msg, mac, mn_id)
            ):
                lma_pbu, lma_pbu_seq = frame.ts, msg.sequence
            elif (
                isinstance(msg, ProxyBindingAck)
                and lma_pbu is not None
                and msg.sequence == lma_pbu_seq
                and _for_mn(msg, mac, mn_id)
            ):
                lma_pba = frame.ts
                break
        out["lma_pbu_at"], out["lma_pba_at"] = lma_pbu, lma_pba
        out["lma_pbu_to_pba_ms"] = ms(lma_pbu, lma_pba)
    if out["lma_pbu_to_pba_ms"] is None:
        notes["lma_pbu_to_pba_ms"] = (
            "no LMA core capture with the PBU and its PBA"
            if lma_core is None or not pbu_sequences
            else "the LMA's capture lacks the PBU or its PBA"
        )

    out["move_to_l2_ms"] = ms(moved, l2_at)
    out["l2_to_pbu_ms"] = ms(l2_at, pbu_at)
    out["pbu_to_pba_ms"] = ms(pbu_at, pba_at)
    out["pba_to_ra_ms"] = ms(pba_at, ra_at)
    out["total_ms"] = ms(l2_at, ra_at)
    first_missing = next((notes[k] for k in EVENT_TIMES[:4] if k in notes), "")
    for key, (a, b) in {
        "move_to_l2_ms": ("moved_at", "l2_at"),
        "l2_to_pbu_ms": ("l2_at", "pbu_at"),
        "pbu_to_pba_ms": ("pbu_at", "pba_at"),
        "pba_to_ra_ms": ("pba_at", "ra_at"),
        "total_ms": ("l2_at", "ra_at"),
    }.items():
        if out[key] is None:
            if a == "moved_at" and moved is None:
                notes[key] = "meta.json has no moved_at"
            else:
                notes[key] = notes.get(b) or notes.get(a) or first_missing
    for key in EVENT_TIMES:
        notes.pop(key, None)
    return out, notes


# --------------------------------------------------------------------------- traffic


def _traffic(run: RunData, flow: str | None = None) -> dict[str, Any]:
    """``meta.json`` → ``traffic``; with ``flow`` (udp | tcp) in a run of kind both, that
    flow's values (``traffic.flows.<flow>``: port, rate, length …) over the common ones."""
    traffic = run.meta.get("traffic", {})
    flows = traffic.get("flows")
    if flow is None or not isinstance(flows, dict) or not isinstance(flows.get(flow), dict):
        return traffic
    return {**{k: v for k, v in traffic.items() if k != "flows"}, **flows[flow]}


def _observation_end(run: RunData, frames: list[Frame]) -> float:
    stopped = _traffic(run).get("stopped_at")
    return float(stopped) if stopped is not None else frames[-1].ts


@dataclass(frozen=True, slots=True)
class UdpPath:
    """Where a UDP stream is sent and received: ``udp`` CN → MN (the client on the CN sends
    to the server's port on the MN), ``udpup`` MN → CN (iperf3 -R: the server on the MN sends
    from its port)."""

    sender: str
    receiver: str
    port_index: int
    """0: the iperf3 server's port is the datagrams' source port, 1: their destination."""

    def matches(self, ip: Packet, src: bytes, dst: bytes, port: int) -> bool:
        return (
            ip.proto == IPPROTO_UDP
            and ip.src == src
            and ip.dst == dst
            and ip.ports is not None
            and ip.ports[self.port_index] == port
        )


UDP_PATHS = {"udp": UdpPath("cn", "mn", 1), "udpup": UdpPath("mn", "cn", 0)}


def _udp_ends(run: RunData, flow: str) -> tuple[bytes | None, bytes | None, int, bool]:
    path = UDP_PATHS[flow]
    traffic = _traffic(run, flow)
    src = run.address(path.sender, "address")
    dst = run.address(path.receiver, "address")
    port = int(traffic.get("port", 5201))
    return src, dst, port, bool(traffic.get("udp_counters_64bit", False))


def _stream_end(run: RunData, flow: str) -> float:
    """When the stream's sender was to stop: its start + before + after, or the end of
    the observation if that came first."""
    traffic = _traffic(run, flow)
    started, stopped = traffic.get("started_at"), traffic.get("stopped_at")
    planned = (
        float(started) + float(traffic.get("before_s") or 0) + float(traffic.get("after_s") or 0)
        if started is not None
        else math.inf
    )
    return min(planned, float(stopped) if stopped is not None else planned)


def udp_arrivals(
    run: RunData, flow: str = "udp"
) -> tuple[list[tuple[float, int | None, int]], str]:
    """(time, iperf3 sequence number or None, bytes) of the stream's datagrams at its
    receiver (the MN for ``udp``, the CN for ``udpup``)."""
    path = UDP_PATHS[flow]
    frames, why = run.frames(None, path.receiver)
    if frames is None:
        return [], why
    src, dst, port, wide = _udp_ends(run, flow)
    if src is None or dst is None:
        return [], "meta.json lacks the CN's or the MN's address"
    out = []
    for f in frames:
        ip = f.ip
        if ip is None or not path.matches(ip, src, dst, port):
            continue
        out.append((f.ts, _iperf_seq(ip.udp_payload, wide), ip.l4_len - 8))
    out.sort(key=lambda a: a[0])
    if not out:
        return [], f"no datagram of the UDP stream reached the {path.receiver.upper()}'s capture"
    return out, ""


def _iperf_seq(payload: bytes, wide: bool) -> int | None:
    """iperf3's UDP header: sec, usec, then a 32-bit (or 64-bit) packet count."""
    size = 16 if wide else 12
    if len(payload) < size:
        return None
    return int.from_bytes(payload[8:size], "big")


def _udp_sent(run: RunData, flow: str = "udp") -> list[tuple[float, int | None]] | None:
    """(time, sequence number) of the stream's datagrams leaving its sender, from the
    sender's capture."""
    path = UDP_PATHS[flow]
    frames, _unused = run.frames(None, path.sender)
    if frames is None:
        return None
    src, dst, port, wide = _udp_ends(run, flow)
    if src is None or dst is None:
        return None
    sent = []
    for f in frames:
        ip = f.ip
        if ip is not None and path.matches(ip, src, dst, port):
            sent.append((f.ts, _iperf_seq(ip.udp_payload, wide)))
    return sent or None


def has_uplink_stream(run: RunData) -> bool:
    """Did this run carry the UDP stream MN → CN (runs made before it existed did not)?"""
    flows = run.meta.get("traffic", {}).get("flows")
    return isinstance(flows, dict) and isinstance(flows.get("udpup"), dict)


def udp_metrics(
    run: RunData, handover_end: float | None = None, flow: str = "udp"
) -> tuple[dict[str, Any], dict[str, str]]:
    """UDP metrics of ``flow`` (udp: CN → MN; udpup: MN → CN, its keys ``udp_up_…``, see
    :data:`UDP_UP`); ``handover_end``: the new MAG's first RA (``ra_at``), found if not given."""
    out, notes = _udp_metrics(run, handover_end, flow)
    if flow == "udp":
        return out, notes
    return {UDP_UP[k]: v for k, v in out.items()}, {UDP_UP.get(k, k): v for k, v in notes.items()}


def _udp_metrics(
    run: RunData, handover_end: float | None, flow: str
) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, Any] = dict.fromkeys(UDP_METRICS)
    notes: dict[str, str] = {}
    traffic = _traffic(run, flow)
    rate, length = traffic.get("rate_bps"), traffic.get("length")
    interval = length * 8 / rate if rate and length else 0.0
    out["udp_interval_ms"] = round(interval * 1000, 3)
    out["iperf3_lost"] = iperf3_summary(run, flow).get("lost")
    if out["iperf3_lost"] is None:
        notes["iperf3_lost"] = "iperf3's receiver report is missing or incomplete"
    arrivals, why = udp_arrivals(run, flow)
    h, h0 = run.moved_at, run.move_started_at
    if not arrivals or h is None:
        why = why or "meta.json has no moved_at"
        for key in ("udp_received", "udp_lost", "udp_max_gap_ms", "udp_latency_ms"):
            notes[key] = why
        return out, notes
    times = [a[0] for a in arrivals]
    seqs = [a[1] for a in arrivals]
    out["udp_received"] = len(arrivals)
    received = {q for q in seqs if q is not None}
    sent = _udp_sent(run, flow)
    if sent is not None:
        out["udp_sent"] = len(sent)
        out["udp_lost"] = len({q for _unused, q in sent if q is not None} - received)
    elif received:
        out["udp_lost"] = max(received) - min(received) + 1 - len(received)
    else:
        notes["udp_lost"] = "no iperf3 sequence numbers in the captured datagrams"
    base = [times[i + 1] - times[i] for i in range(len(times) - 1) if times[i + 1] < h0]
    out["udp_baseline_gap_ms"] = round((max(base) - interval) * 1000, 3) if base else None
    last_before = max((i for i, t in enumerate(times) if t < h0), default=None)
    if last_before is None:
        for key in ("udp_max_gap_ms", "udp_latency_ms"):
            notes[key] = (
                f"no datagram reached the {UDP_PATHS[flow].receiver.upper()} before the move"
            )
        return out, notes
    # Around the move: the gaps that overlap the handover period, from the move until the
    # new MAG's first RA to the MN (PMIPv6 done). Later gaps are not the handover's: on a
    # loaded machine the sender itself pauses for a few ms now and then (the noise floor).
    if handover_end is None:
        handover_end = pmip_phases(run)[0].get("ra_at")
    end_of_handover = max(h, handover_end or h)
    gaps = [
        (times[i + 1] - times[i], i)
        for i in range(last_before, len(times) - 1)
        if times[i] <= end_of_handover
    ]
    # The open gap at the end: the CN still sent datagrams the MN never got. Like any
    # other gap it is the handover's only if it opens within the handover period: one
    # that opens later is the end of the captures (the last datagrams still crossing
    # the namespaces when every capture stops), not a stream that did not resume.
    tail = None
    if times[-1] <= end_of_handover:
        if sent is not None:
            last_sent_t, last_sent_seq = sent[-1]
            if last_sent_seq is not None and seqs[-1] is not None and last_sent_seq > seqs[-1]:
                tail = max(0.0, last_sent_t - times[-1])
                if flow == "udpup":
                    # The MN's kernel stops putting datagrams on the wire once its old
                    # router's neighbour entry has failed; iperf3 kept sending until the
                    # stream's planned end (or the observation's, if earlier).
                    end = _stream_end(run, flow)
                    if math.isfinite(end):
                        tail = max(tail, end - times[-1])
        elif last_before == len(times) - 1:
            frames, _unused = run.frames(None, UDP_PATHS[flow].receiver)
            tail = max(0.0, _observation_end(run, frames or []) - times[-1])
    elif sent is not None and received:
        # The stream went on after the handover: datagrams sent after the MN's last
        # arrival were still on their way when the captures stopped, not lost.
        last = max(received)
        out["udp_lost"] = len({q for _unused, q in sent if q is not None and q <= last} - received)
    largest = max(gaps, default=(0.0, None))
    if tail is not None and tail > largest[0]:
        out["udp_recovered"] = False
        out["udp_max_gap_ms"] = round(tail * 1000, 3)
        out["udp_latency_ms"] = round((tail - interval) * 1000, 3)
        out["udp_lost_in_gap"] = (
            sent[-1][1] - seqs[-1] if sent is not None and seqs[-1] is not None else None
        )
        notes["udp_recovered"] = (
            "the stream did not resume within the observation window: "
            f"latency > {out['udp_latency_ms']:.1f} ms"
        )
    else:
        gap, i = largest
        out["udp_recovered"] = True
        out["udp_max_gap_ms"] = round(gap * 1000, 3)
        out["udp_latency_ms"] = round((gap - interval) * 1000, 3)
        if i is not None and seqs[i] is not None and seqs[i + 1] is not None:
            out["udp_lost_in_gap"] = max(0, seqs[i + 1] - seqs[i] - 1)
    return out, notes


@dataclass(slots=True)
class TcpTrace:
    """The data connection at one capture point, sequence numbers relative to the first byte."""

    segments: list[tuple[float, int, int, bool]]
    """(time, relative start, length, retransmission?) of each data segment."""
    progress: list[tuple[float, int]]
    """(time, next expected byte) each time in-order data advanced it (receiver's view)."""
    flow: tuple[int, int]
    retransmissions: int


def tcp_trace(
    frames: list[Frame],
    src: bytes,
    dst: bytes,
    flow: tuple[int, int] | None = None,
    port: int | None = None,
) -> TcpTrace | None:
    """The src → dst TCP data connection (the one with most payload unless ``flow`` is given;
    only connections to ``port`` if given: the iperf3 server's)."""
    by_flow: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    syn: dict[tuple[int, int], int] = {}
    for f in frames:
        ip = f.ip
        if ip is None or ip.proto != IPPROTO_TCP or ip.src != src or ip.dst != dst:
            continue
        tcp = ip.tcp
        if tcp is None:
            continue
        sport, dport, seq, _ack, flags, length = tcp
        key = (sport, dport)
        if flow is not None and key != flow:
            continue
        if port is not None and dport != port:
            continue
        if flags & TCP_SYN:
            syn[key] = (seq + 1) & 0xFFFFFFFF
        if length:
            by_flow.setdefault(key, []).append((f.ts, seq, length))
    if not by_flow:
        return None
    key = max(by_flow, key=lambda k: sum(s[2] for s in by_flow[k]))
    raw = sorted(by_flow[key], key=lambda s: s[0])
    if key in syn:
        base = syn[key]
    else:
        # No SYN captured: the lowest sequence number (modulo wrap-around) is byte 0.
        base = min((s[1] for s in raw), key=lambda q: (q - raw[0][1] + 2**31) % 2**32)
    segments, progress = [], []
    nxt, highest, holes, retrans = 0, 0, [], 0
    for ts, seq, length in raw:
        rel = (seq - base) % 2**32
        if rel >= 2**31:
            rel -= 2**32
        end = rel + length
        again = rel < highest
        retrans += again
        segments.append((ts, rel, length, again))
        highest = max(highest, end)
        if rel <= nxt < end:
            nxt = end
            holes.sort()
            while holes and holes[0][0] <= nxt:
                nxt = max(nxt, holes.pop(0)[1])
            progress.append((ts, nxt))
        elif rel > nxt:
            holes.append((rel, end))
    return TcpTrace(segments, progress, key, retrans)


def _tcp_port(run: RunData) -> int | None:
    """The iperf3 server port of the TCP transfer (its data connection goes there)."""
    port = _traffic(run, "tcp").get("port")
    return int(port) if port is not None else None


def tcp_metrics(run: RunData) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, Any] = dict.fromkeys(TCP_METRICS)
    notes: dict[str, str] = {}
    out["iperf3_retransmits"] = iperf3_summary(run, "tcp").get("retransmits")
    if out["iperf3_retransmits"] is None:
        notes["iperf3_retransmits"] = "iperf3's sender report is missing or incomplete"
    frames, why = run.frames(None, "mn")
    cn, mn = run.address("cn", "address"), run.address("mn", "address")
    h = run.moved_at
    port = _tcp_port(run)
    trace = None
    if frames is not None and cn is not None and mn is not None:
        trace = tcp_trace(frames, cn, mn, port=port)
        why = "" if trace else "no TCP data from the CN reached the MN's capture"
    elif frames is not None:
        why = "meta.json lacks the CN's or the MN's address"
    sent = None
    cn_frames, why_cn = run.frames(None, "cn")
    if cn_frames is not None and cn is not None and mn is not None:
        sent = tcp_trace(cn_frames, cn, mn, trace.flow if trace else None, port=port)
        if sent is not None:
            out["tcp_retrans_cn"] = sent.retransmissions
        else:
            notes["tcp_retrans_cn"] = "no TCP data from the CN in the CN's capture"
    else:
        notes["tcp_retrans_cn"] = why_cn or "meta.json lacks the CN's or the MN's address"
    if trace is None or h is None:
        why = why or "meta.json has no moved_at"
        for key in ("tcp_stall_ms", "tcp_retrans_mn"):
            notes[key] = why
        return out, notes
    progress = trace.progress
    out["tcp_bytes"] = progress[-1][1] if progress else 0
    out["tcp_retrans_mn"] = trace.retransmissions
    end = _observation_end(run, frames)
    out["tcp_window_s"] = round(end - h, 3)
    first = max((k for k, (t, _unused) in enumerate(progress) if t <= h), default=None)
    if first is None:
        notes["tcp_stall_ms"] = "no in-order data reached the MN before the move"
        return out, notes
    base = [b[0] - a[0] for a, b in itertools.pairwise(progress[: first + 1])]
    out["tcp_baseline_gap_ms"] = round(max(base) * 1000, 3) if base else None
    # Gaps that start by TCP_STALL_START_S after the move: the stall itself (it starts before
    # the move) or one that starts after the in-flight window trickled in; later gaps are
    # the flow's own noise.
    limit = _stall_start_limit(run, frames, h)
    gaps = [
        (progress[k + 1][0] - progress[k][0], k)
        for k in range(first, len(progress) - 1)
        if progress[k][0] <= limit
    ]
    # The open gap at the end: the CN was still (re)sending after the MN's last progress —
    # new data, or data the MN had but whose ACKs never reached the CN.
    if sent is not None:
        open_end = sent.segments[-1][0] > progress[-1][0]
    else:
        open_end = _traffic(run, "tcp").get("client_exit") != "completed"
    tail = end - progress[-1][0] if open_end else None
    largest = max(gaps, default=(0.0, None))
    if tail is not None and tail < TCP_OPEN_GAP_MIN_S:
        if tail >= largest[0]:
            notes["tcp_recovered"] = (
                f"the last {tail * 1000:.0f} ms without progress end the observation and are "
                f"shorter than {TCP_OPEN_GAP_MIN_S:.0f} s: not counted as a stall"
            )
        tail = None
    if tail is not None and tail >= largest[0]:
        out["tcp_recovered"] = False
        out["tcp_stall_ms"] = round(tail * 1000, 3)
        notes["tcp_recovered"] = (
            f"no in-order progress for the last {tail:.1f} s of the {end - h:.1f} s "
            f"observed after the move: stall > {tail:.1f} s"
        )
    else:
        out["tcp_recovered"] = True
        out["tcp_stall_ms"] = round(largest[0] * 1000, 3)
    return out, notes


def _stall_start_limit(run: RunData, frames: list[Frame], h: float) -> float:
    """How late after the move a TCP stall may start: ``TCP_STALL_START_S``, or, where the
    MN had to change router (a new MAG with another MAC: scenario 1), until its first frame
    to the new MAG — before it, progress is only the CN's retransmissions filling the
    holes the move left, and the stall is what comes after them."""
    limit = h + TCP_STALL_START_S
    ho, mags = run.meta.get("handover", {}), run.meta.get("mags", {})
    old = mags.get(ho.get("from_mag"), {}).get("access_mac")
    new = mags.get(ho.get("to_mag"), {}).get("access_mac")
    mac = run.mn_mac
    if old and new and mac is not None and mac_bytes(old) != mac_bytes(new):
        switched = _first_uplink_to(frames, mac, new, h)
        if switched is not None:
            limit = max(limit, switched)
    return limit


def uplink_metrics(run: RunData) -> tuple[dict[str, Any], dict[str, str]]:
    """Which router the MN sends its traffic (TCP/UDP) to after the move, by Ethernet
    destination: the old MAG's access MAC or the new one's (the same MAC in scenarios 2, 3)."""
    out: dict[str, Any] = dict.fromkeys(UPLINK_METRICS)
    notes: dict[str, str] = {}
    frames, why = run.frames(None, "mn")
    ho, mags = run.meta.get("handover", {}), run.meta.get("mags", {})
    old = mags.get(ho.get("from_mag"), {}).get("access_mac")
    new = mags.get(ho.get("to_mag"), {}).get("access_mac")
    mac, h = run.mn_mac, run.moved_at
    if frames is None or not old or not new or mac is None or h is None:
        why = why or "meta.json lacks the MAGs' access MACs, the MN's MAC or moved_at"
        for key in UPLINK_METRICS:
            notes[key] = why
        return out, notes
    old_b, new_b = mac_bytes(old), mac_bytes(new)
    to_old = to_new = 0
    first_new = None
    for f in frames:
        if f.ts <= h or f.eth_src != mac or f.ip is None:
            continue
        if f.ip.proto not in (IPPROTO_TCP, IPPROTO_UDP):
            continue
        if f.eth_dst == new_b:
            to_new += 1
            if first_new is None:
                first_new = f.ts
        elif f.eth_dst == old_b:
            to_old += 1
    out["uplink_to_new_mac"] = to_new
    out["uplink_to_old_mac"] = None if old_b == new_b else to_old
    out["first_uplink_to_new_mac_ms"] = ms(h, first_new)
    if first_new is None:
        notes["first_uplink_to_new_mac_ms"] = (
            "the MN sent no TCP/UDP frame to the new MAG's MAC in the observation window"
        )
    return out, notes


def _ns_target(ip: Packet) -> bytes | None:
    """The target address of a Neighbour Solicitation (RFC 4861 §4.3), or None."""
    if ip.icmp6_type != ND_NEIGHBOR_SOLICIT or len(ip.l4) < 24:
        return None
    return ip.l4[8:24]


def stall_end_metrics(run: RunData) -> tuple[dict[str, Any], dict[str, str]]:
    """What ended the MN's stall when its old default router was gone (scenario 1).

    Up to the end of the stall (in-order progress again at the MN, or the end of the
    observation), from the MN's capture: its unicast Neighbour Solicitations to the old
    router's link-local address (neighbour unreachability detection: ``ucast_solicit``
    probes, one per ``retrans_time``; unanswered, the entry fails), its multicast ones
    for it (a later frame for that router starting address resolution anew: the frame is
    dropped when it fails), whether the old router ever answered, the frames it sent to
    the old MAG's MAC and the first to the new one's; from the CN's capture, its TCP
    retransmissions after the move (exponential back-off) and the first after the MN's
    switch: the one whose ACK got through. ``stall_ended_by`` puts these in a sentence.
    Nothing is measured where every MAG has the same link-local address (the MN's router
    never left)."""
    out: dict[str, Any] = dict.fromkeys(STALL_END_METRICS)
    notes: dict[str, str] = {}
    frames, why = run.frames(None, "mn")
    ho, mags = run.meta.get("handover", {}), run.meta.get("mags", {})
    old = mags.get(ho.get("from_mag"), {})
    new = mags.get(ho.get("to_mag"), {})
    h, mac = run.moved_at, run.mn_mac
    old_ll = [ip_bytes(a) for a in old.get("access_link_local") or []]
    new_ll = [ip_bytes(a) for a in new.get("access_link_local") or []]
    if not old_ll or not new_ll or set(old_ll) & set(new_ll):
        # One link-local address on every MAG (scenarios 2, 3): the MN's router never left;
        # or a recording that does not say (made before the MAGs' addresses were recorded).
        return out, notes
    if frames is None or h is None or mac is None:
        for key in STALL_END_METRICS:
            notes[key] = why or "meta.json lacks the move, the MN's MAC or the old router's address"
        return out, notes
    cn, mn = run.address("cn", "address"), run.address("mn", "address")
    cn_frames, _unused = run.frames(None, "cn")
    port = _tcp_port(run)
    trace = tcp_trace(frames, cn, mn, port=port) if cn and mn else None
    sent = None
    if trace is not None and cn_frames is not None:
        sent = tcp_trace(cn_frames, cn, mn, trace.flow, port=port)
    resumed = _resumed_after(trace, h) if trace is not None else None
    until = resumed if resumed is not None else math.inf
    unicast, multicast, answered = [], [], False
    to_old = []
    old_mac = mac_bytes(old["access_mac"]) if old.get("access_mac") else None
    for f in frames:
        if f.ts <= h or f.ts > until or f.ip is None:
            continue
        if f.ip.proto == IPPROTO_ICMPV6:
            if f.eth_src == mac and _ns_target(f.ip) in old_ll:
                if f.ip.dst[0] != 0xFF:
                    unicast.append(f.ts)
                elif f.ip.src[:2] != b"\xfe\x80":
                    # Resolution for a waiting packet takes its source address (global);
                    # from the link-local address it is the background router probe.
                    multicast.append(f.ts)
            elif f.ip.icmp6_type == ND_NEIGHBOR_ADVERT and f.ip.src in old_ll:
                answered = True
        elif f.eth_src == mac and f.eth_dst == old_mac and f.ip.proto in (IPPROTO_TCP, IPPROTO_UDP):
            to_old.append(f.ts)
    first_new = _first_uplink_to(frames, mac, new.get("access_mac"), h)
    out.update(
        old_router_probes=len(unicast),
        old_router_last_probe_ms=ms(h, unicast[-1]) if unicast else None,
        old_router_resolves=len(multicast),
        old_router_answered=answered,
        last_uplink_to_old_mac_ms=ms(h, to_old[-1]) if to_old else None,
        tcp_resumed_ms=ms(h, resumed),
    )
    again: list[float] = []
    if sent is not None:
        again = [t for t, _s, _n, r in sent.segments if r and h < t <= until]
        out["cn_retrans_after_move"] = len(again)
        if resumed is not None and first_new is not None:
            out["tcp_resumed_by_retrans_ms"] = ms(
                h, next((t for t in again if t >= first_new - 0.001), None)
            )
    out["stall_ended_by"] = _stall_story(
        out, ms(h, first_new), len(to_old), [ms(h, t) for t in again]
    )
    return out, notes


def _resumed_after(trace: TcpTrace, h: float) -> float | None:
    """The first in-order progress after the longest gap from the last one before ``h``."""
    before = max((k for k, (t, _n) in enumerate(trace.progress) if t <= h), default=None)
    if before is None or before + 1 >= len(trace.progress):
        return None
    later = trace.progress[before:]
    _gap, k = max((b[0] - a[0], i) for i, (a, b) in enumerate(itertools.pairwise(later)))
    return later[k + 1][0]


def _first_uplink_to(frames: list[Frame], mac: bytes, to: str | None, h: float) -> float | None:
    if not to:
        return None
    dst = mac_bytes(to)
    return next(
        (
            f.ts
            for f in frames
            if f.ts > h
            and f.eth_src == mac
            and f.eth_dst == dst
            and f.ip is not None
            and f.ip.proto in (IPPROTO_TCP, IPPROTO_UDP)
        ),
        None,
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _stall_story(
    m: dict[str, Any], first_new_ms: float | None, to_old: int, retrans_ms: list[float | None]
) -> str:
    """The chain that ended the stall, in one sentence, from the measured times (ms)."""

    def sec(value: float | None) -> str:
        return "?" if value is None else f"+{value / 1000:.2f} s"

    parts = []
    if to_old:
        parts.append(
            f"the MN kept sending to its old router ({to_old} frames to the old MAG's MAC, "
            f"the last at {sec(m['last_uplink_to_old_mac_ms'])})"
        )
    n = m["old_router_probes"]
    if n:
        parts.append(
            f"neighbour unreachability detection probed it {n} times, "
            + ("answered" if m["old_router_answered"] else "unanswered")
            + f" (the last at {sec(m['old_router_last_probe_ms'])}: the entry failed)"
        )
    if m["old_router_resolves"]:
        parts.append(
            f"a later ACK for it started address resolution anew "
            f"({m['old_router_resolves']} multicast solicitations), unanswered: the entry "
            "failed again with that ACK waiting on it, and dropping it made the kernel "
            "choose the route anew"
        )
    if first_new_ms is not None:
        parts.append(f"the first frame to the new MAG's MAC left at {sec(first_new_ms)}")
    else:
        parts.append("nothing went to the new MAG's MAC")
    if m["tcp_resumed_ms"] is not None:
        by = m["tcp_resumed_by_retrans_ms"]
        upto = [t for t in retrans_ms if t is not None and (by is None or t <= by)]
        times = ", ".join(sec(t) for t in upto)
        parts.append(
            (
                f"the CN's retransmission at {sec(by)}, its {_ordinal(len(upto))} since the move "
                f"(the back-off doubling the wait: {times}), was the first to reach the MN "
                "after the switch: its ACK went through the new MAG"
                if by is not None
                else f"the CN retransmitted at {times}"
            )
            + f" and TCP resumed at {sec(m['tcp_resumed_ms'])}"
        )
    else:
        parts.append("TCP had not resumed when the observation ended")
    return "; ".join(parts)


# --------------------------------------------------------------------------- iperf3


def _read_json(path: Path) -> dict | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        # An interrupted iperf3 may print text before or after its JSON object.
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            data = json.loads(text[start : end + 1])
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _iperf3_outputs(run: RunData, flow: str) -> tuple[dict | None, dict | None]:
    """(client, server) JSON of ``flow`` (udp | tcp) in this run."""
    kind = run.meta.get("kind") or flow
    names = _traffic(run, flow)
    client = names.get("client_output") or layout.iperf3_file(kind, flow, "client")
    server = names.get("server_output") or layout.iperf3_file(kind, flow, "server")
    return _read_json(run.path / client), _read_json(run.path / server)


def iperf3_summary(run: RunData, flow: str | None = None) -> dict[str, Any]:
    """What iperf3 itself reported: lost datagrams (receiver), retransmits (sender), error.

    ``flow`` (udp | tcp): that flow's iperf3 in a run of kind both; None: every flow's
    (errors joined)."""
    out: dict[str, Any] = {"lost": None, "retransmits": None, "error": None}
    if flow is None:
        kind = run.meta.get("kind")
        parts = [iperf3_summary(run, f) for f in layout.flows(kind)] if kind in layout.KINDS else []
        if not parts:
            parts = [iperf3_summary(run, "udp")]
        errors = [p["error"] for p in parts if p["error"]]
        out["error"] = "; ".join(errors) or None
        for key in ("lost", "retransmits"):
            out[key] = next((p[key] for p in parts if p[key] is not None), None)
        return out
    client, server = _iperf3_outputs(run, flow)
    errors = [d.get("error") for d in (client, server) if d and d.get("error")]
    out["error"] = "; ".join(errors) or None
    for data in (server, client):
        end = (data or {}).get("end", {})
        total = end.get("sum_received") or end.get("sum") or {}
        if "lost_packets" in total and not total.get("sender", False):
            out["lost"] = total["lost_packets"]
            break
    if client:
        sent = client.get("end", {}).get("sum_sent", {})
        if "retransmits" in sent:
            out["retransmits"] = sent["retransmits"]
    return out


# --------------------------------------------------------------------------- a run


def analyze_run(path: Path | str) -> dict[str, Any]:
    """One run directory → one flat row (``COLUMNS``, ``not_measured``, ``remarks``)."""
    path = Path(path)
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    notes: dict[str, str] = {}
    try:
        run = RunData.load(path)
    except (OSError, ValueError) as exc:
        row["run_id"] = path.name
        row["not_measured"] = {"all": f"cannot read meta.json: {exc}"}
        row["remarks"] = {}
        return row
    meta = run.meta
    kind = meta.get("kind")
    mn = meta.get("mn", {})
    ho = meta.get("handover", {})
    row.update(
        run_id=f"s{meta.get('scenario')}/{path.name}",
        scenario=meta.get("scenario"),
        run=meta.get("run"),
        kind=kind,
        mn_name=mn.get("name"),
        mn_mac=mn.get("mac"),
        mn_address=mn.get("address"),
        from_mag=ho.get("from_mag"),
        to_mag=ho.get("to_mag"),
        moved_at=ho.get("moved_at"),
        long_observation=bool(meta.get("traffic", {}).get("long_observation")),
    )
    groups = [pmip_phases, uplink_metrics, stall_end_metrics]
    if layout.has_udp(kind):
        groups.append(lambda r: udp_metrics(r, row.get("ra_at")))
        if has_uplink_stream(run):
            groups.append(lambda r: udp_metrics(r, row.get("ra_at"), "udpup"))
    if layout.has_tcp(kind):
        groups.append(tcp_metrics)
    for group in groups:
        try:
            values, group_notes = group(run)
        except Exception as exc:  # a bug or an input nobody foresaw: say so, go on
            name = getattr(group, "__name__", "metrics")
            values, group_notes = {}, {name: f"analysis error: {exc!r}"}
        row.update(values)
        notes.update(group_notes)
    row["iperf3_error"] = iperf3_summary(run).get("error")
    row["remarks"] = {k: notes.pop(k) for k in REMARKS if k in notes}
    row["not_measured"] = notes
    return row


def analyze_tree(out: Path | str) -> list[dict[str, Any]]:
    """Every complete run under ``out`` (those with a ``done`` marker)."""
    return [analyze_run(ref.path) for ref in layout.find_runs(Path(out))]


# --------------------------------------------------------------------------- series for plots


def udp_series(path: Path | str, flow: str = "udp") -> dict[str, Any] | None:
    """Arrival times relative to the move (s), inter-arrival gaps (ms) and bytes, for plots
    (``flow``: udp CN → MN, udpup MN → CN)."""
    run = RunData.load(path)
    if flow == "udpup" and not has_uplink_stream(run):
        return None
    arrivals, _unused = udp_arrivals(run, flow)
    h = run.moved_at
    if not arrivals or h is None:
        return None
    t = [a[0] - h for a in arrivals]
    gaps = [None] + [(t[i] - t[i - 1]) * 1000 for i in range(1, len(t))]
    return {
        "t": t,
        "gap_ms": gaps,
        "bytes": [a[2] for a in arrivals],
        "meta": run.meta,
        "traffic": _traffic(run, flow),
    }


def tcp_series(path: Path | str) -> dict[str, Any] | None:
    """The MN's time-sequence of the data connection, times relative to the move."""
    run = RunData.load(path)
    frames, _unused = run.frames(None, "mn")
    cn, mn = run.address("cn", "address"), run.address("mn", "address")
    h = run.moved_at
    if frames is None or cn is None or mn is None or h is None:
        return None
    trace = tcp_trace(frames, cn, mn, port=_tcp_port(run))
    if trace is None:
        return None
    return {
        "segments": [(t - h, s, n, r) for t, s, n, r in trace.segments],
        "progress": [(t - h, n) for t, n in trace.progress],
        "meta": run.meta,
        "traffic": _traffic(run, "tcp"),
    }
