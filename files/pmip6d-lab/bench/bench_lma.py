"""Throughput and latency of one real ``pmip6d lma`` under many emulated MAGs.

Run as root with the project's virtualenv::

    /work/main/.venv/bin/python files/pmip6d-lab/bench/bench_lma.py --mns 10000 100000

What it does, for every size N given with ``--mns``:

1. Two network namespaces of its own (named after this process id) joined by a
   veth: one for the LMA side, one for the load generator, which owns ``--mags``
   MAG addresses (64 by default). Configuration files go to a temporary folder.
2. A load generator (this file, ``--worker gen``, run with ``ip netns exec`` in
   the generator namespace) encodes one Proxy Binding Update per mobile node
   with :func:`pmip6d.wire.encode` (NAI MN-ID, MAC, HNP ::/0, Handoff Indicator,
   ATT 4, link-local address, timestamp). At send time it only patches the
   timestamp and the sequence number in place and sends with ``sendmsg`` and
   ``IPV6_PKTINFO`` from the MN's MAG address. It keeps ``--window`` PBUs
   outstanding, matches every PBA by (MN-ID, sequence number), counts statuses
   other than 0 as rejected and PBAs missing after ``--timeout`` as lost.
3. BASELINE: a null responder (``--worker null``: a bare raw-socket loop that
   answers every PBU with one pre-encoded PBA, patching in the sequence number
   and echoing the MN-ID, no state) in the LMA namespace, driven by the same
   generator. It is the ceiling of this harness, the kernel and Python sockets.
4. The real LMA, unmodified (``pmip6d lma -c lma.yml``, pool 2001:db8::/32 of
   /64s, serve_unlisted, every MAG accepted), driven through the phases
   ``register`` (new bindings, HI 1), ``refresh`` (same MAG, HI 5, the HNP the
   LMA assigned: lifetime extension) and ``handover`` (next MAG address, HI 3,
   same HNP), then ``probe``: ``--probe`` refreshes one at a time (window 1),
   the unloaded PBA latency. After each phase the LMA's RSS is read from /proc
   and ``pmipctl status`` must report N bindings.

Generator and target are pinned to different CPUs (``--no-pin`` to not), the
neighbour entries are static (no NDP in the measured path), and before each
phase the script waits for the host to be quiet: the CPU used meanwhile by
processes that are not part of the run is reported per phase (``oth%``),
because a shared host skews the numbers.

Everything is torn down at the end, also on an error, Ctrl-C or SIGTERM.
``--json FILE`` saves all numbers; ``--profile DIR`` attaches ``py-spy`` to the
LMA during every phase (or runs it under cProfile with ``--profiler cprofile``)
and prints its hottest functions; ``--lma-pythonpath DIR`` runs the LMA from
another source tree (e.g. with a patch of ``proposals/`` applied) to compare.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import pmip6d
    from pmip6d.daemon.mhsocket import IPV6_CHECKSUM
    from pmip6d.wire import (
        ZERO_PREFIX,
        AccessTechnologyType,
        HandoffIndicator,
        MHType,
        OptionType,
        Prefix,
        ProxyBindingAck,
        ProxyBindingUpdate,
        decode,
        encode,
        status_name,
    )
    from pmip6d.wire.constants import IPPROTO_MH, MH_CHECKSUM_OFFSET
except ImportError:  # pragma: no cover - a usage error, reported in main()
    pmip6d = None  # type: ignore[assignment]

# --------------------------------------------------------------------------- constants

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SOCKET_BUFFER = 32 * 1024 * 1024

LINK_PREFIX = "fd00:5213::"
LMA_ADDRESS = "fd00:5213::1"
NULL_ADDRESS = "fd00:5213::2"
MAG_LINK_LOCAL = "fe80::1"
POOL_PREFIX = "2001:db8::/32"  # 2**32 /64 prefixes
POOL_LENGTH = 64
NULL_HNP = "2001:db8:ffff:ffff::"
MAX_LIFETIME_UNITS = 0xFFFF
MAX_BINDING_LIFETIME = MAX_LIFETIME_UNITS * 4  # ~72 h: nothing expires during a run
MN_ID_FORMAT = "mn-%08d@bench.pmip6d"
MN_ID_LENGTH = len(MN_ID_FORMAT % 0)
TS_FRACTIONS = 1 << 16

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    handoff_indicator: int
    mag_move: int | None
    """MN i is sent from MAG (i + shift) % mags: ``None`` keeps the shift of the MAG that
    registered it last, 0 resets it, 1 moves every MN to the next MAG (a handover)."""
    use_hnp: bool
    """Carry the HNP the target assigned at registration (else ::/0)."""
    record_hnp: bool


PHASES: dict[str, PhaseSpec] = {
    "register": PhaseSpec("register", 1, 0, use_hnp=False, record_hnp=True),
    "refresh": PhaseSpec("refresh", 5, None, use_hnp=True, record_hnp=False),
    "handover": PhaseSpec("handover", 3, 1, use_hnp=True, record_hnp=False),
    # Unloaded latency: refreshes of the first --probe MNs, one PBU outstanding at a time.
    "probe": PhaseSpec("probe", 5, None, use_hnp=True, record_hnp=False),
}
DEFAULT_PHASES = ["register", "refresh", "handover"]


def mag_address(index: int) -> str:
    return f"{LINK_PREFIX}a:{index:x}"


def mn_id(index: int) -> bytes:
    return (MN_ID_FORMAT % index).encode()


def mn_mac(index: int) -> bytes:
    return b"\x02\x00" + index.to_bytes(4, "big")


def option_offsets(mh: bytes | bytearray, start: int = 12) -> dict[int, int]:
    """Offset of the Type octet of the first option of each type in a Mobility Header."""
    out: dict[int, int] = {}
    pos = start
    while pos < len(mh):
        otype = mh[pos]
        if otype == OptionType.PAD1:
            pos += 1
            continue
        out.setdefault(otype, pos)
        pos += 2 + mh[pos + 1]
    return out


def mh_socket(bind: str | None = None) -> socket.socket:
    """A raw Mobility Header socket set up like the daemon's, with big forced buffers."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    if bind:
        sock.bind((bind, 0))
    return sock


def raw6_drops(path: str, inode: int | None = None) -> int:
    """Datagrams the kernel dropped on raw IPv6 sockets (``/proc/.../net/raw6``)."""
    total = 0
    try:
        with open(path) as f:
            next(f)
            for line in f:
                cols = line.split()
                if len(cols) >= 13 and (inode is None or int(cols[9]) == inode):
                    total += int(cols[12])
    except (OSError, ValueError, StopIteration):
        return -1
    return total


def emit(obj: dict[str, Any]) -> None:
    """Worker → orchestrator: one JSON object per line on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- worker: generator


class Generator:
    """Emulates ``mags`` MAGs registering ``n`` mobile nodes; runs in its own namespace."""

    def __init__(self, n: int, mags: int) -> None:
        self.n = n
        self.mags = mags
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
        self.sock = mh_socket()
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
        if spec.mag_move == 0:
            self.shift = 0
        elif spec.mag_move is not None:
            self.shift = (self.shift + spec.mag_move) % mags
        shift = self.shift
        anc = [ancillary[(i + shift) % mags] for i in range(n)]
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
                        sendmsg((buf,), anc[i], 0, dest)
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


def generator_main(n: int, mags: int) -> int:
    gen = Generator(n, mags)
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


# --------------------------------------------------------------------------- worker: null responder


def null_main(address: str) -> int:
    """Answer every PBU with one fixed PBA; only the sequence number and MN-ID are patched."""
    sample_pbu = encode(
        ProxyBindingUpdate(
            sequence=0,
            lifetime_units=1,
            mn_id=mn_id(0),
            home_network_prefixes=[ZERO_PREFIX],
            handoff_indicator=1,
            access_technology_type=4,
        )
    )
    pbu_id_at = option_offsets(sample_pbu)[OptionType.MN_IDENTIFIER] + 3
    pba = bytearray(
        encode(
            ProxyBindingAck(
                status=0,
                sequence=0,
                lifetime_units=MAX_LIFETIME_UNITS,
                mn_id=mn_id(0),
                home_network_prefixes=[Prefix.parse(f"{NULL_HNP}/64")],
                handoff_indicator=1,
                access_technology_type=4,
                mn_link_layer_id=mn_mac(0),
                link_local_address=socket.inet_pton(socket.AF_INET6, MAG_LINK_LOCAL),
                timestamp=0,
            )
        )
    )
    pba_id_at = option_offsets(pba)[OptionType.MN_IDENTIFIER] + 3
    pbu_id_end = pbu_id_at + MN_ID_LENGTH
    pba_id_end = pba_id_at + MN_ID_LENGTH
    sock = mh_socket(address)
    signal.signal(signal.SIGTERM, lambda *_unused: sys.exit(0))
    emit({"type": "ready"})
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    binding_update = MHType.BINDING_UPDATE
    while True:
        data, src = recvfrom(4096)
        if len(data) < pbu_id_end or data[2] != binding_update:
            continue
        pba[8:10] = data[6:8]
        pba[pba_id_at:pba_id_end] = data[pbu_id_at:pbu_id_end]
        sendto(pba, src)


# --------------------------------------------------------------------------- orchestrator helpers


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop and clean up like Ctrl-C does."""


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", flush=True)


def sh(*cmd: str, check: bool = True, input_text: str | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input_text, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu``."""
    if cpu is None:
        return None

    def _pin() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})

    return _pin


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM (kB) of a process."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _unused, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Child:
    """A process this run started; stopped by its own pid only."""

    name: str
    proc: subprocess.Popen
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.proc.returncode


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    lma_ns: str = ""
    gen_ns: str = ""
    veth_lma: str = ""
    veth_gen: str = ""
    children: list[Child] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    cpu_target: int | None = None
    cpu_gen: int | None = None

    def __post_init__(self) -> None:
        pid = os.getpid()
        self.lma_ns = f"pmipbench-lma-{pid}"
        self.gen_ns = f"pmipbench-gen-{pid}"
        self.veth_lma = f"pbl{pid}"
        self.veth_gen = f"pbg{pid}"
        cpus = sorted(os.sched_getaffinity(0))
        if not self.args.no_pin and len(cpus) >= 2:
            self.cpu_gen, self.cpu_target = cpus[0], cpus[1]

    # ------------------------------------------------------------------ network

    def setup_network(self) -> None:
        log(f"namespaces {self.lma_ns} / {self.gen_ns}, veth {self.veth_lma}<->{self.veth_gen}")
        for ns in (self.lma_ns, self.gen_ns):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
        sh(
            "ip", "link", "add", "name", self.veth_lma, "netns", self.lma_ns, "type", "veth",
            "peer", "name", self.veth_gen, "netns", self.gen_ns,
        )  # fmt: skip
        lma_batch = [
            "link set lo up",
            f"link set {self.veth_lma} up",
            f"addr add {LMA_ADDRESS}/64 dev {self.veth_lma} nodad",
            f"addr add {NULL_ADDRESS}/64 dev {self.veth_lma} nodad",
        ]
        gen_batch = ["link set lo up", f"link set {self.veth_gen} up"]
        gen_batch += [
            f"addr add {mag_address(m)}/64 dev {self.veth_gen} nodad" for m in range(self.args.mags)
        ]
        sh("ip", "-n", self.lma_ns, "-batch", "-", input_text="\n".join(lma_batch) + "\n")
        sh("ip", "-n", self.gen_ns, "-batch", "-", input_text="\n".join(gen_batch) + "\n")
        # Static neighbour entries: no NDP in the measured path, nothing queued on a miss.
        lma_mac = self._mac(self.lma_ns, self.veth_lma)
        gen_mac = self._mac(self.gen_ns, self.veth_gen)
        lma_neigh = [
            f"neigh replace {mag_address(m)} lladdr {gen_mac} dev {self.veth_lma} nud permanent"
            for m in range(self.args.mags)
        ]
        gen_neigh = [
            f"neigh replace {addr} lladdr {lma_mac} dev {self.veth_gen} nud permanent"
            for addr in (LMA_ADDRESS, NULL_ADDRESS)
        ]
        sh("ip", "-n", self.lma_ns, "-batch", "-", input_text="\n".join(lma_neigh) + "\n")
        sh("ip", "-n", self.gen_ns, "-batch", "-", input_text="\n".join(gen_neigh) + "\n")

    @staticmethod
    def _mac(ns: str, dev: str) -> str:
        return json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", dev))[0]["address"]

    def teardown(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(wait=5)
        for ns in self.namespaces:
            # Anything still in a namespace of this run was started by this run.
            for pid_text in sh("ip", "netns", "pids", ns, check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_text), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        if self.args.keep_tmp:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ processes

    def spawn(
        self,
        name: str,
        ns: str,
        cmd: list[str],
        cpu: int | None,
        *,
        pipes: bool = False,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        stderr: Any = open(log_path, "w") if log_path else None  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd],
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else stderr,
                stderr=stderr,
                text=True,
                start_new_session=True,
                preexec_fn=pin(cpu),
                env=env,
            )
        finally:
            if stderr is not None:
                stderr.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def forget(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)

    def worker_cmd(self, *extra: str) -> list[str]:
        return [sys.executable, "-u", str(Path(__file__).resolve()), "--worker", *extra]


def read_message(child: Child, echo: bool = True) -> dict[str, Any]:
    """Next JSON line from a worker; progress lines are printed and skipped."""
    assert child.proc.stdout is not None
    while True:
        line = child.proc.stdout.readline()
        if not line:
            code = child.proc.wait(5)
            raise RuntimeError(f"{child.name} exited ({code}) without an answer")
        msg = json.loads(line)
        if msg.get("type") == "progress":
            if echo:
                log(
                    f"  {msg['label']}: {msg['done']}/{msg['n']} "
                    f"({msg['rate']}/s now, lost {msg['lost']}, rejected {msg['rejected']})"
                )
            continue
        return msg


def send_command(child: Child, cmd: dict[str, Any]) -> None:
    assert child.proc.stdin is not None
    child.proc.stdin.write(json.dumps(cmd) + "\n")
    child.proc.stdin.flush()


def pmipctl(sock: Path, command: str) -> dict[str, Any]:
    exe = VENV_BIN / "pmipctl"
    if exe.exists():
        cmd = [str(exe)]
    else:
        cmd = [sys.executable, "-c", "import sys, pmip6d.cli as c; sys.exit(c.pmipctl_main())"]
    out = sh(*cmd, "-s", str(sock), "--json", command)
    return json.loads(out)


def wait_for_control(sock: Path, child: Child, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"LMA exited with {child.proc.returncode}; see {child.log_path}")
        if sock.exists():
            try:
                pmipctl(sock, "status")
                return
            except (RuntimeError, json.JSONDecodeError):
                pass
        time.sleep(0.1)
    raise RuntimeError("LMA control socket did not come up")


def find_pid(child: Child, needle: str) -> int:
    """The pid of the daemon itself (``ip netns exec`` execs, so normally the child's own)."""
    if needle in cmdline(child.pid):
        return child.pid
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{child.pid}/task"):
            with open(f"/proc/{child.pid}/task/{task}/children") as f:
                for pid in f.read().split():
                    if needle in cmdline(int(pid)):
                        return int(pid)
    return child.pid


# --------------------------------------------------------------------------- profiling


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_key(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['func']} ({path})"


def summarize_collapsed(path: Path, top: int) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's ``raw`` output."""
    self_count: collections.Counter[str] = collections.Counter()
    incl_count: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {"samples": 0}
    for line in lines:
        stack, _unused, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_key(f) for f in stack.split(";") if f]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        if frames[-1].endswith("(<string>)") and len(frames) > 1:
            # Generated code (dataclass __init__): name it after its caller. Time that
            # lands here is mostly the cyclic GC, which runs inside allocations.
            caller = frames[-2].split(" (", 1)[0]
            frames[-1] = f"{frames[-1].split(' (', 1)[0]} (generated, called by {caller})"
        total += count
        self_count[frames[-1]] += count
        for key in set(frames):
            incl_count[key] += count

    def rows(counter: collections.Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": k, "samples": v, "percent": round(100 * v / total, 1)}
            for k, v in counter.most_common(top)
        ]

    return {"samples": total, "self": rows(self_count), "inclusive": rows(incl_count)}


class Profiler:
    """py-spy attached to the LMA for one phase, or the whole LMA run under cProfile."""

    def __init__(self, bench: Bench, kind: str, out_dir: Path) -> None:
        self.bench = bench
        self.kind = kind
        self.out_dir = out_dir
        self.proc: subprocess.Popen | None = None
        self.path: Path | None = None
        exe = VENV_BIN / "py-spy"
        self.py_spy = str(exe) if exe.exists() else shutil.which("py-spy")
        if kind == "py-spy" and self.py_spy is None:
            raise SystemExit("--profiler py-spy: py-spy not found (pip install py-spy)")

    def lma_prefix(self, size: int) -> list[str]:
        if self.kind != "cprofile":
            return []
        return ["-m", "cProfile", "-o", str(self.out_dir / f"lma-{size}.pstats")]

    def start(self, pid: int, label: str) -> None:
        if self.kind != "py-spy":
            return
        self.path = self.out_dir / f"{label}.collapsed"
        mode = self.bench.args.spy_mode
        extra = {"nonblocking": ["--nonblocking"], "blocking": [], "native": ["--native"]}[mode]
        self.proc = subprocess.Popen(
            [
                self.py_spy, "record", "--pid", str(pid), "--rate", str(self.bench.args.spy_rate),
                *extra, "--format", "raw", "--output", str(self.path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        time.sleep(1.0)  # let it attach before the phase starts

    def stop(self) -> dict[str, Any] | None:
        if self.proc is None or self.path is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        summary = summarize_collapsed(self.path, self.bench.args.profile_top)
        summary["file"] = str(self.path)
        return summary

    def cprofile_summary(self, size: int) -> dict[str, Any] | None:
        if self.kind != "cprofile":
            return None
        import pstats

        path = self.out_dir / f"lma-{size}.pstats"
        if not path.exists():
            return None
        stats = pstats.Stats(str(path))
        total = stats.total_tt  # type: ignore[attr-defined]
        raw = stats.stats  # type: ignore[attr-defined]
        rows = []
        for (file, line, func), (_cc, nc, tt, ct, _callers) in raw.items():
            rows.append((tt, ct, nc, f"{func} ({Path(file).name}:{line})"))
        self_rows = sorted(rows, reverse=True)[: self.bench.args.profile_top]
        incl_rows = sorted(rows, key=lambda r: r[1], reverse=True)[: self.bench.args.profile_top]
        text_path = self.out_dir / f"lma-{size}.pstats.txt"
        with open(text_path, "w") as f:
            pstats.Stats(str(path), stream=f).sort_stats("tottime").print_stats(40)
        return {
            "file": str(path),
            "total_s": round(total, 3),
            "self": [
                {"function": r[3], "seconds": round(r[0], 3), "calls": r[2],
                 "percent": round(100 * r[0] / total, 1)}
                for r in self_rows
            ],
            "inclusive": [
                {"function": r[3], "seconds": round(r[1], 3), "calls": r[2],
                 "percent": round(100 * r[1] / total, 1)}
                for r in incl_rows
            ],
        }  # fmt: skip


def print_profile(title: str, summary: dict[str, Any], top: int) -> None:
    print(f"\n{title}")
    if "samples" in summary:
        print(f"  {summary['samples']} busy samples ({summary.get('file', '')})")
    for kind in ("self", "inclusive"):
        print(f"  top {kind}:")
        for row in summary.get(kind, [])[:top]:
            extra = f" {row['seconds']:8.3f}s" if "seconds" in row else ""
            print(f"    {row['percent']:5.1f}%{extra}  {row['function']}")


# --------------------------------------------------------------------------- the run


def write_configs(bench: Bench, size: int) -> tuple[Path, Path]:
    """LMA config and policy for one size; YAML written as JSON (a subset of YAML)."""
    mags = [{"name": f"mag{m}", "address": mag_address(m)} for m in range(bench.args.mags)]
    policy = {
        "domain": "bench.pmip6d",
        "mags": mags,
        "lmas": [
            {
                "name": "lma",
                "address": LMA_ADDRESS,
                "accept_mags": [m["name"] for m in mags],
                "serve_unlisted": True,
            }
        ],
        "mobile_nodes": [],
    }
    sock = bench.tmp / f"lma-{size}.sock"
    config = {
        "name": "lma",
        "policy": str(bench.tmp / "policy.yml"),
        "control_socket": str(sock),
        "prefix_pool": {"prefix": POOL_PREFIX, "length": POOL_LENGTH},
        "max_binding_lifetime": MAX_BINDING_LIFETIME,
        "timestamp_validity_window_ms": bench.args.ts_window_ms,
        "log_level": "warning",
    }
    (bench.tmp / "policy.yml").write_text(json.dumps(policy, indent=1) + "\n")
    path = bench.tmp / f"lma-{size}.yml"
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path, sock


def system_ticks() -> tuple[int, int]:
    """(user+nice+system, irq+softirq) over all CPUs from /proc/stat, in clock ticks."""
    with open("/proc/stat") as f:
        cols = [int(x) for x in f.readline().split()[1:8]]
    return cols[0] + cols[1] + cols[2], cols[5] + cols[6]


class PhaseMeter:
    """CPU use of the target, the generator and everything else during one phase."""

    def __init__(self, target_pid: int, gen_pid: int) -> None:
        self.pids = (target_pid, gen_pid)
        self.hz = os.sysconf("SC_CLK_TCK")
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = [cpu_seconds(p) for p in self.pids]
        self.sys0 = system_ticks()

    def stop(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.t0, 1e-6)
        target, gen = (cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu0, strict=True))
        proc1, irq1 = system_ticks()
        procs = (proc1 - self.sys0[0]) / self.hz
        irq = (irq1 - self.sys0[1]) / self.hz
        return {
            "target_cpu_percent": round(100 * target / wall),
            "generator_cpu_percent": round(100 * gen / wall),
            "softirq_cpu_percent": round(100 * irq / wall),
            "other_cpu_percent": max(0, round(100 * (procs - target - gen) / wall)),
        }


def wait_for_quiet(bench: Bench, pids: tuple[int, ...]) -> float:
    """Wait (up to --quiet-wait s) until other processes use < --quiet-threshold % CPU.

    The host may be shared; a phase measured while something else burns CPU says little.
    Returns the last measured CPU use of other processes, in % of one CPU.
    """
    args = bench.args
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + args.quiet_wait
    announced = False
    while True:
        cpu0 = sum(cpu_seconds(p) for p in pids)
        busy0 = system_ticks()[0]
        time.sleep(0.5)
        ours = sum(cpu_seconds(p) for p in pids) - cpu0
        other = max(0.0, 100 * ((system_ticks()[0] - busy0) / hz - ours) / 0.5)
        if other < args.quiet_threshold or time.monotonic() >= deadline:
            if announced or other >= args.quiet_threshold:
                log(f"  other processes now at {other:.0f}% CPU; going on")
            return other
        if not announced:
            log(f"  waiting for the host to calm down: other processes use {other:.0f}% CPU")
            announced = True


def run_phases(
    bench: Bench,
    gen: Child,
    target: str,
    size: int,
    kind: str,
    rows: list[dict[str, Any]],
    meter: PhaseMeter,
    after_phase: Callable[[str], dict[str, Any]] | None = None,
    before_phase: Callable[[str], None] | None = None,
) -> None:
    """Drive every phase against ``target``; each result row is appended to ``rows`` at once."""
    args = bench.args
    phases = list(args.phases) + (["probe"] if args.probe else [])
    for name in phases:
        window, count = (1, min(args.probe, size)) if name == "probe" else (args.window, size)
        label = f"{size} {kind} {name}"
        log(f"{label}: {count} PBUs, window {window}")
        if args.quiet_wait > 0:
            wait_for_quiet(bench, meter.pids)
        if before_phase:
            before_phase(name)
        meter.start()
        send_command(
            gen,
            {
                "cmd": "phase",
                "phase": name,
                "target": target,
                "window": window,
                "count": count,
                "timeout": args.timeout,
                "label": label,
            },
        )
        res = read_message(gen)
        res.update(meter.stop())
        res.update({"size": size, "kind": kind})
        if after_phase:
            res.update(after_phase(name))
        lat = res["latency_ms"]
        log(
            f"{label}: {res['rate']:.0f} reg/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
            f"accepted {res['accepted']}, rejected {res['rejected']}, lost {res['lost']}; CPU% "
            f"target {res['target_cpu_percent']}, generator {res['generator_cpu_percent']}, "
            f"softirq {res['softirq_cpu_percent']}, other processes {res['other_cpu_percent']}"
        )
        rows.append(res)


def run_size(bench: Bench, size: int, profiler: Profiler | None, out: dict[str, Any]) -> None:
    """Baseline and LMA for ``size`` MNs; ``out`` fills in as it goes (partial on interrupt)."""
    args = bench.args
    out.update({"size": size, "rows": []})
    log(f"=== {size} mobile nodes: starting the generator (encoding {size} PBUs)")
    gen = bench.spawn(
        f"generator-{size}",
        bench.gen_ns,
        bench.worker_cmd("gen", str(size), str(args.mags)),
        bench.cpu_gen,
        pipes=True,
    )
    ready = read_message(gen)
    log(f"generator ready: {size} PBUs of {ready['pbu_octets']} octets in {ready['encode_s']} s")
    out["generator"] = ready

    if not args.no_baseline:
        null = bench.spawn(
            "null-responder", bench.lma_ns, bench.worker_cmd("null", NULL_ADDRESS),
            bench.cpu_target, pipes=True,
        )  # fmt: skip
        read_message(null)
        try:
            meter = PhaseMeter(null.pid, gen.pid)
            run_phases(bench, gen, NULL_ADDRESS, size, "null", out["rows"], meter)
        finally:
            null.stop()
            bench.forget(null)

    config_path, sock = write_configs(bench, size)
    exe = VENV_BIN / "pmip6d"
    prefix = profiler.lma_prefix(size) if profiler else []
    if prefix or not exe.exists():
        cmd = [sys.executable, *prefix, "-m", "pmip6d", "lma", "-c", str(config_path)]
    else:
        cmd = [str(exe), "lma", "-c", str(config_path)]
    log_path = bench.tmp / f"lma-{size}.log"
    env = None
    if args.lma_pythonpath:
        # A patched source tree (e.g. with a proposal applied) instead of the installed one.
        env = dict(os.environ, PYTHONPATH=str(args.lma_pythonpath.resolve()))
        out["lma_pythonpath"] = str(args.lma_pythonpath)
    lma = bench.spawn("lma", bench.lma_ns, cmd, bench.cpu_target, log_path=log_path, env=env)
    code = None
    try:
        wait_for_control(sock, lma)
        pid = find_pid(lma, "pmip6d")
        status0 = proc_status(pid)
        log(f"LMA up: pid {pid}, RSS {status0.get('VmRSS', 0) / 1024:.1f} MB: {' '.join(cmd)}")
        out["lma_command"] = cmd
        out["lma_rss_idle_mb"] = round(status0.get("VmRSS", 0) / 1024, 1)
        raw6 = f"/proc/{pid}/net/raw6"
        drops: dict[str, int] = {}
        profiles: dict[str, Any] = {}
        out["profile"] = profiles

        def lma_before(name: str) -> None:
            if profiler:
                profiler.start(pid, f"lma-{size}-{name}")
            drops["before"] = raw6_drops(raw6)

        def lma_after(name: str) -> dict[str, Any]:
            extra: dict[str, Any] = {"lma_socket_drops": raw6_drops(raw6) - drops["before"]}
            if profiler:
                summary = profiler.stop()
                if summary:
                    profiles[name] = summary
            st = proc_status(pid)
            extra["rss_mb"] = round(st.get("VmRSS", 0) / 1024, 1)
            extra["hwm_mb"] = round(st.get("VmHWM", 0) / 1024, 1)
            status = pmipctl(sock, "status")
            extra["pmipctl_bindings"] = status["bindings"]
            extra["bindings_ok"] = status["bindings"] == size
            mark = "OK" if extra["bindings_ok"] else "MISMATCH"
            log(
                f"  after {name}: pmipctl status bindings={status['bindings']} "
                f"(expected {size}: {mark}), mobile_nodes={status['mobile_nodes']}, "
                f"pool in use={status['pool']['in_use'] if status.get('pool') else '-'}, "
                f"LMA RSS {extra['rss_mb']} MB (peak {extra['hwm_mb']} MB)"
            )
            return extra

        meter = PhaseMeter(pid, gen.pid)
        run_phases(bench, gen, LMA_ADDRESS, size, "lma", out["rows"], meter, lma_after, lma_before)
        out["lma_status"] = pmipctl(sock, "status")
        out["lma_counters"] = pmipctl(sock, "counters")
    finally:
        if profiler:
            profiler.stop()
        with contextlib.suppress(OSError, ValueError):
            send_command(gen, {"cmd": "quit"})
        gen.stop(wait=10)
        bench.forget(gen)
        code = lma.stop(wait=30)
        bench.forget(lma)
        out["lma_exit_code"] = code
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        problems = [ln for ln in text.splitlines() if re.search(r"WARNING|ERROR|Traceback", ln)]
        out["lma_log_problems"] = problems[:50]
        out["lma_log_problem_count"] = len(problems)
    if profiler and not out.get("profile"):
        out["profile"] = profiler.cprofile_summary(size)
    counters = out.get("lma_counters", {})
    log(f"LMA stopped (exit {code}); counters: {json.dumps(counters, sort_keys=True)}")
    if problems:
        log(f"LMA log has {len(problems)} warning/error lines, first: {problems[0]}")


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [r for s in results for r in s["rows"]]
    base = {(r["size"], r["phase"]): r["rate"] for r in rows if r["kind"] == "null"}
    header = (
        "size", "target", "phase", "win", "reg/s", "p50 ms", "p99 ms", "max ms", "lost", "rejected",
        "tgt%", "gen%", "oth%", "RSS MB", "bindings", "vs null",
    )  # fmt: skip
    table = [header]
    for r in rows:
        b = base.get((r["size"], r["phase"]))
        lat = r["latency_ms"]
        ratio = f"{r['rate'] / b:.2f}" if r["kind"] == "lma" and b else "-"
        table.append(
            (
                str(r["size"]),
                "LMA" if r["kind"] == "lma" else "null",
                r["phase"],
                str(r["window"]),
                f"{r['rate']:.0f}",
                f"{lat['p50']:.2f}" if lat["p50"] is not None else "-",
                f"{lat['p99']:.2f}" if lat["p99"] is not None else "-",
                f"{lat['max']:.1f}" if lat["max"] is not None else "-",
                str(r["lost"]),
                str(r["rejected"]),
                str(r.get("target_cpu_percent", "-")),
                str(r.get("generator_cpu_percent", "-")),
                str(r.get("other_cpu_percent", "-")),
                str(r.get("rss_mb", "-")),
                str(r.get("pmipctl_bindings", "-")),
                ratio,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for k, row in enumerate(table):
        print("  ".join(c.rjust(w) if j >= 4 else c.ljust(w) for j, (c, w) in enumerate(
            zip(row, widths, strict=True))).rstrip())  # fmt: skip
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "reg/s: accepted PBAs per second of the phase; latency: PBU sent -> its PBA received; "
        "win: PBUs outstanding;\ntgt%/gen%/oth%: CPU of the target (LMA or null responder), "
        "the generator, and all other processes on the host (noise), in % of one CPU;\n"
        "RSS: LMA resident set after the phase; bindings: `pmipctl status` after the phase; "
        "vs null: LMA reg/s / null-responder reg/s of the same size and phase."
    )
    print()


def print_notes(results: list[dict[str, Any]]) -> None:
    for s in results:
        size = s["size"]
        for r in s["rows"]:
            odd = {
                k: r[k]
                for k in ("late", "duplicate", "unmatched", "accepted_without_hnp", "send_errors")
                if r.get(k)
            }
            if r.get("rejected_by_status"):
                odd["rejected_by_status"] = r["rejected_by_status"]
            for k in ("lma_socket_drops", "generator_socket_drops"):
                if r.get(k):
                    odd[k] = r[k]
            if r.get("other_cpu_percent", 0) > 15:
                odd["other_cpu_percent"] = r["other_cpu_percent"]
            if r.get("bindings_ok") is False:
                odd["pmipctl_bindings"] = r["pmipctl_bindings"]
            if odd:
                print(f"note: {size} {r['kind']} {r['phase']}: {json.dumps(odd)}")
        counters = s.get("lma_counters", {})
        bad = {k: v for k, v in counters.items() if k.startswith(("rejected", "malformed"))}
        bad.update(
            {
                k: v
                for k, v in counters.items()
                if k in ("internal_error", "send_error", "effect_error")
            }
        )
        if bad:
            print(f"note: {size} LMA counters: {json.dumps(bad, sort_keys=True)}")
        if s.get("lma_exit_code") not in (0, None):
            print(f"note: {size} LMA exit code {s['lma_exit_code']}")
        if s.get("lma_log_problem_count"):
            print(f"note: {size} LMA log: {s['lma_log_problem_count']} warning/error lines")
        status = s.get("lma_status", {})
        print(
            f"{size}: LMA idle RSS {s.get('lma_rss_idle_mb')} MB; final pmipctl status: "
            f"bindings={status.get('bindings')} mobile_nodes={status.get('mobile_nodes')} "
            f"pool.in_use={(status.get('pool') or {}).get('in_use')}; "
            f"counters registrations={counters.get('registrations')} "
            f"refreshes={counters.get('refreshes')} handoffs={counters.get('handoffs')} "
            f"pba_sent={counters.get('pba_sent')}"
        )


def git_head() -> str | None:
    """The commit the source tree is at (read-only; no index refresh)."""
    here = Path(__file__).resolve().parent
    try:
        proc = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"),
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def meta(args: argparse.Namespace) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pmip6d": getattr(pmip6d, "__version__", None),
        "cpu": model,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg()[0],
        "git_head": git_head(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Registrations/s and PBA latency of one real pmip6d LMA (run as root)."
    )
    p.add_argument(
        "--mns",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        metavar="N",
        help="mobile node counts to measure (default: 10000 100000)",
    )
    p.add_argument("--mags", type=int, default=64, help="emulated MAG addresses (default 64)")
    p.add_argument(
        "--window",
        type=int,
        default=256,
        help="outstanding PBUs (default 256; keep window/rate well under the "
        "LMA's timestamp window)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="seconds after which an unanswered PBU counts as lost (default 3)",
    )
    p.add_argument(
        "--phases",
        nargs="+",
        choices=DEFAULT_PHASES,
        default=DEFAULT_PHASES,
        help="phases per size, in order (default: register refresh handover)",
    )
    p.add_argument(
        "--ts-window-ms",
        type=int,
        default=300,
        help="LMA timestamp_validity_window_ms (default 300, the LMA's default)",
    )
    p.add_argument(
        "--probe",
        type=int,
        default=2000,
        metavar="N",
        help="after the phases, refresh the first N MNs one at a time (window 1) for the "
        "unloaded PBA latency; 0 to skip (default 2000)",
    )
    p.add_argument(
        "--quiet-threshold",
        type=float,
        default=15.0,
        metavar="PCT",
        help="before each phase wait until other processes use less CPU than this, in %% "
        "of one CPU (default 15)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        metavar="S",
        help="wait at most this long for a quiet host before each phase; 0 to not wait "
        "(default 60)",
    )
    p.add_argument(
        "--lma-pythonpath",
        type=Path,
        metavar="DIR",
        help="run the LMA with PYTHONPATH=DIR, e.g. the src/ of a copy with a proposal applied",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the null responder")
    p.add_argument(
        "--no-pin", action="store_true", help="do not pin generator and target to separate CPUs"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="save all results as JSON")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile the LMA during each phase and keep the output in DIR",
    )
    p.add_argument(
        "--profiler",
        choices=["py-spy", "cprofile"],
        default="py-spy",
        help="py-spy record attached per phase (default) or the LMA run under "
        "cProfile (slows it down)",
    )
    p.add_argument("--spy-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument(
        "--spy-mode",
        choices=["nonblocking", "blocking", "native"],
        default="blocking",
        help="py-spy: nonblocking (least overhead, stacks can be torn), blocking (pauses the "
        "LMA per sample: exact stacks; default) or native (also C frames: shows the GC)",
    )
    p.add_argument("--profile-top", type=int, default=20, help="functions shown per profile")
    p.add_argument("--keep-tmp", action="store_true", help="keep configs and LMA logs")
    args = p.parse_args(argv)
    if args.mags < 2 and "handover" in args.phases:
        p.error("handover needs --mags 2 or more")
    if not 1 <= args.mags <= 0xFFFF:
        p.error("--mags must be 1..65535")
    if any(n < 1 or n > 99_999_999 for n in args.mns):
        p.error("--mns must be 1..99999999")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if pmip6d is None:
        print(
            "bench_lma: cannot import pmip6d; run with the project's venv python, e.g. "
            "/work/main/.venv/bin/python files/pmip6d-lab/bench/bench_lma.py",
            file=sys.stderr,
        )
        return 2
    if argv[:1] == ["--worker"]:
        if argv[1] == "gen":
            return generator_main(int(argv[2]), int(argv[3]))
        if argv[1] == "null":
            return null_main(argv[2])
        raise SystemExit(f"unknown worker {argv[1]}")
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench_lma: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip",):
        if shutil.which(tool) is None:
            print(f"bench_lma: {tool} not found", file=sys.stderr)
            return 2

    def on_signal(signum: int, _frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    # Ctrl-C raises KeyboardInterrupt even if this process was started with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    tmp = Path(tempfile.mkdtemp(prefix=f"pmip6d-bench-{os.getpid()}-"))
    bench = Bench(args, tmp)
    profiler = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        profiler = Profiler(bench, args.profiler, args.profile.resolve())
    results: list[dict[str, Any]] = []
    info = meta(args)
    code = 0
    started = time.monotonic()
    try:
        log(
            f"pmip6d {info['pmip6d']} on {info['cpu']} x{info['cpus']}, kernel {info['kernel']}; "
            f"generator on CPU {bench.cpu_gen}, target on CPU {bench.cpu_target}; tmp {tmp}"
        )
        bench.setup_network()
        for size in args.mns:
            results.append({"size": size, "rows": []})
            run_size(bench, size, profiler, results[-1])
    except (KeyboardInterrupt, Interrupted) as exc:
        log(f"interrupted ({type(exc).__name__} {exc}); cleaning up")
        code = 130
    except Exception as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            bench.teardown()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        log(f"torn down after {time.monotonic() - started:.0f} s")

    if results:
        print_table(results)
        print_notes(results)
        if profiler:
            for s in results:
                prof = s.get("profile") or {}
                if "self" in prof:  # cProfile: one profile for the whole run
                    print_profile(
                        f"LMA profile, {s['size']} MNs (cProfile)", prof, args.profile_top
                    )
                else:
                    for phase, summary in prof.items():
                        print_profile(
                            f"LMA profile, {s['size']} MNs, {phase} (py-spy)",
                            summary,
                            args.profile_top,
                        )
    if args.json:
        doc = {"meta": info, "results": results, "exit_code": code}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results saved to {args.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
