"""``python -m pmip6d_lab.experiment COMMAND …`` (``--help`` for each).

The namespace testbed, all at once: ``run DIR``. The results: ``analyze DIR``,
``report DIR``, ``summary DIR``. A lab described by an inventory (what
``playbooks/experiment.yml`` calls, one step at a time): ``facts``,
``mobile-nodes``, ``plan``, ``prepare``, ``run-one``, ``cleanup``.

Exit codes: 0 done (or nothing to do), 1 a run failed (left incomplete: calling
again redoes it), 2 the lab or the arguments are wrong (nothing was measured).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _rate(text: str) -> int:
    """``1M``, ``500k``, ``20000000`` → bits per second."""
    units = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _traffic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--udp-rate", type=_rate, default="1M", help="bit/s (default 1M)")
    p.add_argument("--udp-length", type=int, default=125, help="UDP payload octets")
    p.add_argument("--tcp-rate", type=_rate, default="20M", help="TCP pacing, bit/s")
    p.add_argument("--before", type=float, default=1.0, help="s of traffic before the move")
    p.add_argument("--udp-after", type=float, default=1.5, help="s observed after the move")
    p.add_argument("--tcp-after", type=float, default=3.0, help="s observed after the move")
    p.add_argument(
        "--long-runs",
        type=int,
        default=0,
        help="scenario 1 to the end: this many more scenario-1 runs, observed --long-after s",
    )
    p.add_argument("--long-after", type=float, default=160.0, help="a long run's observation, s")


def _lab_args(p: argparse.ArgumentParser, dir_arg: bool = True) -> None:
    if dir_arg:
        p.add_argument("dir", type=Path)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--facts", type=Path, help="the lab's facts (written by `facts --out`)")
    where.add_argument("--inventory", help="the Ansible inventory (read with ansible-inventory)")


def _settings(args: argparse.Namespace, roam: str = "inline"):
    from .settings import Settings

    return Settings(
        udp_rate_bps=args.udp_rate,
        udp_length=args.udp_length,
        tcp_rate_bps=args.tcp_rate,
        before_s=args.before,
        udp_after_s=args.udp_after,
        tcp_after_s=args.tcp_after,
        roam=roam,
        long_runs=args.long_runs,
        long_after_s=args.long_after,
    )


def _facts(args: argparse.Namespace) -> dict[str, Any]:
    from . import podmanlab

    if getattr(args, "facts", None):
        return json.loads(Path(args.facts).read_text())
    inv = podmanlab.read_inventory(args.inventory)
    return podmanlab.lab_facts(
        inv, args.inventory, getattr(args, "from_ap", None), getattr(args, "to_ap", None)
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pmip6d_lab.experiment",
        description="the seed paper's handover experiments, measured from packet captures",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run (or resume) the experiments on the namespace testbed (root)"
    )
    run.add_argument("dir", type=Path)
    run.add_argument("--scenarios", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    run.add_argument("--runs", type=int, default=10, help="runs per scenario and kind")
    run.add_argument("--kinds", nargs="+", default=["udp", "tcp"], choices=["udp", "tcp", "both"])
    _traffic_args(run)
    run.add_argument("--roam", choices=["inline", "tool"], default="inline")
    run.add_argument("--prefix", help="namespace name prefix (default: from the pid)")
    run.add_argument("--no-report", action="store_true", help="do not analyze and report")
    for name, text in (
        ("analyze", "compute results.csv and results.json from the complete runs"),
        ("report", "analyze, then write report.md and the figures"),
        ("summary", "print Table II and the per-scenario findings of results.json"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", type=Path)

    facts = sub.add_parser("facts", help="an inventory's lab as the runs see it (JSON)")
    facts.add_argument("--inventory", required=True)
    facts.add_argument("--from-ap", help="the AP the MNs start at (default: the inventory's)")
    facts.add_argument("--to-ap", help="the AP they roam to")
    facts.add_argument("--out", type=Path, help="write it there (else print it)")

    mns = sub.add_parser(
        "mobile-nodes", help="the MNs an experiment uses, as pmipv6_mobile_nodes entries (JSON)"
    )
    mns.add_argument("--scenarios", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    mns.add_argument("--runs", type=int, default=10)
    mns.add_argument("--long-runs", type=int, default=0, help="more scenario-1 MNs (long runs)")
    mns.add_argument("--prefix", default="x", help="MN name prefix (pmipv6_experiment_mn_prefix)")
    mns.add_argument(
        "--hnp-base",
        default="2001:db8:e0::/44",
        help="fixed HNPs from there (/44 or shorter; 'pool': from the LMA's pool)",
    )

    plan = sub.add_parser(
        "plan", help="the runs still to do per scenario (JSON); writes settings.json"
    )
    plan.add_argument("dir", type=Path)
    plan.add_argument("--scenarios", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    plan.add_argument("--runs", type=int, default=10)
    plan.add_argument("--kind", default="both", choices=["udp", "tcp", "both"])
    plan.add_argument("--lab", default="podman", help="recorded in settings.json")
    _traffic_args(plan)

    for name, text in (
        ("prepare", "check the lab runs the scenario; make and associate its pending MNs"),
        ("run-one", "one run on the lab (skipped when done); prints one JSON line"),
    ):
        p = sub.add_parser(name, help=text)
        _lab_args(p)
        p.add_argument("--scenario", type=int, required=True, choices=[1, 2, 3])
        p.add_argument("--runs", type=int, default=10, help="runs per scenario (not the long)")
        if name == "run-one":
            p.add_argument("--run", type=int, required=True)
        p.add_argument("--kind", default="both", choices=["udp", "tcp", "both"])
        p.add_argument("--linger", type=float, help="the agents' tunnel linger (recorded)")
        _traffic_args(p)

    cleanup = sub.add_parser("cleanup", help="remove experiment MNs left by interrupted runs")
    _lab_args(cleanup, dir_arg=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except Exception as exc:
        from .podmanlab import InventoryError
        from .settings import LabMismatch

        if isinstance(exc, (InventoryError, LabMismatch, FileNotFoundError, ValueError)):
            print(f"pmip6d_lab.experiment: {exc}", file=sys.stderr)
            return 2
        raise


def _main(args: argparse.Namespace) -> int:
    from . import layout, report

    if args.command == "run":
        from .namespace_run import run_namespace_experiment

        try:
            run_namespace_experiment(
                args.dir,
                scenarios=tuple(args.scenarios),
                runs=args.runs,
                kinds=tuple(args.kinds),
                settings=_settings(args, args.roam),
                prefix=args.prefix,
            )
        except RuntimeError as exc:
            print(f"pmip6d_lab.experiment: {exc}", file=sys.stderr)
            return 2
        if args.no_report:
            return 0
    elif args.command == "facts":
        data = json.dumps(_facts(args), indent=1) + "\n"
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(data)
        else:
            sys.stdout.write(data)
        return 0
    elif args.command == "mobile-nodes":
        from .podmanlab import mobile_nodes

        base = None if args.hnp_base == "pool" else args.hnp_base
        nodes = mobile_nodes(args.scenarios, args.runs, args.prefix, base, args.long_runs)
        print(json.dumps(nodes))
        return 0
    elif args.command == "plan":
        from .settings import write_settings

        args.dir.mkdir(parents=True, exist_ok=True)
        s = _settings(args)
        write_settings(args.dir, args.runs, args.scenarios, [args.kind], s, lab=args.lab)
        pending = {
            str(sc): [
                r
                for r in range(1, s.runs_of(sc, args.runs) + 1)
                if not layout.is_done(layout.run_dir(args.dir, sc, r, args.kind))
            ]
            for sc in args.scenarios
        }
        print(json.dumps({"pending": pending, "total": sum(map(len, pending.values()))}))
        return 0
    elif args.command == "prepare":
        from .lab_run import prepare_lab_scenario

        s = _settings(args)
        result = prepare_lab_scenario(
            args.dir,
            _facts(args),
            args.scenario,
            s.runs_of(args.scenario, args.runs),
            args.kind,
            s,
            args.linger,
        )
        print(json.dumps(result))
        return 0
    elif args.command == "run-one":
        from .lab_run import run_lab_one

        try:
            result = run_lab_one(
                args.dir,
                _facts(args),
                args.scenario,
                args.run,
                args.kind,
                _settings(args).for_run(args.scenario, args.run, args.runs),
                args.linger,
            )
        except (RuntimeError, TimeoutError, OSError) as exc:
            from .settings import LabMismatch

            if isinstance(exc, LabMismatch):
                raise
            rdir = layout.run_dir(args.dir, args.scenario, args.run, args.kind)
            print(
                f"pmip6d_lab.experiment: s{args.scenario}/{rdir.name} failed ({exc}); "
                "left incomplete, a later call redoes it",
                file=sys.stderr,
            )
            return 1
        print(json.dumps(result))
        return 0
    elif args.command == "cleanup":
        from . import podmanlab

        facts = _facts(args)
        stale = podmanlab.stale_stations(facts["air_netns"], facts.get("mn_prefix", "x"))
        for netns in stale:
            podmanlab.remove_stale(facts["air_netns"], netns)
        print(json.dumps({"removed": stale}))
        return 0
    if not args.dir.is_dir():
        print(f"pmip6d_lab.experiment: {args.dir} is not a directory", file=sys.stderr)
        return 2
    if args.command == "summary":
        print("\n".join(report.summary_text(args.dir)))
        return 0
    rows = report.write_results(args.dir)
    print(f"{len(rows)} runs analyzed → {args.dir / 'results.csv'}, results.json")
    if args.command in ("report", "run"):
        files = report.write_report(args.dir, rows)
        print(f"report → {files[0]}; figures: {', '.join(p.name for p in files[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
