"""The command line: arguments, run metadata, ``main`` (a worker or the orchestrator)."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pmip6d

from .crash import variants
from .esp import esp_variants, keys_file
from .generator import generator_main
from .measure import run_size
from .null_responder import null_main
from .processes import Bench, Interrupted, log
from .profiling import Profiler, print_profile
from .protocol import DEFAULT_PHASES
from .report import print_durability, print_esp, print_notes, print_table


def git_head(where: Path | None = None) -> str | None:
    """The commit the source tree (this one, or ``where``) is at (read-only; no index refresh)."""
    here = where.resolve() if where else Path(__file__).resolve().parent
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
        # --lma-pythonpath: the LMA under test runs from another tree, maybe another commit.
        "lma_git_head": git_head(args.lma_pythonpath) if args.lma_pythonpath else git_head(),
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
        "--storm",
        action="store_true",
        help="last, a handover storm: the first 10%% of the MNs move to the next MAG with "
        "every PBU outstanding at once (the LMA gets a socket_buffer to hold them)",
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
    p.add_argument(
        "--durable",
        choices=["none", "off", "on", "both"],
        default="none",
        help="the LMA's state file: none (default), off (durable_state false: saved at a "
        "clean stop only), on (every change fsync'd before its PBA), both (off then on in "
        "the same run; the table compares them)",
    )
    p.add_argument(
        "--crash",
        action="store_true",
        help="after the phases of the durable LMA, kill -9 it and time its restart until it "
        "serves every binding (and, with --dataplane, every route) again",
    )
    p.add_argument(
        "--dataplane",
        choices=["auto", "ebpf", "seg6", "ip6tnl"],
        help="give the LMA a data plane of this backend (real routes, one per binding; auto: "
        "what the agent picks on this kernel, reported per size); default: signaling only",
    )
    p.add_argument(
        "--esp",
        choices=["none", "on", "both"],
        default="none",
        help="the agent's own ESP on the signaling (signaling_security, implementation agent): "
        "none (default), on, both (off then on in the same run; the report compares them)",
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
    if args.crash and args.durable not in ("on", "both"):
        p.error("--crash needs --durable on or both")
    if any(n < 1 or n > 99_999_999 for n in args.mns):
        p.error("--mns must be 1..99999999")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        if argv[1] == "gen":
            return generator_main(int(argv[2]), int(argv[3]), *argv[4:5])
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
            runs = esp_variants(
                variants(bench, size, args.durable), args.esp, args.mags, keys_file(tmp)
            )
            for k, (kind, extra) in enumerate(runs):
                results.append({"size": size, "rows": []})
                run_size(
                    bench,
                    size,
                    profiler,
                    results[-1],
                    kind,
                    extra,
                    baseline=k == 0,
                    crash=args.crash and kind == "lma-on",
                )
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
        print_durability(results)
        print_esp(results)
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
