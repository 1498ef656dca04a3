"""Handover signaling time on the emulated lab, phase by phase, beside the paper's Table II.

    sudo .venv/bin/python files/pmip6d-lab/bench/bench_handover.py [--runs 200] [--json OUT]

Builds the namespace testbed (real agents, seg6 tunnels, unicast RAs, Cisco
syslog from emulated APs), attaches one MN, then roams it AP1 ↔ AP2 many
times. For each handover the new MAG records, on its monotonic clock: the
syslog line's arrival (L2), the PBU leaving, the PBA arriving and the first
RA leaving. Printed: p50, p99 and mean of each phase, the paper's averages,
and a baseline measured in the same run — the ICMPv6 echo round trip between
the same two namespaces, the floor under PBU→PBA. This is a script that
prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pmip6d_lab.netlab import require_root, wait_for
from pmip6d_lab.nsdomain import LMA, MAGS, build_domain

PAPER = {"l2_to_pbu_ms": 4.95, "pbu_to_pba_ms": 2.42, "pba_to_ra_ms": 6.95, "total_ms": 14.32}
PHASES = [
    ("l2_to_pbu_ms", "L2 attachment → PBU"),
    ("pbu_to_pba_ms", "PBU → PBA"),
    ("pba_to_ra_ms", "PBA → RA"),
    ("total_ms", "total PMIPv6 latency"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ping_floor(dom, count: int) -> list[float]:
    out = (
        dom.lab.ns("mag1")
        .run("ping", "-6", "-c", str(count), "-i", "0.01", "-q", "-n", LMA, timeout=120)
        .stdout
    )
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
    return [float(rtt.group(1)), float(rtt.group(2))] if rtt else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between handovers")
    parser.add_argument("--tunnels", choices=["static", "dynamic"], default="static")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if reason := require_root():
        print(f"bench_handover: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-handover-"))
    dom = build_domain(
        work, prefix="bh-", mobile_nodes=1, tunnels=args.tunnels, log_level="warning"
    )
    try:
        dom.associate("mn1", "ap1")
        dom.wait_address("mn1")
        aps = ["ap2", "ap1"]
        for i in range(args.runs):
            ap = aps[i % 2]
            dom.roam("mn1", ap)
            mag = "mag2" if ap == "ap2" else "mag1"
            wait_for(
                lambda m=mag: dom.binding("mn1")["proxy_coa"] == MAGS[m],
                timeout=5,
                what=f"handover {i + 1} to {mag}",
            )
            time.sleep(args.pause)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{args.runs} handovers", file=sys.stderr)
        time.sleep(0.5)
        rows = []
        for mag in ("mag1", "mag2"):
            rows += [r for r in dom.agents[mag].call("timeline") if r["reason"] == "Reassociated"]
        complete = [r for r in rows if r["total_ms"] is not None]
        floor = ping_floor(dom, 200)
    finally:
        dom.close()
    print(
        f"\nHandover signaling at the new MAG, {len(complete)} of {args.runs} handovers timed "
        f"({args.tunnels} tunnels, emulated lab):\n"
    )
    header = f"{'phase':<24}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}"
    print(f"{header}{'paper avg':>11}{'paper/ours p50':>16}")
    results = {}
    for key, title in PHASES:
        values = [r[key] for r in complete]
        p50, p99, mean = percentile(values, 50), percentile(values, 99), statistics.fmean(values)
        results[key] = {"p50": p50, "p99": p99, "mean": mean, "paper_mean": PAPER[key]}
        ratio = PAPER[key] / p50 if p50 else float("inf")
        print(f"{title:<24}{p50:>10.3f}{p99:>10.3f}{mean:>10.3f}{PAPER[key]:>11.2f}{ratio:>15.0f}×")
    for key, title in (
        ("l2_queued_ms", "of L2→PBU, the syslog datagram waiting for the MAG"),
        ("pba_queued_ms", "of PBU→PBA, the PBA waiting for the MAG"),
    ):
        values = [r[key] for r in complete if r.get(key) is not None]
        if values:
            p50, p99 = percentile(values, 50), percentile(values, 99)
            results[key] = {"p50": p50, "p99": p99, "mean": statistics.fmean(values)}
            print(f"  {title}: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    if floor:
        print(
            f"\nbaseline, same run: ICMPv6 echo MAG1→LMA min {floor[0]:.3f} ms, "
            f"avg {floor[1]:.3f} ms; "
            f"PBU→PBA p50 is {results['pbu_to_pba_ms']['p50'] / floor[1]:.1f}× the average ping"
        )
    goal = "met" if results["total_ms"]["p50"] <= 1.0 else "NOT met"
    print(f"goal total p50 ≤ 1 ms: {goal}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "timed": len(complete),
                    "phases": results,
                    "ping_floor_ms": floor,
                    "rows": complete,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
