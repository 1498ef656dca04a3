"""Profiling the LMA under test: py-spy attached per phase, or cProfile for the whole run."""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .processes import Bench
from .protocol import VENV_BIN

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
