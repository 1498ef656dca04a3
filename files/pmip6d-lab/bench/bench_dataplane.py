"""Routes per second into the kernel: pyroute2 one by one vs the LMA data plane's batches.

Run as root with the project's virtualenv::

    /work/main/.venv/bin/python files/pmip6d-lab/bench/bench_dataplane.py --routes 10000 100000

For every size N given with ``--routes``, in a network namespace of its own
(``dpb<pid>``, removed at the end, also on an error or Ctrl-C) holding one veth
``core0`` with the LMA address and two MAG addresses on-link:

1. BASELINE ``pyroute2``: ``IPRoute(netns=…).route("replace", dst=HNP/64, oif=core0,
   proto=213)`` once per prefix, synchronously — the straightforward way. pyroute2
   cannot express ``nhid``, so the baseline installs a plain device route
   (cheaper for the kernel than ours). Skipped above ``--pyroute2-max`` routes
   (default 10000) because it takes minutes.
2. ``LmaDataplane`` (``--backend``, default ``auto``: ip6tnl, seg6 or ebpf,
   whichever the kernel offers first; a nexthop object per MAG): ``RouteToMag`` for N
   bindings to MAG1 → ``flush()`` (register), the same N to MAG2 with
   ``previous=MAG1`` → ``flush()`` (handover: N ``route replace … nhid``), then
   ``Unroute`` all → ``flush()`` (deregister); with ``NLM_F_ACK`` per route and,
   as a second row, without (only errors come back).

After each phase the script dumps the kernel's routes and checks that exactly the
expected number points at the expected nexthop, so a fast wrong answer cannot
pass. ``routes/s`` counts the whole ``flush()`` (encode, send, read answers,
bookkeeping); ``actions/s`` the buffering calls before it.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

# This checkout's agent (files/pmip6d), not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pmip6d" / "src"))

from pmip6d.actions import RouteToMag, Unroute
from pmip6d.dataplane import Kernel, LmaDataplane, Ownership
from pmip6d.wire.prefix import Prefix

LMA = "2001:db8:c::1"
MAG1 = "2001:db8:c::11"
MAG2 = "2001:db8:c::12"
OWN = Ownership()


def sh(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def namespace():
    name = f"dpb{os.getpid()}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        sh("ip", "-n", name, "link", "add", "core0", "type", "veth", "peer", "name", "core1")
        for dev in ("core0", "core1"):
            sh("ip", "-n", name, "link", "set", dev, "up")
        sh("ip", "-n", name, "addr", "add", f"{LMA}/64", "dev", "core0", "nodad")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def prefixes(n: int) -> list[Prefix]:
    base = int(ipaddress.IPv6Address("2001:db8:8000::"))
    return [Prefix(((base >> 64) + i << 64).to_bytes(16, "big"), 64) for i in range(n)]


def count_routes(kernel: Kernel, nh_id: int | None) -> int:
    return sum(
        1
        for r in kernel.routes()
        if r.protocol == OWN.protocol and r.table == OWN.route_table and r.dst.length == 64
        if nh_id is None or r.nh_id == nh_id
    )


def bench_pyroute2(ns: str, hnps: list[Prefix]) -> dict:
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        oif = ipr.link_lookup(ifname="core0")[0]
        started = time.perf_counter()
        for p in hnps:
            ipr.route("replace", dst=str(p), oif=oif, proto=OWN.protocol, table=254)
        seconds = time.perf_counter() - started
        for p in hnps:
            ipr.route("del", dst=str(p), oif=oif, proto=OWN.protocol, table=254)
    return {"path": "pyroute2 route('replace') per prefix", "n": len(hnps), "seconds": seconds}


def bench_batched(
    ns: str, hnps: list[Prefix], acks: bool, batch_bytes: int, backend: str
) -> list[dict]:
    dp = LmaDataplane(
        backend,
        LMA,
        "core0",
        netns=ns,
        mode="static",
        peers=[MAG1, MAG2],
        acks=acks,
        batch_bytes=batch_bytes,
    )
    dp.start()
    rows = []
    try:
        nh1, nh2 = (OWN.nh_id(dp.peers.peers[m].slot) for m in (MAG1, MAG2))
        phases = [
            ("register", [RouteToMag(b"mn", (p,), MAG1) for p in hnps], nh1, len(hnps)),
            ("handover", [RouteToMag(b"mn", (p,), MAG2, MAG1) for p in hnps], nh2, len(hnps)),
            ("deregister", [Unroute(b"mn", (p,), MAG2) for p in hnps], None, 0),
        ]
        for name, actions, nh, expected in phases:
            started = time.perf_counter()
            for action in actions:
                dp(action)
            buffered = time.perf_counter() - started
            stats = dp.flush()
            found = count_routes(dp.kernel, nh)
            if found != expected or stats.failed or stats.unconfirmed:
                raise SystemExit(
                    f"{name}: kernel has {found} routes at nexthop {nh}, expected {expected}; "
                    f"{stats.failed} refused"
                )
            rows.append(
                {
                    "path": f"LmaDataplane ({dp.backend.name}), "
                    f"{'ack per route' if acks else 'errors only'}",
                    "phase": name,
                    "n": len(hnps),
                    "seconds": stats.seconds,
                    "buffer_seconds": buffered,
                    "sends": stats.sends,
                }
            )
    finally:
        dp.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--routes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--pyroute2-max", type=int, default=10_000)
    parser.add_argument("--batch-bytes", type=int, default=64 * 1024)
    parser.add_argument("--backend", default="auto", help="auto, ip6tnl, seg6 or ebpf")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates a network namespace")
    logging.basicConfig(level=logging.WARNING)
    results = []
    with namespace() as ns:
        for n in args.routes:
            hnps = prefixes(n)
            if n <= args.pyroute2_max:
                results.append(bench_pyroute2(ns, hnps))
            for acks in (True, False):
                results.extend(bench_batched(ns, hnps, acks, args.batch_bytes, args.backend))
    print(
        f"{'path':45} {'phase':11} {'routes':>8} {'seconds':>8} {'routes/s':>10} {'actions/s':>10}"
    )
    for r in results:
        rate = r["n"] / r["seconds"]
        buffered = r.get("buffer_seconds")
        actions = f"{r['n'] / buffered:10.0f}" if buffered else f"{'':10}"
        print(
            f"{r['path']:45} {r.get('phase', 'register'):11} {r['n']:8d} "
            f"{r['seconds']:8.3f} {rate:10.0f} {actions}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
