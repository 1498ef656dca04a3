"""results.csv / results.json, report.md and the figures, from the run directories.

* :func:`write_results` — one row per complete run with every metric of
  :mod:`.analysis` (``results.json`` also keeps ``not_measured`` and ``remarks``
  as objects; ``results.csv`` as ``metric: text; …``).
* :func:`write_report` — ``report.md``: our Table II (scenario 2, one row per
  run, then average, p50, p99) beside the paper's, the UDP handover latency and
  TCP stall per scenario, what could not be measured; and the figures after the
  paper's Figs. 5–10 (PNG, matplotlib).

Percentiles are nearest-rank: the p-th percentile of n sorted values is the
value of rank ⌈p/100 · n⌉ (so p99 of ten runs is the largest).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import analysis, layout, plots
from .analysis import PHASE_TITLES, PHASES
from .paper import PAPER_TABLE_II, PAPER_TABLE_II_AVERAGE, PAPER_TCP, PAPER_UDP

TABLE_II_HEADING = "### Table II (ours): PMIPv6 phases at the new MAG, scenario 2"


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (see the module docstring); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _num(value: float | None, digits: int = 3) -> str:
    return "n/m" if value is None else f"{value:.{digits}f}"


def _values(rows: Iterable[dict], key: str) -> list[float]:
    return [r[key] for r in rows if isinstance(r.get(key), (int, float))]


# --------------------------------------------------------------------------- results


def write_results(out: Path | str, rows: list[dict] | None = None) -> list[dict[str, Any]]:
    """Analyze every complete run under ``out``; write results.json and results.csv."""
    out = Path(out)
    if rows is None:
        rows = analysis.analyze_tree(out)
    settings = None
    if (out / "settings.json").exists():
        try:
            settings = json.loads((out / "settings.json").read_text())
        except ValueError:
            settings = None
    incomplete = [
        ref.run_id for ref in layout.find_runs(out, include_incomplete=True) if not ref.done
    ]
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings,
        "incomplete_runs": incomplete,
        "columns": list(analysis.COLUMNS),
        "runs": rows,
    }
    (out / layout.RESULTS_JSON).write_text(json.dumps(doc, indent=1) + "\n")
    with open(out / layout.RESULTS_CSV, "w", newline="") as f:
        # "\n": the raw data lives in git beside the report (ansible-test wants LF).
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*analysis.COLUMNS, "not_measured", "remarks"])
        for row in rows:
            writer.writerow(
                [_csv(row.get(c)) for c in analysis.COLUMNS]
                + [
                    "; ".join(f"{k}: {v}" for k, v in (row.get(key) or {}).items())
                    for key in ("not_measured", "remarks")
                ]
            )
    return rows


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_results(out: Path | str) -> list[dict[str, Any]]:
    return json.loads((Path(out) / layout.RESULTS_JSON).read_text())["runs"]


# --------------------------------------------------------------------------- Table II


def table_ii_rows(rows: list[dict]) -> list[dict]:
    """Scenario 2's runs, in run order (udp before tcp): the rows of our Table II."""
    return [r for r in rows if r.get("scenario") == 2]


def table_ii_summary(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """Average, p50, p99 of each phase over the runs where it was measured."""
    out: dict[str, dict[str, float | None]] = {}
    for key in PHASES:
        values = _values(rows, key)
        out[key] = {
            "average": mean(values),
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "n": len(values),
        }
    return out


def _table_ii_md(rows: list[dict]) -> list[str]:
    t2 = table_ii_rows(rows)
    lines = [TABLE_II_HEADING, ""]
    if not t2:
        return [*lines, "No complete run of scenario 2.", ""]
    header = "| Run | Kind | MN | " + " | ".join(f"{PHASE_TITLES[k]} (ms)" for k in PHASES) + " |"
    lines += [header, "|" + "---|" * (3 + len(PHASES))]
    for r in t2:
        cells = [f"{r['run']:02d}", r["kind"], str(r.get("mn_name") or "")]
        cells += [_num(r.get(k)) for k in PHASES]
        lines.append("| " + " | ".join(cells) + " |")
    summary = table_ii_summary(t2)
    for stat, label in (("average", "**Average**"), ("p50", "**p50**"), ("p99", "**p99**")):
        cells = [label, "", ""] + [_num(summary[k][stat]) for k in PHASES]
        lines.append("| " + " | ".join(cells) + " |")
    paper = ["*paper average*", "", ""] + [f"{PAPER_TABLE_II_AVERAGE[k]:.2f}" for k in PHASES]
    lines.append("| " + " | ".join(paper) + " |")
    lines.append("")
    missing = {k: len(t2) - summary[k]["n"] for k in PHASES if summary[k]["n"] < len(t2)}
    if missing:
        lines.append(
            "n/m: not measured (see *Not measured* below); statistics use the measured runs: "
            + ", ".join(f"{PHASE_TITLES[k]} misses {n}" for k, n in missing.items())
            + "."
        )
        lines.append("")
    return lines


def _paper_table_ii_md() -> list[str]:
    n = len(PAPER_TABLE_II["total_ms"])
    lines = [
        "### Table II (paper): handover latency of PMIPv6 phases, scenario 2",
        "",
        "| Phases (ms) | " + " | ".join(f"No. {i}" for i in range(1, n + 1)) + " | Average |",
        "|---|" + "---|" * (n + 1),
    ]
    for key in PHASES:
        cells = [f"{v:g}" for v in PAPER_TABLE_II[key]] + [f"{PAPER_TABLE_II_AVERAGE[key]:g}"]
        lines.append(f"| {PHASE_TITLES[key]} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _comparison_md(rows: list[dict]) -> list[str]:
    t2 = table_ii_rows(rows)
    summary = table_ii_summary(t2)
    lines = [
        "### Side by side",
        "",
        "| Phase | ours average (ms) | ours p50 | ours p99 | paper average (ms) "
        "| paper min–max | paper ÷ ours (average) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in PHASES:
        ours = summary[key]
        paper = PAPER_TABLE_II[key]
        ratio = f"{PAPER_TABLE_II_AVERAGE[key] / ours['average']:.1f}×" if ours["average"] else "—"
        lines.append(
            f"| {PHASE_TITLES[key]} | {_num(ours['average'])} | {_num(ours['p50'])} "
            f"| {_num(ours['p99'])} | {PAPER_TABLE_II_AVERAGE[key]:.2f} "
            f"| {min(paper):g}–{max(paper):g} | {ratio} |"
        )
    return [*lines, ""]


def parse_table_ii(report_md: str) -> dict[str, Any]:
    """Read our Table II back from report.md: ``{"runs": {(run, kind): {phase: value}},
    "average"|"p50"|"p99": {phase: value}}`` (None for n/m). For the consistency test."""
    lines = report_md.splitlines()
    start = lines.index(TABLE_II_HEADING)
    out: dict[str, Any] = {"runs": {}}
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| Run "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        values = [None if c == "n/m" else float(c) for c in cells[3 : 3 + len(PHASES)]]
        phases = dict(zip(PHASES, values, strict=True))
        label = cells[0].strip("*")
        if label in ("Average", "p50", "p99"):
            out[label.lower()] = phases
        elif label.isdigit():
            out["runs"][(int(label), cells[1])] = phases
    return out


# --------------------------------------------------------------------------- per scenario


def _scenarios(rows: list[dict]) -> list[int]:
    return sorted({r["scenario"] for r in rows if r.get("scenario") is not None})


UDP_DIRECTIONS = (("CN → MN", "udp_"), ("MN → CN", "udp_up_"))
"""The two UDP streams of a run: title, the prefix of their metrics (analysis.UDP_UP)."""


def _udp_directions(rows: list[dict]) -> list[tuple[str, str]]:
    """(title, prefix) of the directions measured in any of the rows (MN → CN only in runs
    made since the stream exists)."""
    return [
        (title, prefix)
        for title, prefix in UDP_DIRECTIONS
        if any(r.get(prefix + "recovered") is not None for r in rows)
    ]


def _udp_md(rows: list[dict]) -> list[str]:
    lines = [
        "## UDP handover latency per scenario",
        "",
        "Largest inter-arrival gap at the receiver during the handover (from the move until the "
        "new MAG's RA) minus the nominal interval (see *Definitions*), for the stream CN → MN and "
        "the stream MN → CN that run at once through the same handover. The datagrams leave every "
        "millisecond, so the gap comes in steps of about 1 ms: one step per datagram lost. "
        "*noise floor*: the largest gap in the second before the move, where nothing happens — "
        "a window a few hundred times longer than the handover, which catches the occasional "
        "pause of the sender on this shared 2-core machine.",
        "",
        "| Scenario | direction | runs | mean (ms) | median (ms) | min (ms) | max (ms) "
        "| did not resume | lost datagrams (mean) | noise floor, median (ms) | paper |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    directions = _udp_directions(rows)
    for sc in _scenarios(rows):
        udp = [r for r in rows if r["scenario"] == sc and layout.has_udp(r["kind"])]
        for title, p in directions:
            runs = [r for r in udp if r.get(p + "recovered") is not None]
            if not runs:
                continue
            ok = [r for r in runs if r.get(p + "recovered") is True]
            lat = _values(ok, p + "latency_ms")
            lost = _values(runs, p + "lost")
            unresumed = [r for r in runs if r.get(p + "recovered") is False]
            bound = (
                f"{len(unresumed)} (> {min(_values(unresumed, p + 'latency_ms')):.0f} ms)"
                if unresumed
                else "0"
            )
            lines.append(
                f"| {sc} | {title} | {len(runs)} | {_num(mean(lat), 2)} "
                f"| {_num(median(lat), 2)} | {_num(min(lat) if lat else None, 2)} "
                f"| {_num(max(lat) if lat else None, 2)} | {bound} | {_num(mean(lost), 1)} "
                f"| {_num(median(_values(runs, p + 'baseline_gap_ms')), 2)} "
                f"| {PAPER_UDP.get(sc, '')} |"
            )
    if len(directions) > 1:
        lines += ["", *_udp_directions_note(rows)]
    return [*lines, ""]


def _udp_directions_note(rows: list[dict]) -> list[str]:
    """The sentence on what the two directions show, from the rows."""
    stuck = sorted(
        {r["scenario"] for r in rows if r.get("udp_up_recovered") is False and r.get("scenario")}
    )
    if not stuck:
        return [
            "MN → CN resumed in every run: the MN's default router stayed usable across "
            "the move in every scenario measured."
        ]
    return [
        "MN → CN did not resume within the observation in scenario "
        + ", ".join(map(str, stuck))
        + ": the MN goes on sending to its old default router (the old MAG's link-local "
        "address and MAC, gone from its new link) until neighbour unreachability detection "
        "gives up on it — the direction the paper's > 40 ms (Fig. 7) depends on. CN → MN "
        "does not use the MN's default router at all, which is why it recovers as fast in "
        "scenario 1 as in 2 here."
    ]


def _tcp_md(rows: list[dict]) -> list[str]:
    window = sorted(_values([r for r in rows if layout.has_tcp(r.get("kind"))], "tcp_window_s"))
    lines = [
        "## TCP stall per scenario",
        "",
        "Longest time without in-order progress at the MN from the last progress before the "
        "move (see *Definitions*). The observation after the move is capped "
        + (f"at about {window[0]:.1f} s" if window else "")
        + ": a transfer that has not resumed by then is reported as *> the time observed* "
        "(a lower bound), not waited for — the paper saw > 100 s in scenario 1.",
        "",
        "| Scenario | runs | resumed | stall when resumed: mean (ms) | median (ms) | max (ms) "
        "| not resumed (lower bound) | retransmissions at the CN (mean) | paper |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sc in _scenarios(rows):
        tcp = [r for r in rows if r["scenario"] == sc and layout.has_tcp(r["kind"])]
        if not tcp:
            continue
        ok = [r for r in tcp if r.get("tcp_recovered") is True]
        stuck = [r for r in tcp if r.get("tcp_recovered") is False]
        stall = _values(ok, "tcp_stall_ms")
        bounds = _values(stuck, "tcp_stall_ms")
        stuck_text = f"{len(stuck)}: > {min(bounds) / 1000:.1f} s" if bounds else "0"
        lines.append(
            f"| {sc} | {len(tcp)} | {len(ok)} | {_num(mean(stall), 1)} "
            f"| {_num(median(stall), 1)} | {_num(max(stall) if stall else None, 1)} "
            f"| {stuck_text} | {_num(mean(_values(tcp, 'tcp_retrans_cn')), 1)} "
            f"| {PAPER_TCP.get(sc, '')} |"
        )
    return [*lines, ""]


def _signaling_md(rows: list[dict]) -> list[str]:
    keys = ["move_to_l2_ms", *PHASES, "lma_pbu_to_pba_ms"]
    titles = {
        "move_to_l2_ms": "radio move → L2 report at MAG",
        **PHASE_TITLES,
        "lma_pbu_to_pba_ms": "PBU in → PBA out at the LMA",
    }
    lines = [
        "## Signaling per scenario (all runs, UDP and TCP)",
        "",
        "Median (p99) in ms, at the new MAG; the LMA's row from its own core interface.",
        "",
        "| | " + " | ".join(f"scenario {sc}" for sc in _scenarios(rows)) + " |",
        "|---|" + "---|" * len(_scenarios(rows)),
    ]
    for key in keys:
        cells = []
        for sc in _scenarios(rows):
            v = _values([r for r in rows if r["scenario"] == sc], key)
            cells.append(f"{_num(median(v))} ({_num(percentile(v, 99))})" if v else "n/m")
        lines.append(f"| {titles[key]} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _status(row: dict) -> str:
    from pmip6d.wire import status_name

    code = row.get("pba_status")
    return "—" if code is None else ("0" if code == 0 else f"{code} {status_name(code)}")


def _outcomes_md(rows: list[dict]) -> list[str]:
    lines = [
        "## Handover outcomes",
        "",
        "Did the new MAG's PBU get an accepting PBA (captured on its core interface)? And "
        "where did the MN send its traffic after the move: to the old MAG's MAC (its old "
        "default router, gone from its link) or the new one's? With one MAC on every MAG "
        "(scenarios 2, 3) the two cannot be told apart and every frame counts as *new*.",
        "",
        "| Scenario | runs | PBA accepted | PBA rejected | no PBA seen "
        "| the MN's TCP and UDP frames to old / new MAC after the move (runs with TCP, mean) |",
        "|---|---|---|---|---|---|",
    ]
    failures = []
    for sc in _scenarios(rows):
        runs = [r for r in rows if r["scenario"] == sc]
        ok = [r for r in runs if r.get("pba_status") == 0]
        rejected = [r for r in runs if r.get("pba_status") not in (None, 0)]
        missing = [r for r in runs if r.get("pba_status") is None]
        failures += rejected
        tcp = [r for r in runs if layout.has_tcp(r["kind"])]
        old = _values(tcp, "uplink_to_old_mac")
        new = _values(tcp, "uplink_to_new_mac")
        uplink = (
            f"{_num(mean(old), 0) if old else 'shared MAC'} / {_num(mean(new), 0)}" if tcp else ""
        )
        lines.append(
            f"| {sc} | {len(runs)} | {len(ok)} | {len(rejected)} | {len(missing)} | {uplink} |"
        )
    lines.append("")
    if failures:
        lines.append(
            "Rejected handovers (the MN got no service at the new MAG for the rest of the run):"
        )
        lines.append("")
        for r in failures:
            lines.append(f"* {r['run_id']}: PBA status {_status(r)}")
        lines.append("")
    return lines


def _summary_md(rows: list[dict]) -> list[str]:
    """The findings in a few lines, every number taken from the tables below."""
    lines = ["## Summary", ""]
    long = [r for r in rows if r.get("long_observation")]
    rows = [r for r in rows if not r.get("long_observation")]
    t2 = table_ii_summary(table_ii_rows(rows))["total_ms"]
    if t2["n"]:
        lines.append(
            f"* **PMIPv6 signaling** (Table II, scenario 2, {t2['n']} handovers): "
            f"L2 → RA average {t2['average']:.2f} ms, p50 {t2['p50']:.2f}, p99 {t2['p99']:.2f} "
            f"ms; the paper's average is {PAPER_TABLE_II_AVERAGE['total_ms']} ms."
        )
    for sc in _scenarios(rows):
        udp = [r for r in rows if r["scenario"] == sc and layout.has_udp(r["kind"])]
        tcp = [r for r in rows if r["scenario"] == sc and layout.has_tcp(r["kind"])]
        parts = []
        lat = _values([r for r in udp if r.get("udp_recovered")], "udp_latency_ms")
        if lat:
            noise = median(_values(udp, "udp_baseline_gap_ms"))
            parts.append(
                f"UDP handover latency median {median(lat):.2f} ms (max {max(lat):.2f}; "
                f"noise floor {_num(noise, 2)} ms)"
            )
        stuck_udp = [r for r in udp if r.get("udp_recovered") is False]
        if stuck_udp:
            parts.append(f"{len(stuck_udp)} UDP run(s) never resumed")
        up = [r for r in udp if r.get("udp_up_recovered") is not None]
        up_lat = _values([r for r in up if r.get("udp_up_recovered")], "udp_up_latency_ms")
        up_stuck = [r for r in up if r.get("udp_up_recovered") is False]
        if up_lat:
            parts.append(
                f"MN → CN median {median(up_lat):.2f} ms (max {max(up_lat):.2f}"
                + (f"; {len(up_stuck)} of {len(up)} never resumed" if up_stuck else "")
                + ")"
            )
        elif up_stuck:
            bound = min(_values(up_stuck, "udp_up_latency_ms")) / 1000
            parts.append(
                f"MN → CN did not resume in {len(up_stuck)} of {len(up)} runs (> {bound:.1f} s)"
            )
        ok = _values([r for r in tcp if r.get("tcp_recovered")], "tcp_stall_ms")
        stuck = [r for r in tcp if r.get("tcp_recovered") is False]
        if ok:
            parts.append(f"TCP stall median {median(ok):.1f} ms ({len(ok)} of {len(tcp)} resumed)")
        if stuck:
            bound = min(_values(stuck, "tcp_stall_ms")) / 1000
            old = _values(stuck, "uplink_to_old_mac")
            why = (
                f"; the MN kept sending to the old MAG's MAC ({mean(old):.0f} frames per run) "
                "and none reached the new one"
                if old and not any(r.get("uplink_to_new_mac") for r in stuck)
                else ""
            )
            parts.append(
                f"TCP did not resume in {len(stuck)} of {len(tcp)} runs (stall > {bound:.1f} s, "
                f"the end of observation{why})"
            )
        both = {id(r): r for r in udp + tcp}.values()
        rejected = [r for r in both if r.get("pba_status") not in (None, 0)]
        if rejected:
            parts.append(
                f"{len(rejected)} handover(s) rejected by the LMA (PBA status "
                + ", ".join(sorted({_status(r) for r in rejected}))
                + ")"
            )
        paper = f"paper: UDP {PAPER_UDP.get(sc, '—')}, TCP {PAPER_TCP.get(sc, '—')}"
        lines.append(
            f"* **Scenario {sc}** ({layout.SCENARIOS[sc]}): " + "; ".join(parts) + f". *{paper}*."
        )
    if long:
        lines.append(_long_summary(long))
    return [*lines, ""]


def _long_summary(long: list[dict]) -> str:
    ok = [r for r in long if r.get("tcp_recovered") is True]
    stalls = _values(ok, "tcp_stall_ms")
    window = min(_values(long, "tcp_window_s"), default=0.0)
    parts = []
    if stalls:
        parts.append(
            f"TCP stall median {median(stalls) / 1000:.1f} s (min {min(stalls) / 1000:.1f}, "
            f"max {max(stalls) / 1000:.1f}; {len(ok)} of {len(long)} resumed within "
            f"{window:.0f} s)"
        )
    if len(ok) < len(long):
        parts.append(f"{len(long) - len(ok)} not resumed after {window:.0f} s")
    switched = _values(long, "first_uplink_to_new_mac_ms")
    by = _values(ok, "tcp_resumed_by_retrans_ms")
    if switched and by:
        parts.append(
            f"each ended by the CN's back-off retransmission at a median {median(by) / 1000:.1f} "
            "s, the first after the MN's kernel had given up its old router (its neighbour "
            "entry failed with an ACK waiting on it): its ACK was the MN's first frame to the "
            f"new MAG (median {median(switched) / 1000:.1f} s)"
        )
    return (
        f"* **Scenario 1 to the end** ({len(long)} long run{'s' if len(long) > 1 else ''}, "
        "see below): " + "; ".join(parts) + ". *paper: TCP stall higher than 100 s (Fig. 8)*."
    )


def _runs_md(rows: list[dict]) -> list[str]:
    lines = [
        "## Every run",
        "",
        "| Run | MN | PBA status | L2→RA (ms) | UDP CN → MN latency (ms) | lost "
        "| UDP MN → CN latency (ms) | lost | TCP stall (ms) | retrans CN | uplink old/new MAC "
        "| iperf3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        udp = tcp = lost = retr = up = up_lost = ""
        if layout.has_udp(r["kind"]):
            mark = ">" if r.get("udp_recovered") is False else ""
            udp = mark + _num(r.get("udp_latency_ms"), 2)
            lost = "" if r.get("udp_lost") is None else str(r["udp_lost"])
            if r.get("udp_up_recovered") is not None:
                mark = ">" if r.get("udp_up_recovered") is False else ""
                up = mark + _num(r.get("udp_up_latency_ms"), 2)
                up_lost = "" if r.get("udp_up_lost") is None else str(r["udp_up_lost"])
        if layout.has_tcp(r["kind"]):
            mark = ">" if r.get("tcp_recovered") is False else ""
            tcp = mark + _num(r.get("tcp_stall_ms"), 1)
            retr = "" if r.get("tcp_retrans_cn") is None else str(r["tcp_retrans_cn"])
        err = "interrupted" if r.get("iperf3_error") else "ok"
        old = "—" if r.get("uplink_to_old_mac") is None else str(r["uplink_to_old_mac"])
        new = "—" if r.get("uplink_to_new_mac") is None else str(r["uplink_to_new_mac"])
        lines.append(
            f"| {r['run_id']} | {r.get('mn_name') or ''} | {_status(r)} "
            f"| {_num(r.get('total_ms'))} | {udp} | {lost} | {up} | {up_lost} | {tcp} | {retr} "
            f"| {old}/{new} "
            f"| {err} |"
        )
    return [*lines, ""]


def _not_measured_md(rows: list[dict]) -> list[str]:
    lines = ["## Not measured", ""]
    any_missing = False
    for r in rows:
        for key, why in (r.get("not_measured") or {}).items():
            if key.startswith("iperf3_"):
                continue  # iperf3's own report, not a metric of ours
            any_missing = True
            lines.append(f"* {r['run_id']} `{key}`: {why}")
    if not any_missing:
        lines.append("Every metric was measured in every run.")
    return [*lines, ""]


DEFINITIONS = """## Definitions

All times are capture timestamps (µs) of the kernel; *the move* is the instant the MN's
radio link was moved to the new AP (`meta.json` → `handover.moved_at`).

* **Table II phases** — at the new MAG: *L2* = the AP's syslog datagram reporting the MN's
  (re)association (Cisco `xxxx.xxxx.xxxx` MAC, read by the MAG's own parser) arriving at the
  MAG, on the link the APs' syslog comes over (the podman lab: a management link of its own;
  the namespace lab: the access interface); *PBU* = the first Proxy Binding Update for the MN
  (MN link-layer identifier / MN-Identifier option) leaving its core interface, inside the
  signaling's ESP where it is on (opened with the run's SAs, `esp-sas.json` beside the
  captures, mode 0600, never in the report); *PBA* = the first accepting
  PBA with that PBU's sequence number arriving there; *RA* = the first Router Advertisement
  to the MN's MAC leaving the access interface. Total = RA − L2.
* **UDP handover latency** — a constant-rate iperf3 stream CN → MN; the largest gap between
  consecutive arrivals at the MN during the handover (gaps that end after the move and start
  before the new MAG's first RA to the MN — always the gap across the move), minus the nominal
  interval. A stream that never resumes gives a lower bound. Lost = sent at the CN, never
  received at the MN. **MN → CN**: a second stream at the same rate at once (iperf3 `-R`,
  sent by the MN), measured the same way at the CN; lost = left the MN, never reached the
  CN. Once the MN's kernel has given up on its old router it drops the datagrams before the
  wire, so a stream that never resumes is counted until its planned end.
* **TCP stall** — an iperf3 transfer CN → MN; the longest time without in-order progress at
  the MN (an arrival that advances the next expected byte) that starts between the last
  progress before the move and 250 ms after it — or, where the MN had to change router
  (scenario 1), its first frame to the new MAG: until then progress is only the CN's
  retransmissions filling the holes the move left (later gaps are the flow's own noise); if the
  CN was still sending at the end and nothing progressed since, the stall is *> the time
  observed*. Retransmissions: segments starting below the highest sequence number already
  sent (at the CN) or seen (at the MN).
* **What ended a stall** (long runs) — from the MN's capture up to the end of the stall:
  its unicast Neighbour Solicitations for the old router's link-local address (neighbour
  unreachability detection), its multicast ones from its global address (a waiting packet
  restarting address resolution; from its link-local address they are the kernel's
  background router probes and not counted), any answer, its frames to the old and the
  new MAG's MAC; from the CN's capture its retransmissions after the move and the first
  after the MN's first frame to the new MAG (the one whose ACK got through).
* **Percentiles** — nearest rank: p99 of ten values is the largest.
"""


def _settings_md(out: Path, rows: list[dict]) -> list[str]:
    lines = ["## Set-up", ""]
    settings = None
    if (out / "settings.json").exists():
        try:
            settings = json.loads((out / "settings.json").read_text())
        except ValueError:
            settings = None
    meta = None
    if rows:
        first = layout.find_runs(out)
        if first:
            meta = layout.read_meta(first[0].path)
    if meta:
        tb = meta.get("testbed", {})
        lines.append(
            f"* testbed: {tb.get('kind', '?')} on {tb.get('host', '?')} "
            f"(kernel {tb.get('kernel', '?')}, tunnel backend {tb.get('tunnel_backend', '?')}), "
            f"roaming: {tb.get('roam', '?')}"
        )
    if settings:
        lines.append(
            f"* UDP: {settings.get('udp_rate_bps', 0) / 1e6:g} Mbit/s in "
            f"{settings.get('udp_length')}-octet datagrams; TCP paced at "
            f"{settings.get('tcp_rate_bps', 0) / 1e6:g} Mbit/s; traffic "
            f"{settings.get('before_s')} s before the move, {settings.get('udp_after_s')} s "
            f"(UDP) / {settings.get('tcp_after_s')} s (TCP) after"
        )
    counts = {
        (sc, kind): sum(1 for r in rows if r["scenario"] == sc and r["kind"] == kind)
        for sc in _scenarios(rows)
        for kind in layout.KINDS
    }
    lines.append(
        "* complete runs: "
        + ", ".join(f"scenario {sc} {kind} {n}" for (sc, kind), n in counts.items() if n)
    )
    if any(layout.has_udp(k) and layout.has_tcp(k) for (_unused, k), n in counts.items() if n):
        lines.append(
            "* kind *both*: the UDP stream and the TCP transfer run at once, on two ports, "
            "through the same handover (one handover, both measurements)"
        )
    incomplete = [r.run_id for r in layout.find_runs(out, include_incomplete=True) if not r.done]
    if incomplete:
        lines.append(f"* incomplete runs (ignored): {', '.join(incomplete)}")
    for sc, name in layout.SCENARIOS.items():
        lines.append(f"* scenario {sc}: {name}")
    lines += _main_job_md(out)
    return [*lines, ""]


def summary_text(out: Path | str, rows: list[dict] | None = None) -> list[str]:
    """The findings as plain lines for a terminal: Table II beside the paper's average, then
    per scenario what the traffic saw (the report's *Summary*), then where the report is."""
    out = Path(out)
    if rows is None:
        rows = load_results(out)
    t2 = table_ii_rows(rows)
    summary = table_ii_summary(t2)
    n = max((v["n"] for v in summary.values()), default=0)
    lines = [
        f"Table II (ours: scenario 2, {n} handovers, ms) beside the paper's average:",
        f"  {'phase':<24} {'average':>8} {'p50':>8} {'p99':>8} {'paper':>8}",
    ]
    for key in PHASES:
        v = summary[key]
        lines.append(
            f"  {PHASE_TITLES[key]:<24} {_num(v['average']):>8} {_num(v['p50']):>8} "
            f"{_num(v['p99']):>8} {PAPER_TABLE_II_AVERAGE[key]:>8}"
        )
    for line in _summary_md(rows)[2:]:
        if line.startswith("* **Scenario"):
            lines.append("  " + line[2:].replace("**", "").replace("*", ""))
    incomplete = [r.run_id for r in layout.find_runs(out, include_incomplete=True) if not r.done]
    lines.append(
        f"{len(rows)} complete runs"
        + (f", {len(incomplete)} incomplete: {', '.join(incomplete)}" if incomplete else "")
    )
    lines.append(f"report: {out / layout.REPORT} (figures and results.csv beside it)")
    return lines


def _dash(value: Any) -> str:
    return "—" if value is None else str(value)


def _long_md(rows: list[dict]) -> list[str]:
    """Scenario 1 to the end: the long runs, each stall measured until it ended and what
    ended it (analysis.stall_end_metrics)."""
    long = [r for r in rows if r.get("long_observation")]
    if not long:
        return []
    window = min(_values(long, "tcp_window_s"), default=None)
    lines = [
        "## Scenario 1 to the end (long observation)",
        "",
        f"{len(long)} more run{'s' if len(long) > 1 else ''} of scenario 1, observed "
        + (f"{window:.0f} s" if window is not None else "longer")
        + " after the move instead of a few seconds, at lower rates (UDP CN → MN one datagram "
        "every 5 ms, TCP paced at 2 Mbit/s) so that the captures stay small, and without the "
        "stream MN → CN: the MN's own datagrams to its old router would end the stall sooner "
        "(any frame waiting on the failed neighbour entry makes the kernel choose the route "
        "anew), and the paper measured TCP alone. They are left out of the tables above, "
        "which compare runs of the same length. *paper: TCP stall higher than 100 s in "
        "scenario 1 (Fig. 8).*",
        "",
        "| Run | TCP stall (s) | UDP CN → MN (ms) | NUD probes to the old "
        "router | frames to the old MAG's MAC | first frame to the new MAG's MAC (s) "
        "| CN retransmissions | the one that got through (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in long:
        stall = r.get("tcp_stall_ms")
        stall_text = "n/m" if stall is None else f"{stall / 1000:.2f}"
        if r.get("tcp_recovered") is False:
            stall_text = "> " + stall_text
        first = r.get("first_uplink_to_new_mac_ms")
        by = r.get("tcp_resumed_by_retrans_ms")
        lines.append(
            f"| {r['run_id']} | {stall_text} | {_num(r.get('udp_latency_ms'), 2)} "
            f"| {_dash(r.get('old_router_probes'))} | {_dash(r.get('uplink_to_old_mac'))} "
            f"| {'—' if first is None else f'{first / 1000:.2f}'} "
            f"| {_dash(r.get('cn_retrans_after_move'))} "
            f"| {'—' if by is None else f'{by / 1000:.2f}'} |"
        )
    lines += ["", "What ended each stall, read from the captures:", ""]
    for r in long:
        lines.append(f"* **{r['run_id']}**: {r.get('stall_ended_by') or 'not measured'}.")
    return [*lines, ""]


def write_report(out: Path | str, rows: list[dict] | None = None) -> list[Path]:
    """report.md and the figures; returns [report.md, figure paths…]. Long runs
    (``long_observation``) have a section of their own and are left out of the others but
    *Every run*; Fig. 8 shows one at full scale."""
    out = Path(out)
    if rows is None:
        rows = load_results(out)
    figures = plots.draw_all(out, rows)
    every = rows
    rows = [r for r in rows if not r.get("long_observation")]
    lines = [
        "# PMIPv6 handover experiments: the seed paper's Section IV, measured from packets",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %z')} from `{out}` "
        f"({len(every)} complete runs; raw rows in `results.csv` / `results.json`).",
        "",
        *_summary_md(every),
        *_settings_md(out, every),
        "## Table II",
        "",
        "Ours: every run of scenario 2 (UDP and TCP runs alike: the signaling does not depend "
        "on the traffic), from the new MAG's packet captures.",
        "",
        *_table_ii_md(rows),
        *_paper_table_ii_md(),
        *_comparison_md(rows),
        *_udp_md(rows),
        *_tcp_md(rows),
        *_long_md(every),
        *_outcomes_md(rows),
        *_signaling_md(rows),
        "## Figures",
        "",
    ]
    captions = plots.CAPTIONS
    for key, path in figures.items():
        lines += [f"**{captions[key]}**", "", f"![{captions[key]}]({path.name})", ""]
    if not figures:
        lines += ["No figure: no run had the data for one.", ""]
    lines += [*_runs_md(every), *_not_measured_md(every), DEFINITIONS]
    report = out / layout.REPORT
    report.write_text("\n".join(lines))
    return [report, *figures.values()]


# --------------------------------------------------------------------------- traceability


def _main_job_md(out: Path) -> list[str]:
    """The Set-up line for the main job's own record (``durations.json``, written by
    scripts/lab.sh before it writes the report again), so that the report says how long
    the job that produced it took, where and from which commit; nothing without it."""
    try:
        doc = json.loads((Path(out) / layout.DURATIONS_JSON).read_text())
        total = int(doc["total_seconds"])
        steps = ", ".join(f"{s['name']} {int(s['seconds'])} s" for s in doc["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        # A missing or damaged record is left out rather than guessed at.
        return []
    return [
        f"* the main job (`scripts/lab.sh`, commit {doc.get('commit', '?')}): "
        f"{total // 60} min {total % 60} s, {doc.get('started_at', '?')} to "
        f"{doc.get('ended_at', '?')} on {doc.get('host', '?')} (kernel {doc.get('kernel', '?')}, "
        f"image {doc.get('image_before', '?')} at the start): {steps} (`{layout.DURATIONS_JSON}`)"
    ]
