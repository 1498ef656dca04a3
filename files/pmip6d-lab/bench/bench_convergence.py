"""Time until every mobile node is bound at the right MAG, with and without signaling loss.

    sudo .venv/bin/python files/pmip6d-lab/bench/bench_convergence.py [--mns 10000] [--loss 30]

Builds a signaling-only domain in namespaces (the real ``pmip6d lma`` and two
real ``pmip6d mag``, :mod:`pmip6d_lab.sigdomain`), then for each loss level
(0 %, the baseline, and ``--loss``; a fresh domain each) with nftables in the
LMA's namespace dropping that share of Mobility Header each way
(:mod:`pmip6d_lab.loss`):

1. ``register``: attach all MNs, half at each MAG, through the MAGs' control
   sockets, as fast as they are answered;
2. ``handover``: every MN roams to the other MAG (attach with handoff
   indicator 3 at the new, detach at the old).

Each phase's time runs from its first control call until the MAGs' status
shows every expected entry active and nothing else, confirmed by the LMA's
binding cache (every MN at the right Proxy-CoA) and both binding update lists.
The MAGs use the RFC timers unless told otherwise (1.5 s first timeout doubling
up to 32 s, then retries every 32 s while attached), so under loss the tail is
a few MNs waiting out their 32 s retries: the figure is the protocol's, not the
CPU's. Printed per phase: seconds to converge, the ratio to the baseline, PBUs
sent and retransmitted, retransmissions at the longest interval, rejects,
packets dropped, and the LMA's outcomes (new sessions, handoffs, revived and
deleted entries). A script that prints figures: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pmip6d_lab import sigdomain
from pmip6d_lab.loss import MobilityHeaderLoss
from pmip6d_lab.netlab import require_root


def converged(dom: sigdomain.SignalingDomain, home: dict[int, str]) -> bool:
    """Cheap test first (entry counts per MAG), the full comparison only when it passes."""
    for mag in dom.mags:
        want = sum(1 for at in home.values() if at == mag)
        status = dom.status(mag)
        if status["entries"] != want or status["active"] != want:
            return False
    return not dom.wrong_places(home)


def run_phase(dom, home, act, poll: float, limit: float) -> dict:
    start = time.monotonic()
    for i in home:
        act(i)
    issued = time.monotonic() - start
    while not converged(dom, home):
        if time.monotonic() - start > limit:
            return {"converged_s": None, "issued_s": issued}
        time.sleep(poll)
    return {"converged_s": time.monotonic() - start, "issued_s": issued}


LMA_COUNTERS = ("registrations", "handoffs", "revived", "deleted")


def totals(dom: sigdomain.SignalingDomain) -> dict[str, int]:
    """The MAGs' retransmission counters summed, and the LMA's outcomes (``lma.*``)."""
    out: dict[str, int] = {}
    for mag in dom.mags:
        for key, value in dom.counters(mag).items():
            if key.startswith(("pbu_", "retry_at_max.", "gave_up.", "rejected.")):
                out[key] = out.get(key, 0) + value
    lma = dom.counters("lma")
    out.update({f"lma.{key}": lma.get(key, 0) for key in LMA_COUNTERS})
    return out


def run_level(args, percent: int) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-convergence-{percent}-"))
    mag_extra = {
        "initial_bindack_timeout_first_reg_ms": args.first_timeout_ms,
        "initial_bindack_timeout_ms": args.retry_timeout_ms,
        "max_bindack_timeout_ms": args.max_timeout_ms,
    }
    dom = sigdomain.build(
        work, prefix=f"bc{os.getpid() % 10000}-", mobile_nodes=args.mns, mag_extra=mag_extra
    )
    rows = []
    try:
        loss = MobilityHeaderLoss(dom.lab.ns("lma").name, percent, percent)
        with loss:
            home = {i: "mag1" if i % 2 else "mag2" for i in range(1, args.mns + 1)}
            moved = {i: "mag2" if at == "mag1" else "mag1" for i, at in home.items()}
            phases = [
                ("register", home, lambda i: dom.attach(home[i], i)),
                ("handover", moved, lambda i: dom.roam(i, home[i], moved[i])),
            ]
            for name, target, act in phases:
                before, dropped_before = totals(dom), loss.dropped() if percent else {}
                print(f"  {percent} % loss, {name}: {args.mns} MNs …", file=sys.stderr)
                result = run_phase(dom, target, act, args.poll, args.limit)
                after, dropped = totals(dom), loss.dropped() if percent else {}
                rows.append(
                    {
                        "loss_percent": percent,
                        "phase": name,
                        "mns": args.mns,
                        **result,
                        "counters": {k: v - before.get(k, 0) for k, v in after.items()},
                        "dropped": {k: v - dropped_before.get(k, 0) for k, v in dropped.items()},
                    }
                )
                if result["converged_s"] is None:
                    break
    finally:
        dom.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--mns", type=int, default=10_000)
    parser.add_argument("--loss", type=int, default=30, help="percent lost each way (default 30)")
    parser.add_argument("--first-timeout-ms", type=int, default=1500)
    parser.add_argument("--retry-timeout-ms", type=int, default=1000)
    parser.add_argument("--max-timeout-ms", type=int, default=32_000)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between checks")
    parser.add_argument("--limit", type=float, default=1800, help="give a phase up after this")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if reason := require_root():
        print(f"bench_convergence: {reason}", file=sys.stderr)
        return 2
    rows = run_level(args, 0) + run_level(args, args.loss)
    baseline = {r["phase"]: r["converged_s"] for r in rows if r["loss_percent"] == 0}
    print(
        f"\nConvergence of {args.mns} MNs on 2 MAGs, MAG timers {args.first_timeout_ms} ms "
        f"doubling to {args.max_timeout_ms} ms, then every {args.max_timeout_ms} ms:\n"
    )
    print(
        f"{'loss':>5} {'phase':<9}{'converged s':>12}{'vs 0 %':>8}{'calls s':>9}"
        f"{'PBUs':>8}{'retrans':>9}{'at max':>8}{'rejected':>9}{'dropped in/out':>16}"
    )
    for r in rows:
        c, d = r["counters"], r["dropped"]
        conv, base = r["converged_s"], baseline.get(r["phase"])
        ratio = f"{conv / base:.0f}×" if conv and base else "-"
        at_max = sum(v for k, v in c.items() if k.startswith("retry_at_max."))
        rejected = sum(v for k, v in c.items() if k.startswith("rejected."))
        dropped = f"{d.get('input', 0)}/{d.get('output', 0)}"
        print(
            f"{r['loss_percent']:>4}% {r['phase']:<9}"
            f"{'not' if conv is None else f'{conv:.1f}':>12}{ratio:>8}{r['issued_s']:>9.1f}"
            f"{c.get('pbu_sent', 0):>8}{c.get('pbu_retransmitted', 0):>9}{at_max:>8}"
            f"{rejected:>9}{dropped:>16}"
        )
    print("\nAt the LMA (new sessions in a handover phase: the MN got a new prefix):")
    for r in rows:
        c = r["counters"]
        print(
            f"{r['loss_percent']:>4}% {r['phase']:<9}  new sessions {c.get('lma.registrations', 0)}"
            f", handoffs {c.get('lma.handoffs', 0)}, revived {c.get('lma.revived', 0)}"
            f", entries deleted {c.get('lma.deleted', 0)}"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
