"""``python -m pmip6d.experiment {run,analyze,report} DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _rate(text: str) -> int:
    """``1M``, ``500k``, ``20000000`` → bits per second."""
    units = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pmip6d.experiment",
        description="the seed paper's handover experiments, measured from packet captures",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run (or resume) the experiments on the namespace testbed (root)"
    )
    run.add_argument("dir", type=Path)
    run.add_argument("--scenarios", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    run.add_argument("--runs", type=int, default=10, help="runs per scenario and kind")
    run.add_argument("--kinds", nargs="+", default=["udp", "tcp"], choices=["udp", "tcp"])
    run.add_argument("--udp-rate", type=_rate, default="1M", help="bit/s (default 1M)")
    run.add_argument("--udp-length", type=int, default=125, help="UDP payload octets")
    run.add_argument("--tcp-rate", type=_rate, default="20M", help="TCP pacing, bit/s")
    run.add_argument("--before", type=float, default=1.0, help="s of traffic before the move")
    run.add_argument("--udp-after", type=float, default=1.5, help="s observed after the move")
    run.add_argument("--tcp-after", type=float, default=3.0, help="s observed after the move")
    run.add_argument("--roam", choices=["inline", "tool"], default="inline")
    run.add_argument("--prefix", help="namespace name prefix (default: from the pid)")
    run.add_argument("--no-report", action="store_true", help="do not analyze and report")
    for name, text in (
        ("analyze", "compute results.csv and results.json from the complete runs"),
        ("report", "analyze, then write report.md and the figures"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", type=Path)
    args = parser.parse_args(argv)

    from . import report

    if args.command == "run":
        from .runner import Settings, run_namespace_experiment

        settings = Settings(
            udp_rate_bps=args.udp_rate,
            udp_length=args.udp_length,
            tcp_rate_bps=args.tcp_rate,
            before_s=args.before,
            udp_after_s=args.udp_after,
            tcp_after_s=args.tcp_after,
            roam=args.roam,
        )
        try:
            run_namespace_experiment(
                args.dir,
                scenarios=tuple(args.scenarios),
                runs=args.runs,
                kinds=tuple(args.kinds),
                settings=settings,
                prefix=args.prefix,
            )
        except RuntimeError as exc:
            print(f"pmip6d.experiment: {exc}", file=sys.stderr)
            return 2
        if args.no_report:
            return 0
    if not args.dir.is_dir():
        print(f"pmip6d.experiment: {args.dir} is not a directory", file=sys.stderr)
        return 2
    rows = report.write_results(args.dir)
    print(f"{len(rows)} runs analyzed → {args.dir / 'results.csv'}, results.json")
    if args.command in ("report", "run"):
        files = report.write_report(args.dir, rows)
        print(f"report → {files[0]}; figures: {', '.join(p.name for p in files[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
