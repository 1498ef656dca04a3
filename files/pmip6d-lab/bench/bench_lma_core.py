"""CPU per PBU of the LMA's sans-IO core, without sockets: decode, decide, encode.

Run with the project's virtualenv (no root needed)::

    .venv/bin/python files/pmip6d-lab/bench/bench_lma_core.py --mns 100000

For N mobile nodes (serve_unlisted, a pool of /64s, 64 MAGs, as ``bench_lma.py``)
the PBUs of three phases are encoded first, then timed in this process:

* ``register`` (HI 1, HNP ::/0), ``refresh`` (same MAG, HI 5, the assigned HNP),
  ``handover`` (next MAG, HI 3, same HNP);
* per phase: ``decode`` (bytes -> message, :func:`pmip6d.wire.decode`), ``receive``
  (bytes -> actions: what the shell calls, decode included), ``pba`` (the answers'
  bytes, :func:`pmip6d.wire.encode`; a handover's BRI to the previous MAG, RFC 5846,
  included), and ``total`` = receive + pba, the core's share of the LMA's cost per
  PBU (the socket calls, asyncio and the data plane come on top: ``bench_lma.py``
  measures the whole agent).

The garbage collector is frozen after setup, as the agent does (``GcFreezer``).
Figures are the best of ``--repeat`` runs of each phase on a fresh LMA, in µs
per PBU; ``--json FILE`` saves them with the machine and the code's commit
(``tables.py`` renders them for the README).
Nothing is asserted: this is a measuring tool. Beside the figures it checks that
every PBU was accepted, so a fast wrong path cannot look good.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

from pmip6d.actions import Send
from pmip6d.clock import SystemClock
from pmip6d.config import PolicyFile
from pmip6d.heartbeat import HeartbeatSettings
from pmip6d.lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from pmip6d.policy import Policy
from pmip6d.wire import timestamp as ts
from pmip6d.wire.codec import decode, encode
from pmip6d.wire.constants import AccessTechnologyType, HandoffIndicator
from pmip6d.wire.messages import ProxyBindingAck, ProxyBindingUpdate
from pmip6d.wire.prefix import ZERO_PREFIX, Prefix

LMA = "2001:db8:ffff::1"
LINK_LOCAL = socket.inet_pton(socket.AF_INET6, "fe80::1")


def mag_address(m: int) -> str:
    return f"2001:db8:ff00::{m + 1:x}"


def make_lma(mags: int) -> LocalMobilityAnchor:
    names = [f"mag{m}" for m in range(mags)]
    doc = {
        "domain": "bench.example",
        "mags": [{"name": n, "address": mag_address(m)} for m, n in enumerate(names)],
        "lmas": [{"name": "lma", "address": LMA, "accept_mags": names, "serve_unlisted": True}],
        "mobile_nodes": [],
    }
    policy = Policy(PolicyFile.model_validate(doc), "bench-policy.yml")
    return LocalMobilityAnchor(
        LmaSettings(address=LMA, heartbeat=HeartbeatSettings(interval=0)),
        policy.lma_view("lma"),
        SystemClock(),
        PrefixPool(Prefix.parse("2001:db8::/32"), 64),
    )


def pbus(
    n: int, mags: int, phase: str, hnps: list[Prefix] | None, seq: int
) -> list[tuple[str, bytes, float]]:
    hi = {
        "register": HandoffIndicator.NEW_INTERFACE,
        "refresh": HandoffIndicator.NOT_CHANGED,
        "handover": HandoffIndicator.SAME_INTERFACE,
    }[phase]
    shift = 1 if phase == "handover" else 0
    # One timestamp for all: they are judged against the arrival time passed to
    # receive() (as the shell passes the kernel's), not against the clock at the
    # moment this process gets to them.
    now = time.time()
    stamp = ts.from_unix(now)
    out = []
    for i in range(n):
        msg = ProxyBindingUpdate(
            sequence=seq,
            lifetime_units=15000,
            mn_id=b"mn%d@bench.example" % i,
            home_network_prefixes=[hnps[i] if hnps else ZERO_PREFIX],
            handoff_indicator=hi,
            access_technology_type=AccessTechnologyType.IEEE_802_11,
            mn_link_layer_id=i.to_bytes(6, "big"),
            link_local_address=LINK_LOCAL,
            timestamp=stamp,
        )
        out.append((mag_address((i + shift) % mags), encode(msg), now))
    return out


def time_phase(lma: LocalMobilityAnchor, batch: list[tuple[str, bytes, float]]) -> dict[str, float]:
    n = len(batch)
    t0 = time.perf_counter()
    for _src, data, _at in batch:
        decode(data)
    t1 = time.perf_counter()
    receive = lma.receive
    answers = []
    for src, data, at in batch:
        answers.append(receive(src, data, at))
    t2 = time.perf_counter()
    wire = []
    for actions in answers:
        for a in actions:
            if isinstance(a, Send):
                wire.append(encode(a.message))
    t3 = time.perf_counter()
    accepted = sum(
        1
        for actions in answers
        for a in actions
        if isinstance(a, Send) and isinstance(a.message, ProxyBindingAck) and a.message.status == 0
    )
    if accepted != n:
        raise SystemExit(f"bench_lma_core: {accepted} of {n} PBUs accepted, {len(wire)} sent")
    us = 1e6 / n
    return {
        "decode_us": (t1 - t0) * us,
        "receive_us": (t2 - t1) * us,
        "pba_us": (t3 - t2) * us,
        "total_us": (t3 - t1) * us,
    }


def hnps_of(lma: LocalMobilityAnchor, n: int) -> list[Prefix]:
    rows = {r["mn_id"]: r for r in lma.binding_rows()}
    return [Prefix.parse(rows[f"mn{i}@bench.example"]["hnps"][0]) for i in range(n)]


def run(n: int, mags: int, repeat: int) -> dict[str, dict[str, float]]:
    best: dict[str, dict[str, float]] = {}
    for _attempt in range(repeat):
        lma = make_lma(mags)
        register = pbus(n, mags, "register", None, 1)
        gc.collect()
        gc.freeze()
        got = {"register": time_phase(lma, register)}
        hnps = hnps_of(lma, n)
        for seq, phase in ((2, "refresh"), (3, "handover")):
            batch = pbus(n, mags, phase, hnps, seq)
            gc.collect()
            gc.freeze()
            got[phase] = time_phase(lma, batch)
        del lma
        gc.unfreeze()
        gc.collect()
        for phase, figures in got.items():
            if phase not in best or figures["total_us"] < best[phase]["total_us"]:
                best[phase] = figures
    return best


def meta(args: argparse.Namespace) -> dict:
    """Where and on what the figures were measured (the same keys as bench_lma.py's)."""
    model = platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        head = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg()[0],
        "git_head": head,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--mns", type=int, nargs="+", default=[100_000])
    p.add_argument("--mags", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, metavar="FILE")
    args = p.parse_args()
    results = []
    print(f"{'MNs':>9}  {'phase':<9} {'decode':>7} {'receive':>8} {'pba':>6} {'total':>7}  µs/PBU")
    for n in args.mns:
        best = run(n, args.mags, args.repeat)
        for phase, f in best.items():
            print(
                f"{n:>9,}  {phase:<9} {f['decode_us']:7.2f} {f['receive_us']:8.2f} "
                f"{f['pba_us']:6.2f} {f['total_us']:7.2f}"
            )
            results.append({"mns": n, "phase": phase, **{k: round(v, 3) for k, v in f.items()}})
    print("receive includes decode; total = receive + pba (best of --repeat runs)")
    if args.json:
        doc = {"meta": meta(args), "results": results}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results saved to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
