"""The printed results: the table and the notes."""

from __future__ import annotations

import json
from typing import Any


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [r for s in results for r in s["rows"]]
    base = {(r["size"], r["phase"]): r["rate"] for r in rows if r["kind"] == "null"}
    header = (
        "size", "target", "phase", "win", "reg/s", "p50 ms", "p99 ms", "max ms", "lost", "rejected",
        "tgt%", "gen%", "oth%", "RSS MB", "bindings", "vs null",
    )  # fmt: skip
    table = [header]
    for r in rows:
        b = base.get((r["size"], r["phase"]))
        lat = r["latency_ms"]
        ratio = f"{r['rate'] / b:.2f}" if r["kind"] != "null" and b else "-"
        table.append(
            (
                str(r["size"]),
                {"lma": "LMA", "lma-off": "LMA dur.off", "lma-on": "LMA dur.on"}.get(
                    r["kind"], r["kind"]
                ),
                r["phase"],
                str(r["window"]),
                f"{r['rate']:.0f}",
                f"{lat['p50']:.2f}" if lat["p50"] is not None else "-",
                f"{lat['p99']:.2f}" if lat["p99"] is not None else "-",
                f"{lat['max']:.1f}" if lat["max"] is not None else "-",
                str(r["lost"]),
                str(r["rejected"]),
                str(r.get("target_cpu_percent", "-")),
                str(r.get("generator_cpu_percent", "-")),
                str(r.get("other_cpu_percent", "-")),
                str(r.get("rss_mb", "-")),
                str(r.get("pmipctl_bindings", "-")),
                ratio,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for k, row in enumerate(table):
        print("  ".join(c.rjust(w) if j >= 4 else c.ljust(w) for j, (c, w) in enumerate(
            zip(row, widths, strict=True))).rstrip())  # fmt: skip
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "reg/s: accepted PBAs per second of the phase; latency: PBU sent -> its PBA received; "
        "win: PBUs outstanding;\ntgt%/gen%/oth%: CPU of the target (LMA or null responder), "
        "the generator, and all other processes on the host (noise), in % of one CPU;\n"
        "RSS: LMA resident set after the phase; bindings: `pmipctl status` after the phase; "
        "vs null: LMA reg/s / null-responder reg/s of the same size and phase."
    )
    print()


def print_durability(results: list[dict[str, Any]]) -> None:
    """Durable store on vs off (``--durable both``) and the ``--crash`` restart."""
    rows = [r for s in results for r in s["rows"]]
    rate = {(r["size"], r["kind"], r["phase"]): r["rate"] for r in rows}
    for (size, kind, phase), on in rate.items():
        off = rate.get((size, "lma-off", phase))
        if kind == "lma-on" and off:
            verdict = "meets" if on >= 0.8 * off else "MISSES"
            print(
                f"durable store, {size} MNs, {phase}: on {on:.0f} reg/s, off {off:.0f} reg/s, "
                f"on/off {on / off:.2f} ({verdict} the goal on >= 0.8 x off)"
            )
    for s in results:
        crash = s.get("crash")
        if crash:
            verdict = "meets" if crash["complete"] and crash["kill_to_serving_s"] <= 5 else "MISSES"
            print(
                f"kill -9 of the LMA holding {s['size']} bindings: answering after "
                f"{crash['kill_to_answer_s']} s, all {crash['bindings']} bindings "
                f"(restored {crash['restored']}) and {crash['routes_installed']} routes "
                f"({crash['kernel_routes']} in the kernel) after {crash['kill_to_serving_s']} s "
                f"({verdict} the goal <= 5 s)"
            )


def print_esp(results: list[dict[str, Any]]) -> None:
    """The agent's own ESP on vs off (``--esp both``)."""
    rows = [r for s in results for r in s["rows"]]
    rate = {(r["size"], r["kind"], r["phase"]): r["rate"] for r in rows}
    for (size, kind, phase), on in rate.items():
        off = rate.get((size, kind.removesuffix("-esp"), phase))
        if kind.endswith("-esp") and off:
            verdict = "meets" if on >= 0.7 * off else "MISSES"
            print(
                f"ESP (agent), {size} MNs, {phase}: on {on:.0f} reg/s, off {off:.0f} reg/s, "
                f"on/off {on / off:.2f} ({verdict} the goal on >= 0.7 x off)"
            )


def print_notes(results: list[dict[str, Any]]) -> None:
    for s in results:
        size = s["size"]
        for r in s["rows"]:
            odd = {
                k: r[k]
                for k in ("late", "duplicate", "unmatched", "accepted_without_hnp", "send_errors")
                if r.get(k)
            }
            if r.get("rejected_by_status"):
                odd["rejected_by_status"] = r["rejected_by_status"]
            for k in ("lma_socket_drops", "generator_socket_drops"):
                if r.get(k):
                    odd[k] = r[k]
            if r.get("other_cpu_percent", 0) > 15:
                odd["other_cpu_percent"] = r["other_cpu_percent"]
            if r.get("bindings_ok") is False:
                odd["pmipctl_bindings"] = r["pmipctl_bindings"]
            if odd:
                print(f"note: {size} {r['kind']} {r['phase']}: {json.dumps(odd)}")
        counters = s.get("lma_counters", {})
        bad = {k: v for k, v in counters.items() if k.startswith(("rejected", "malformed"))}
        bad.update(
            {
                k: v
                for k, v in counters.items()
                if k in ("internal_error", "send_error", "effect_error")
            }
        )
        if bad:
            print(f"note: {size} LMA counters: {json.dumps(bad, sort_keys=True)}")
        if s.get("lma_exit_code") not in (0, None):
            print(f"note: {size} LMA exit code {s['lma_exit_code']}")
        if s.get("lma_log_problem_count"):
            print(f"note: {size} LMA log: {s['lma_log_problem_count']} warning/error lines")
        status = s.get("lma_status", {})
        print(
            f"{size}: LMA idle RSS {s.get('lma_rss_idle_mb')} MB; final pmipctl status: "
            f"bindings={status.get('bindings')} mobile_nodes={status.get('mobile_nodes')} "
            f"pool.in_use={(status.get('pool') or {}).get('in_use')}; "
            f"counters registrations={counters.get('registrations')} "
            f"refreshes={counters.get('refreshes')} handoffs={counters.get('handoffs')} "
            f"pba_sent={counters.get('pba_sent')}"
        )
