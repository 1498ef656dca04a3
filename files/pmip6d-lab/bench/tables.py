"""The README's benchmark tables, generated from the committed outputs in docs/benchmarks/.

    .venv/bin/python files/pmip6d-lab/bench/tables.py          # check that README agrees
    .venv/bin/python files/pmip6d-lab/bench/tables.py --write  # rewrite the tables

A generated table sits in README.md between two markers::

    <!-- bench lma-signaling.json phases -->
    ...
    <!-- /bench -->

naming the JSON file (under docs/benchmarks/, as a benchmark script's ``--json``
wrote it) and how to render it (:data:`RENDERERS`); ``versus`` takes a second
file, the run it is compared with. Everything between the
markers is generated: the table and a line saying where, when and on which
commit it was measured. ``tests/unit/test_benchmark_tables.py`` (pmip6d-lab)
fails when a README table and its JSON disagree, so a figure in the README
always has its run behind it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks"

_BLOCK = re.compile(
    r"(?P<open><!-- bench (?P<file>[\w.-]+\.json) (?P<render>[\w-]+)"
    r"(?: (?P<other>[\w.-]+\.json))? -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /bench -->)",
    re.S,
)


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _provenance(meta: dict[str, Any]) -> str:
    args = meta.get("args") or {}
    extra = []
    if args.get("window"):
        extra.append(f"{args['window']} PBUs outstanding")
    if args.get("mags"):
        extra.append(f"{args['mags']} emulated MAGs")
    lma = meta.get("lma_git_head")
    if lma and lma != meta.get("git_head"):
        extra.append(f"the LMA under test from commit `{lma[:7]}`")
    return (
        f"Measured {meta.get('date', '?')} on {meta.get('cpu') or '?'} ×{meta.get('cpus', '?')}, "
        f"kernel {meta.get('kernel', '?')}, Python {meta.get('python', '?')}, commit "
        f"`{(meta.get('git_head') or '?')[:7]}`" + (f"; {', '.join(extra)}" if extra else "") + "."
    )


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for s in doc["results"] for r in s["rows"]]


def _backend(doc: dict[str, Any], size: int, kind: str) -> str:
    for s in doc["results"]:
        for r in s["rows"]:
            if r["size"] == size and r["kind"] == kind:
                dp = (s.get("lma_status") or {}).get("dataplane") or {}
                return dp.get("backend") or "none"
    return "none"


def render_phases(doc: dict[str, Any]) -> str:
    """bench_lma.py: the LMA per size and phase beside the null responder of the same run."""
    rows = _rows(doc)
    null = {(r["size"], r["phase"]): r for r in rows if r["kind"] == "null"}
    with_dataplane = bool((doc["meta"].get("args") or {}).get("dataplane"))
    head = "| MNs | phase | PBA/s | p50 ms | p99 ms | CPU µs/PBU | null PBA/s | vs null |"
    head += " routes |" if with_dataplane else ""
    head += " LMA RSS |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if r["kind"] == "null":
            continue
        base = null.get((r["size"], r["phase"]))
        cpu = r.get("target_cpu_percent")
        per_pbu = f"{cpu / 100 / r['rate'] * 1e6:.1f}" if cpu and r["rate"] else "–"
        cells = [
            f"{r['size']:,}",
            r["phase"],
            _n(r["rate"]),
            _ms(r["latency_ms"]["p50"]),
            _ms(r["latency_ms"]["p99"]),
            per_pbu,
            _n(base["rate"]) if base else "–",
            f"{r['rate'] / base['rate']:.2f}" if base and base["rate"] else "–",
        ]
        if with_dataplane:
            cells.append(_backend(doc, r["size"], r["kind"]))
        cells.append(f"{r['rss_mb']:,.0f} MB" if r.get("rss_mb") else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _provenance(doc["meta"]) + "\n"


def render_on_off(doc: dict[str, Any]) -> str:
    """bench_lma.py --esp both / --durable both: the same LMA without and with, per phase."""
    rows = _rows(doc)
    rate = {(r["size"], r["kind"], r["phase"]): r for r in rows}
    lines = [
        "| MNs | phase | off PBA/s | on PBA/s | on/off | on p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for (size, kind, phase), on in rate.items():
        off_kind = "lma-off" if kind == "lma-on" else kind.removesuffix("-esp")
        if off_kind == kind or (size, off_kind, phase) not in rate:
            continue
        off = rate[size, off_kind, phase]
        lines.append(
            f"| {size:,} | {phase} | {_n(off['rate'])} | {_n(on['rate'])} | "
            f"{on['rate'] / off['rate']:.2f} | {_ms(on['latency_ms']['p99'])} |"
        )
    return "\n".join(lines) + "\n\n" + _provenance(doc["meta"]) + "\n"


def render_core(doc: dict[str, Any]) -> str:
    """bench_lma_core.py: µs of CPU per PBU in the sans-IO core."""
    lines = [
        "| MNs | phase | decode µs | decide µs | answer µs | core µs/PBU |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['mns']:,} | {r['phase']} | {r['decode_us']:.2f} | "
            f"{r['receive_us'] - r['decode_us']:.2f} | {r['pba_us']:.2f} | {r['total_us']:.2f} |"
        )
    return "\n".join(lines) + "\n\n" + _provenance(doc["meta"]) + "\n"


def render_versus(doc: dict[str, Any], before: dict[str, Any]) -> str:
    """Two bench_lma.py runs of the same options: an LMA of another commit (``before``,
    run with ``--lma-pythonpath``) and this one, the generator the same."""

    def per(d: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
        return {(r["size"], r["phase"]): r for r in _rows(d) if r["kind"] == "lma"}

    def cpu(r: dict[str, Any]) -> str:
        c = r.get("target_cpu_percent")
        return f"{c / 100 / r['rate'] * 1e6:.1f}" if c and r["rate"] else "–"

    def lma_commit(d: dict[str, Any]) -> str:
        return (d["meta"].get("lma_git_head") or "?")[:7]

    old, new = per(before), per(doc)
    lines = [
        f"| MNs | phase | LMA of `{lma_commit(before)}`, PBA/s | LMA of `{lma_commit(doc)}`, "
        "PBA/s | ratio | CPU µs/PBU, before → after |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in new.items():
        b = old.get(key)
        if b is None or key[1] == "probe":
            continue
        lines.append(
            f"| {key[0]:,} | {key[1]} | {_n(b['rate'])} | {_n(r['rate'])} | "
            f"{r['rate'] / b['rate']:.2f} | {cpu(b)} → {cpu(r)} |"
        )
    return (
        "\n".join(lines)
        + "\n\nBefore: "
        + _provenance(before["meta"])
        + "\nAfter: "
        + _provenance(doc["meta"])
        + "\n"
    )


RENDERERS: dict[str, Callable[..., str]] = {
    "phases": render_phases,
    "on-off": render_on_off,
    "core": render_core,
    "versus": render_versus,
}


def render_readme(text: str, benchmarks: Path = BENCHMARKS) -> tuple[str, list[str]]:
    """``text`` with every generated table rebuilt, and the problems found (missing files...)."""
    problems: list[str] = []

    def one(m: re.Match[str]) -> str:
        render = RENDERERS.get(m["render"])
        if render is None:
            problems.append(f"README.md: unknown renderer {m['render']!r} for {m['file']}")
            return m[0]
        docs = []
        for name in filter(None, (m["file"], m["other"])):
            try:
                docs.append(json.loads((benchmarks / name).read_text()))
            except (OSError, ValueError) as exc:
                problems.append(f"{benchmarks / name}: {exc}")
                return m[0]
        return m["open"] + render(*docs) + m["close"]

    return _BLOCK.sub(one, text), problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="README benchmark tables from docs/benchmarks/")
    p.add_argument("--write", action="store_true", help="rewrite README.md's tables")
    args = p.parse_args(argv)
    text = README.read_text()
    new, problems = render_readme(text)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if new == text:
        print(f"README.md: {len(_BLOCK.findall(text))} generated tables agree with their JSON")
        return 0
    if args.write:
        README.write_text(new)
        print("README.md: tables rewritten")
        return 0
    print("README.md: generated tables differ from docs/benchmarks/ (run with --write)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
