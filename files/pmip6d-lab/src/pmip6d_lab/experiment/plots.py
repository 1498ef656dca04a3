"""The figures of the report, after the paper's Figs. 5–10 (matplotlib, PNG).

Each figure names its scenario and run, marks the instant the radio link moved
(time 0) and says what a reader should look at. Single-run figures show the
scenario's *median* run (by the metric the figure is about), not the best one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import layout
from .analysis import PHASE_TITLES, PHASES, tcp_series, udp_series
from .layout import FIGURES
from .paper import PAPER_TABLE_II, PAPER_UDP

CAPTIONS = {
    "fig5": "Fig. 5 (ours): UDP throughput during handover, scenario 1",
    "fig6": "Fig. 6 (ours): UDP throughput during handover, scenario 2",
    "fig7": "Fig. 7 (ours): UDP handover latency per run, scenarios 1 and 2",
    "fig8": "Fig. 8 (ours): TCP time-sequence during handover, scenario 1",
    "fig9": "Fig. 9 (ours): TCP time-sequence during handover, scenario 2",
    "fig10": "Fig. 10 (ours): UDP handover latency per run, scenarios 2 and 3",
    "phases": "Table II as a picture: PMIPv6 phases per run, ours (scenario 2) and the paper's",
}
SHORT = {
    1: "per-MAG link-local/MAC",
    2: "shared link-local/MAC, static tunnels",
    3: "shared link-local/MAC, dynamic tunnels",
}
COLORS = {1: "#d62728", 2: "#1f77b4", 3: "#2ca02c"}
PHASE_COLORS = {"l2_to_pbu_ms": "#8c564b", "pbu_to_pba_ms": "#ff7f0e", "pba_to_ra_ms": "#9467bd"}
EVENTS = (
    ("l2_at", "L2 report", "#8c564b"),
    ("pbu_at", "PBU out", "#ff7f0e"),
    ("pba_at", "PBA in", "#9467bd"),
    ("ra_at", "RA out", "#17becf"),
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 11,
            "axes.titlesize": 13,
            "axes.labelsize": 11,
            "legend.fontsize": 9.5,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _median_run(rows: list[dict], key: str) -> dict | None:
    candidates = [r for r in rows if isinstance(r.get(key), (int, float))]
    if not candidates:
        return None
    candidates.sort(key=lambda r: r[key])
    return candidates[(len(candidates) - 1) // 2]


def _run_path(out: Path, row: dict) -> Path:
    return layout.run_dir(out, row["scenario"], row["run"], row["kind"])


def _move_line(ax, scale: float = 1.0) -> None:
    ax.axvline(
        0,
        color="black",
        linestyle="--",
        linewidth=1.3,
        zorder=2,
        label="radio link moved AP1 → AP2 (time 0)",
    )


# --------------------------------------------------------------------------- Figs. 5, 6


def udp_throughput(out: Path, rows: list[dict], scenario: int, path: Path, title: str) -> bool:
    runs = [r for r in rows if r["scenario"] == scenario and layout.has_udp(r["kind"])]
    row = _median_run([r for r in runs if r.get("udp_recovered")], "udp_latency_ms")
    row = row or _median_run(runs, "udp_latency_ms")
    if row is None:
        return False
    series = udp_series(_run_path(out, row))
    if series is None:
        return False
    plt = _plt()
    traffic = series["traffic"]
    rate = traffic.get("rate_bps")
    t, sizes, gaps_ms = series["t"], series["bytes"], series["gap_ms"]
    before = float(traffic.get("before_s", 1.0))
    after = float(traffic.get("after_s", 1.5))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10.5, 9.4), gridspec_kw={"height_ratios": [3, 2.6]}
    )
    # Top: throughput in 10 ms bins over the whole observation.
    width = 0.010
    start, stop = -before, after
    nbins = round((stop - start) / width)

    def binned(times, octets):
        out = [0.0] * nbins
        for ti, size in zip(times, octets, strict=True):
            k = int((ti - start) // width)
            if 0 <= k < nbins:
                out[k] += size * 8 / width / 1000
        return out

    bins = binned(t, sizes)
    xs = [start + (k + 0.5) * width for k in range(nbins)]
    top.step(
        xs,
        bins,
        where="mid",
        color=COLORS[scenario],
        linewidth=1.1,
        label="CN → MN, received at the MN (10 ms bins)",
    )
    up = udp_series(_run_path(out, row), "udpup")
    if up is not None:
        top.step(
            xs,
            binned(up["t"], up["bytes"]),
            where="mid",
            color="#9467bd",
            linewidth=1.6,
            zorder=1,
            label="MN → CN, received at the CN (10 ms bins)",
        )
    if rate:
        top.axhline(
            rate / 1000,
            color="grey",
            linestyle=":",
            linewidth=1.2,
            label=f"sent: {rate / 1e6:g} Mbit/s" + (" each way" if up is not None else ""),
        )
    _move_line(top)
    top.set_xlim(start, stop)
    ceiling = max(*bins, (rate or 0) / 1000, 0) * 1.3 or 1
    # Below zero a little, so that a stream that stopped shows as a line, not the axis.
    top.set_ylim(-ceiling * 0.04, ceiling)
    top.set_xlabel("time relative to the move (s)")
    top.set_ylabel("UDP throughput at the receiver (kbit/s)")

    def latency(prefix: str) -> str:
        lat = row.get(prefix + "latency_ms")
        if lat is None:
            return "n/m"
        text = f"{lat:.2f} ms" if row.get(prefix + "recovered") else f"> {lat:.0f} ms (no resume)"
        return f"{text}, {row.get(prefix + 'lost') or 0} lost"

    both = f"; MN → CN {latency('udp_up_')}" if up is not None else ""
    top.set_title(
        f"{title}: {SHORT[scenario]}\nrun {row['run']:02d} (the median of {len(runs)} runs): "
        f"handover latency CN → MN {latency('udp_')}{both}",
        fontsize=11.5,
    )
    top.legend(loc="lower left")
    # Bottom: zoom on the move; one stem per datagram, its height the gap before it.
    gap_end = None
    if row.get("udp_recovered") and row.get("udp_max_gap_ms") is not None:
        gap_end = min(
            (
                ti
                for ti, g in zip(t, gaps_ms, strict=True)
                if g is not None and ti >= 0 and abs(g - row["udp_max_gap_ms"]) < 2e-3
            ),
            default=None,
        )
    hi = max(40.0, gap_end * 1000 + 20 if gap_end is not None else 40.0)
    zoom = [
        (ti * 1000, g or 0.0) for ti, g in zip(t, gaps_ms, strict=True) if -30 <= ti * 1000 <= hi
    ]
    moved = row.get("moved_at")
    for key, label, color in EVENTS:
        if row.get(key) is not None and moved is not None:
            at = (row[key] - moved) * 1000
            bottom.axvline(
                at,
                color=color,
                linewidth=1.0,
                zorder=1,
                label=f"{label} at the new MAG: +{at:.2f} ms",
            )
    _move_line(bottom)
    if gap_end is not None:
        gap = row["udp_max_gap_ms"]
        bottom.axvspan(
            gap_end * 1000 - gap,
            gap_end * 1000,
            color="orange",
            alpha=0.3,
            zorder=0,
            label=f"largest gap {gap:.2f} ms, "
            f"{row.get('udp_lost_in_gap') or 0} datagrams lost in it",
        )
    bottom.vlines(
        [z[0] for z in zoom],
        0,
        [z[1] for z in zoom],
        color=COLORS[scenario],
        linewidth=1.4,
        zorder=3,
        label="a datagram arrives (height: gap since the previous one)",
    )
    bottom.plot(
        [z[0] for z in zoom],
        [z[1] for z in zoom],
        "o",
        color=COLORS[scenario],
        markersize=3.5,
        zorder=4,
    )
    bottom.set_xlim(-30, hi)
    bottom.set_ylim(0, max([z[1] for z in zoom] + [2.0]) * 1.15)
    bottom.set_xlabel("time relative to the move (ms), zoom on the handover (CN → MN)")
    bottom.set_ylabel("inter-arrival gap (ms)")
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=9, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- Figs. 7, 10


def udp_latency_per_run(
    rows: list[dict], scenarios: tuple[int, int], path: Path, title: str, paper: str
) -> bool:
    data = {
        sc: sorted(
            (r for r in rows if r["scenario"] == sc and layout.has_udp(r["kind"])),
            key=lambda r: r["run"],
        )
        for sc in scenarios
    }
    if not any(data.values()):
        return False
    plt = _plt()
    directions = [("udp_", "CN → MN, at the MN")]
    if any(r.get("udp_up_recovered") is not None for rs in data.values() for r in rs):
        directions.append(("udp_up_", "MN → CN, at the CN"))
    fig, axes = plt.subplots(
        len(directions), 1, figsize=(10.5, 6.4 if len(directions) == 1 else 10.4), squeeze=False
    )
    for (prefix, where), ax in zip(directions, axes[:, 0], strict=True):
        _latency_panel(ax, data, scenarios, prefix, where, legend=ax is axes[-1, 0])
    axes[0, 0].set_title(
        f"{title}\n(largest inter-arrival gap at the receiver − nominal interval; "
        "hatched: the stream did not resume)",
        fontsize=12,
    )
    fig.text(0.5, 0.01, f"paper: {paper}", ha="center", fontsize=9.5, style="italic")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _latency_panel(ax, data, scenarios, p: str, where: str, legend: bool) -> None:
    """One direction's bars: per run and scenario, the latency (``p``: udp_ or udp_up_)."""
    runs = sorted({r["run"] for rs in data.values() for r in rs})
    width = 0.38
    measured = [
        r[p + "latency_ms"]
        for rs in data.values()
        for r in rs
        if r.get(p + "recovered") and r.get(p + "latency_ms") is not None
    ]
    noise = [
        r[p + "baseline_gap_ms"]
        for rs in data.values()
        for r in rs
        if r.get(p + "baseline_gap_ms") is not None
    ]
    ceiling = max([*measured, *noise, 1.0]) * 1.35
    for j, sc in enumerate(scenarios):
        xs, ys, noise_x, noise_y = [], [], [], []
        for r in data[sc]:
            x = runs.index(r["run"]) + (j - 0.5) * width
            value = r.get(p + "latency_ms")
            if r.get(p + "baseline_gap_ms") is not None:
                noise_x.append(x)
                noise_y.append(r[p + "baseline_gap_ms"])
            if value is None:
                ax.annotate("n/m", (x, 0), ha="center", va="bottom", fontsize=9)
            elif r.get(p + "recovered") is False:
                # The stream never resumed: a hatched bar to the top, the bound written on it.
                ax.bar(
                    [x],
                    [ceiling],
                    width,
                    color=COLORS[sc],
                    alpha=0.3,
                    hatch="//",
                    edgecolor=COLORS[sc],
                )
                status = r.get("pba_status")
                why = f"PBA status {status}" if status not in (None, 0) else "no resume"
                ax.annotate(
                    f"> {value / 1000:.1f} s, {why}",
                    (x, ceiling * 0.5),
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    rotation=90,
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
                )
            else:
                xs.append(x)
                ys.append(value)
        avg = sum(ys) / len(ys) if ys else None
        label = f"scenario {sc}: {SHORT[sc]}"
        if avg is not None:
            label += f" (mean {avg:.2f} ms, dashed)"
        elif any(r.get(p + "recovered") is False for r in data[sc]):
            label += " (hatched: did not resume)"
        # An empty bar set still makes a legend entry, in the default colour: give the
        # entry a patch of the scenario's colour instead.
        ax.bar(xs or [0], ys or [0], width if xs else 0, color=COLORS[sc], alpha=0.9, label=label)
        if avg is not None:
            ax.axhline(avg, color=COLORS[sc], linestyle="--", linewidth=1)
        ax.plot(
            noise_x,
            noise_y,
            "x",
            color="dimgrey",
            markersize=6,
            zorder=5,
            label="noise floor: the largest gap before the move" if j == 0 else None,
        )
    ax.set_xticks(range(len(runs)), [f"{r}" for r in runs])
    ax.set_xlim(-0.6, len(runs) - 0.4)
    ax.set_xlabel("run")
    ax.set_ylabel(f"UDP handover latency (ms)\n{where}")
    ax.set_ylim(0, ceiling)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    else:
        ax.legend(loc="upper right", fontsize=8.5)


# --------------------------------------------------------------------------- Figs. 8, 9


def _stall_span(progress, stall_ms, end) -> tuple[float | None, float | None]:
    """Where the reported stall lies: between two progress events, or to the end."""
    if stall_ms is None:
        return None, None
    for k in range(len(progress) - 1):
        gap = (progress[k + 1][0] - progress[k][0]) * 1000
        if abs(gap - stall_ms) < 2e-3 and progress[k + 1][0] > 0:
            return progress[k][0], progress[k + 1][0]
    return (progress[-1][0], end) if progress else (None, None)


def tcp_time_sequence(out: Path, rows: list[dict], scenario: int, path: Path, title: str) -> bool:
    runs = [r for r in rows if r["scenario"] == scenario and layout.has_tcp(r["kind"])]
    row = _median_run(runs, "tcp_stall_ms")
    if row is None:
        return False
    series = tcp_series(_run_path(out, row))
    if series is None:
        return False
    plt = _plt()
    traffic = series["traffic"]
    segs, progress = series["segments"], series["progress"]
    end = (traffic.get("stopped_at") or 0) - series["meta"]["handover"]["moved_at"]
    before = float(traffic.get("before_s", 1.0))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10.5, 8.8), gridspec_kw={"height_ratios": [3, 2.6]}
    )
    stall = row.get("tcp_stall_ms")
    resumed = row.get("tcp_recovered") is not False
    stall_from, stall_to = _stall_span(progress, stall, end)
    for ax, zoom in ((top, False), (bottom, True)):
        scale = 1000.0 if zoom else 1.0
        if not zoom:
            lo, hi = -before, max(end, 0.5)
        elif resumed and stall_to is not None and stall_to - stall_from > 1.0:
            # A stall of seconds: zoom on its end, the retransmission that got through.
            lo, hi = stall_to - 0.25, stall_to + 0.05
        elif resumed and stall_to is not None:
            width = max(stall_to - stall_from, 0.004)
            lo, hi = min(stall_from - 4 * width, -0.01), max(stall_to + 8 * width, 0.03)
        else:
            lo, hi = -0.05, 0.4
        new = [(t * scale, (s + n) / 1e6) for t, s, n, r in segs if not r and lo <= t <= hi]
        again = [(t * scale, (s + n) / 1e6) for t, s, n, r in segs if r and lo <= t <= hi]
        pts = [(t * scale, n / 1e6) for t, n in progress if lo <= t <= hi]
        ax.plot(
            [p[0] for p in new],
            [p[1] for p in new],
            ".",
            color=COLORS[scenario],
            markersize=4 if zoom else 2.5,
            label="data segment arriving at the MN (its end)",
        )
        if again:
            ax.plot(
                [p[0] for p in again],
                [p[1] for p in again],
                "x",
                color="black",
                markersize=7,
                label="retransmitted segment arriving",
            )
        ax.step(
            [p[0] for p in pts],
            [p[1] for p in pts],
            where="post",
            color="grey",
            linewidth=1.0,
            label="in-order data received (next expected byte)",
        )
        if stall_from is not None:
            ax.axvspan(
                stall_from * scale,
                stall_to * scale,
                color="orange",
                alpha=0.3,
                label="stall" if resumed else "stall, not over when observation ended",
            )
        _move_line(ax)
        if not zoom and hi > 100:
            ax.axvline(
                100, color="black", linestyle=":", linewidth=1.2, label="paper: stall > 100 s"
            )
        first_new = row.get("first_uplink_to_new_mac_ms")
        if first_new is not None and lo <= first_new / 1000 <= hi and stall and stall > 1000:
            ax.axvline(
                first_new / 1000 * scale,
                color="#17becf",
                linewidth=1.2,
                label=f"the MN's first frame to the new MAG: +{first_new / 1000:.2f} s",
            )
        ax.set_xlim(lo * scale, hi * scale)
        ys = [p[1] for p in new + again + pts]
        if ys:
            pad = (max(ys) - min(ys)) * 0.08 or 0.01
            ax.set_ylim(min(ys) - pad, max(ys) + pad)
        ax.set_ylabel("sequence number (MB)")
        ax.set_xlabel(
            "time relative to the move (s)"
            if not zoom
            else "time relative to the move (ms), zoom on the end of the stall"
            if lo > 1.0
            else "time relative to the move (ms), zoom on the handover"
        )
    if resumed and stall is not None and stall > 1000:
        text = f"stall {stall / 1000:.2f} s, observed {row.get('tcp_window_s') or 0:.0f} s"
    elif resumed:
        text = f"stall {stall:.1f} ms"
    else:
        text = (
            f"stall > {stall / 1000:.1f} s (no in-order progress until the observation "
            f"ended, {row.get('tcp_window_s') or 0:.1f} s after the move)"
        )
    which = "long runs" if row.get("long_observation") else "runs"
    top.set_title(
        f"{title}: {SHORT[scenario]}\nrun {row['run']:02d} (the median of {len(runs)} {which}): "
        f"{text}",
        fontsize=12,
    )
    # Lower right: the sequence rises from the lower left, and in scenario 1 the first
    # retransmissions after the move sit at the top.
    top.legend(loc="lower right", fontsize=9)
    old, new = row.get("uplink_to_old_mac"), row.get("uplink_to_new_mac")
    if old is not None and new is not None:
        first = row.get("first_uplink_to_new_mac_ms")
        note = (
            f"after the move the MN sent {old} TCP frames (its ACKs) to MAG1's MAC, its old\n"
            f"default router, and {new} to MAG2's"
            + (f" (first after {first / 1000:.2f} s)" if first is not None else "")
        )
        bottom.text(
            0.98,
            0.05,
            note,
            transform=bottom.transAxes,
            ha="right",
            va="bottom",
            fontsize=9.5,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9},
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- Table II


def table_ii_phases(rows: list[dict], path: Path, paper: dict[str, list[float]]) -> bool:
    ours = [r for r in rows if r["scenario"] == 2 and all(r.get(k) is not None for k in PHASES)]
    if not ours:
        return False
    one_kind = len({r["kind"] for r in ours}) == 1
    plt = _plt()
    height = max(6.4, 2.5 + 0.3 * max(len(ours), 10))
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, height))
    for ax, labels, values, name in (
        (
            a,
            [f"run {r['run']:02d}" if one_kind else f"{r['run']:02d} {r['kind']}" for r in ours],
            {k: [r[k] for r in ours] for k in PHASES[:3]},
            "ours, scenario 2",
        ),
        (
            b,
            [f"No. {i + 1}" for i in range(len(paper["total_ms"]))],
            {k: paper[k] for k in PHASES[:3]},
            "the paper's Table II",
        ),
    ):
        left = [0.0] * len(labels)
        for key in PHASES[:3]:
            ax.barh(
                labels, values[key], left=left, color=PHASE_COLORS[key], label=PHASE_TITLES[key]
            )
            left = [x + y for x, y in zip(left, values[key], strict=True)]
        avg = sum(left) / len(left)
        ax.axvline(avg, color="black", linestyle="--", linewidth=1, label="average total")
        ax.invert_yaxis()
        ax.set_xlabel("time (ms)")
        ax.set_title(f"{name}: average total {avg:.2f} ms (dashed)")
    a.set_ylabel("handover (run)")
    handles, labels = a.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(
        "PMIPv6 handover phases at the new MAG (Table II): L2 report → PBU → PBA → RA\n"
        "(note the different time scales)",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- all


def draw_all(out: Path, rows: list[dict]) -> dict[str, Path]:
    """Draw every figure the data allows; returns {figure key: path}. Long runs
    (``long_observation``) only in Fig. 8, which shows one at full scale when there are."""
    out = Path(out)
    long = [r for r in rows if r.get("long_observation") and r.get("scenario") == 1]
    rows = [r for r in rows if not r.get("long_observation")]
    made: dict[str, Path] = {}
    paper_1 = PAPER_UDP[1].split(" (", maxsplit=1)[0]
    paper_2 = PAPER_UDP[2].split(" (", maxsplit=1)[0]
    paper_7 = f"scenario 1 {paper_1}; scenario 2 {paper_2}"
    jobs: list[tuple[str, Any]] = [
        ("fig5", lambda p: udp_throughput(out, rows, 1, p, CAPTIONS["fig5"])),
        ("fig6", lambda p: udp_throughput(out, rows, 2, p, CAPTIONS["fig6"])),
        ("fig7", lambda p: udp_latency_per_run(rows, (1, 2), p, CAPTIONS["fig7"], paper_7)),
        ("fig8", lambda p: tcp_time_sequence(out, long or rows, 1, p, CAPTIONS["fig8"])),
        ("fig9", lambda p: tcp_time_sequence(out, rows, 2, p, CAPTIONS["fig9"])),
        (
            "fig10",
            lambda p: udp_latency_per_run(
                rows, (2, 3), p, CAPTIONS["fig10"], "scenarios 2 and 3 mainly the same"
            ),
        ),
        ("phases", lambda p: table_ii_phases(rows, p, PAPER_TABLE_II)),
    ]
    for key, job in jobs:
        path = out / FIGURES[key]
        if path.exists():
            path.unlink()
        if job(path):
            made[key] = path
    return made
