"""The load generator (``--worker gen``): emulates many MAGs over raw sockets, in its own
namespace."""

from __future__ import annotations

import collections
import json
import os
import random
import select
import socket
import struct
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from pmip6d.wire import (
    ZERO_PREFIX,
    AccessTechnologyType,
    BindingRevocationAck,
    BindingRevocationIndication,
    HandoffIndicator,
    MHType,
    OptionType,
    ProxyBindingAck,
    ProxyBindingUpdate,
    RevocationStatus,
    decode,
    encode,
    status_name,
)
from pmip6d.wire.constants import BR_FLAG_P

from .esp import GeneratorEsp, esp_socket
from .protocol import (
    MAG_LINK_LOCAL,
    MAX_LIFETIME_UNITS,
    MN_ID_LENGTH,
    PHASES,
    TS_FRACTIONS,
    PhaseSpec,
    emit,
    mag_address,
    mh_socket,
    mn_id,
    mn_mac,
    option_offsets,
    raw6_drops,
)

_REVOCATION = bytes((MHType.BINDING_REVOCATION,))


class Generator:
    """Emulates ``mags`` MAGs registering ``n`` mobile nodes; runs in its own namespace."""

    def __init__(self, n: int, mags: int, esp_keys: Path | None = None) -> None:
        self.n = n
        self.mags = mags
        # --esp: PBUs sealed, PBAs opened with the agent's own ESP (lma_bench/esp.py).
        self.esp = GeneratorEsp(esp_keys, mags) if esp_keys else None
        t0 = time.perf_counter()
        self.ids = [mn_id(i) for i in range(n)]
        self.index = {mid: i for i, mid in enumerate(self.ids)}
        link_local = socket.inet_pton(socket.AF_INET6, MAG_LINK_LOCAL)
        self.templates: list[bytes] = [
            encode(
                ProxyBindingUpdate(
                    sequence=0,
                    lifetime_units=MAX_LIFETIME_UNITS,
                    mn_id=self.ids[i],
                    home_network_prefixes=[ZERO_PREFIX],
                    handoff_indicator=HandoffIndicator.NEW_INTERFACE,
                    access_technology_type=AccessTechnologyType.IEEE_802_11,
                    mn_link_layer_id=mn_mac(i),
                    link_local_address=link_local,
                    timestamp=0,
                )
            )
            for i in range(n)
        ]
        self.encode_s = time.perf_counter() - t0
        off = option_offsets(self.templates[0])
        self.hi_at = off[OptionType.HANDOFF_INDICATOR] + 3
        self.plen_at = off[OptionType.HOME_NETWORK_PREFIX] + 3
        self.hnp_at = off[OptionType.HOME_NETWORK_PREFIX] + 4
        self.ts_at = off[OptionType.TIMESTAMP] + 2
        if any(option_offsets(t) != off for t in (self.templates[-1], self.templates[n // 2])):
            raise SystemExit("generator: PBU layouts differ between mobile nodes")
        # Where the fast path expects things in a PBA from the LMA (MN-ID first, then HNP).
        sample = encode(
            ProxyBindingAck(
                status=0,
                sequence=0,
                lifetime_units=1,
                mn_id=self.ids[0],
                home_network_prefixes=[ZERO_PREFIX],
                handoff_indicator=1,
                access_technology_type=4,
                mn_link_layer_id=mn_mac(0),
                link_local_address=link_local,
                timestamp=0,
            )
        )
        boff = option_offsets(sample)
        self.pba_id_opt = boff[OptionType.MN_IDENTIFIER]
        self.pba_id_at = self.pba_id_opt + 3
        self.pba_hnp_opt = boff[OptionType.HOME_NETWORK_PREFIX]
        self.pba_min_len = self.pba_hnp_opt + 20
        self.hnps: list[bytes | None] = [None] * n
        self.shift = 0
        self.plens = bytearray(n)
        rng = random.Random(5213)
        self.seqs = array("H", (rng.randrange(0x10000) for _unused in range(n)))
        self.sock = esp_socket() if self.esp else mh_socket()
        self.inode = os.fstat(self.sock.fileno()).st_ino
        self.ancillary = [
            [
                (
                    socket.IPPROTO_IPV6,
                    socket.IPV6_PKTINFO,
                    socket.inet_pton(socket.AF_INET6, mag_address(m)) + struct.pack("@I", 0),
                )
            ]
            for m in range(mags)
        ]

    def _drain(self) -> int:
        count = 0
        while True:
            try:
                self.sock.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return count
            count += 1

    def _prepare(self, spec: PhaseSpec, n: int) -> list[bytearray]:
        bufs = [bytearray(t) for t in self.templates[:n]]
        hi_at, plen_at, hnp_at = self.hi_at, self.plen_at, self.hnp_at
        seqs = self.seqs
        for i, buf in enumerate(bufs):
            buf[hi_at] = spec.handoff_indicator
            seqs[i] = (seqs[i] + 1) & 0xFFFF
            hnp = self.hnps[i] if spec.use_hnp else None
            if hnp is not None:
                buf[plen_at] = self.plens[i]
                buf[hnp_at : hnp_at + 16] = hnp
        return bufs

    def _slow_parse(self, data: bytes) -> tuple[int | None, int, int, bytes | None, int]:
        """Any PBA the fast path does not recognise: full decode."""
        msg = decode(data)
        if not isinstance(msg, ProxyBindingAck) or msg.mn_id is None:
            return None, 0, 0, None, 0
        hnp = next((p for p in msg.home_network_prefixes if not p.is_zero), None)
        return (
            self.index.get(msg.mn_id),
            msg.sequence,
            msg.status,
            hnp.address if hnp else None,
            hnp.length if hnp else 0,
        )

    def _answer_revocation(self, data: bytes, previous_shift: int, dest: tuple) -> int:
        """A BRA for a BRI, from the MN's previous MAG's address; 1 if it cannot be answered."""
        bri = decode(data)
        if not isinstance(bri, BindingRevocationIndication) or bri.mn_id is None:
            return 1
        i = self.index.get(bri.mn_id)
        if i is None:
            return 1
        mag = (i + previous_shift) % self.mags
        bra = encode(
            BindingRevocationAck(RevocationStatus.SUCCESS, bri.sequence, bri.flags & BR_FLAG_P,
                                 bri.mn_id)
        )  # fmt: skip
        if self.esp:
            bra = self.esp.seal(mag, bytearray(bra))
        try:
            self.sock.sendmsg((bra,), self.ancillary[mag], 0, dest)
        except OSError:
            return 1
        return 0

    def run_phase(
        self,
        target: str,
        spec: PhaseSpec,
        window: int,
        timeout: float,
        label: str,
        count: int | None = None,
    ) -> dict[str, Any]:
        n = self.n if count is None else min(count, self.n)
        mags = self.mags
        stray = self._drain()
        bufs = self._prepare(spec, n)
        ancillary = self.ancillary
        previous_shift = self.shift
        if spec.mag_move == 0:
            self.shift = 0
        elif spec.mag_move is not None:
            self.shift = (self.shift + spec.mag_move) % mags
        shift = self.shift
        anc = [ancillary[(i + shift) % mags] for i in range(n)]
        esp = self.esp
        esp_seal = esp.seal if esp else None
        esp_open = esp.open if esp else None
        mag_of = [(i + shift) % mags for i in range(n)] if esp else []
        seqs = self.seqs
        dest = (target, 0)
        sock = self.sock
        sendmsg = sock.sendmsg
        recv = sock.recv
        dontwait = socket.MSG_DONTWAIT
        pack_ts = struct.Struct("!Q").pack_into
        pack_seq = struct.Struct("!H").pack_into
        ts_at = self.ts_at
        wall = time.time
        perf = time.perf_counter
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poll = poller.poll
        index_get = self.index.get
        id_opt, id_at = self.pba_id_opt, self.pba_id_at
        id_end = id_at + MN_ID_LENGTH
        id_olen = MN_ID_LENGTH + 1
        hnp_opt, min_len = self.pba_hnp_opt, self.pba_min_len
        record = spec.record_hnp
        hnps, plens = self.hnps, self.plens
        if record:
            for i in range(n):
                hnps[i] = None

        state = bytearray(n)  # 0 unsent, 1 outstanding, 2 answered, 3 lost
        t_sent = [0.0] * n
        latencies: list[float] = []
        rejected: collections.Counter[int] = collections.Counter()
        batches: collections.deque[tuple[float, int, int]] = collections.deque()
        drops0 = raw6_drops("/proc/self/net/raw6", self.inode)
        accepted = lost = late = duplicate = unmatched = no_hnp = send_errors = 0
        revocations = bra_errors = 0
        inflight = nxt = finished = 0
        t_last = 0.0
        t_start = perf()
        next_progress = t_start + 1.0
        last_progress_done = 0
        last_progress_t = t_start

        while finished < n:
            if inflight < window and nxt < n:
                end = min(n, nxt + window - inflight)
                t_batch = perf()
                for i in range(nxt, end):
                    buf = bufs[i]
                    pack_ts(buf, ts_at, int(wall() * TS_FRACTIONS))
                    pack_seq(buf, 6, seqs[i])
                    t_sent[i] = perf()
                    try:
                        if esp_seal is None:
                            sendmsg((buf,), anc[i], 0, dest)
                        else:
                            sendmsg((esp_seal(mag_of[i], buf),), anc[i], 0, dest)
                    except OSError:
                        send_errors += 1
                    state[i] = 1
                batches.append((t_batch, nxt, end))
                inflight += end - nxt
                nxt = end
            if poll(50):
                while True:
                    try:
                        data = recv(4096, dontwait)
                    except BlockingIOError:
                        break
                    if esp_open is not None:
                        data = esp_open(data)
                        if data is None:
                            unmatched += 1
                            continue
                    t = perf()
                    if (
                        len(data) >= min_len
                        and data[2] == MHType.BINDING_ACK
                        and data[id_opt] == OptionType.MN_IDENTIFIER
                        and data[id_opt + 1] == id_olen
                    ):
                        i = index_get(data[id_at:id_end])
                        seq = (data[8] << 8) | data[9]
                        status = data[6]
                        fast = data[hnp_opt] == OptionType.HOME_NETWORK_PREFIX
                        hnp = data[hnp_opt + 4 : hnp_opt + 20] if fast else None
                        plen = data[hnp_opt + 3] if fast else 0
                    elif data[2:3] == _REVOCATION:
                        # RFC 5846: the LMA tells the MN's previous MAG to let it go;
                        # that MAG acknowledges, as a real one would.
                        bra_errors += self._answer_revocation(data, previous_shift, dest)
                        revocations += 1
                        continue
                    else:
                        i, seq, status, hnp, plen = self._slow_parse(data)
                    if i is None or seq != seqs[i]:
                        unmatched += 1
                        continue
                    st = state[i]
                    if st != 1:
                        if st == 3:
                            late += 1
                        else:
                            duplicate += 1
                        continue
                    state[i] = 2
                    inflight -= 1
                    finished += 1
                    t_last = t
                    latencies.append(t - t_sent[i])
                    if status:
                        rejected[status] += 1
                        continue
                    accepted += 1
                    if record:
                        if hnp is None or not any(hnp):
                            no_hnp += 1
                        else:
                            hnps[i] = bytes(hnp)
                            plens[i] = plen
            now = perf()
            while batches and now - batches[0][0] > timeout:
                _t, lo, hi = batches.popleft()
                for i in range(lo, hi):
                    if state[i] == 1:
                        state[i] = 3
                        lost += 1
                        inflight -= 1
                        finished += 1
            if now >= next_progress:
                emit(
                    {
                        "type": "progress",
                        "label": label,
                        "done": finished,
                        "n": n,
                        "rate": round((finished - last_progress_done) / (now - last_progress_t)),
                        "lost": lost,
                        "rejected": sum(rejected.values()),
                    }
                )
                last_progress_done, last_progress_t = finished, now
                next_progress = now + 1.0

        t_end = t_last if lost == 0 else perf()
        elapsed = max(t_end - t_start, 1e-9)
        latencies.sort()

        def pct(q: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)

        drops1 = raw6_drops("/proc/self/net/raw6", self.inode)
        return {
            "type": "result",
            "target": target,
            "phase": spec.name,
            "n": n,
            "window": window,
            "accepted": accepted,
            "rejected": sum(rejected.values()),
            "rejected_by_status": {status_name(k): v for k, v in sorted(rejected.items())},
            "lost": lost,
            "late": late,
            "duplicate": duplicate,
            "unmatched": unmatched,
            "stray_before": stray,
            "accepted_without_hnp": no_hnp,
            "send_errors": send_errors,
            "revocations_answered": revocations - bra_errors,
            "revocations_unanswerable": bra_errors,
            "generator_socket_drops": drops1 - drops0 if min(drops0, drops1) >= 0 else None,
            "elapsed_s": round(elapsed, 4),
            "rate": round(accepted / elapsed, 1),
            "latency_ms": {
                "p50": pct(0.50),
                "p90": pct(0.90),
                "p99": pct(0.99),
                "max": pct(1.0),
                "mean": round(sum(latencies) / len(latencies) * 1000, 3) if latencies else None,
            },
        }


def generator_main(n: int, mags: int, esp_keys: str | None = None) -> int:
    gen = Generator(n, mags, Path(esp_keys) if esp_keys else None)
    emit({"type": "ready", "encode_s": round(gen.encode_s, 3), "pbu_octets": len(gen.templates[0])})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        spec = PHASES[cmd["phase"]]
        emit(
            gen.run_phase(
                cmd["target"], spec, cmd["window"], cmd["timeout"], cmd["label"], cmd.get("count")
            )
        )
    return 0
