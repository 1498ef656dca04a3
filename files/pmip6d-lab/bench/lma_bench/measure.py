"""One size's run: the LMA's configuration, the phases driven through the generator, and
what is measured around each (CPU, RSS, bindings)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .crash import crash_and_restart
from .esp import keys_file
from .processes import (
    Bench,
    Child,
    cpu_seconds,
    find_pid,
    log,
    pmipctl,
    proc_status,
    read_message,
    send_command,
    wait_for_control,
)
from .profiling import Profiler
from .protocol import (
    LMA_ADDRESS,
    MAX_BINDING_LIFETIME,
    NULL_ADDRESS,
    POOL_LENGTH,
    POOL_PREFIX,
    STORM_FRACTION,
    VENV_BIN,
    mag_address,
    raw6_drops,
)


def write_configs(
    bench: Bench, size: int, kind: str = "lma", extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """LMA config and policy for one size; YAML written as JSON (a subset of YAML).
    ``extra``: more config keys (the durable store's, ``durability.variants``)."""
    mags = [{"name": f"mag{m}", "address": mag_address(m)} for m in range(bench.args.mags)]
    policy = {
        "domain": "bench.pmip6d",
        "mags": mags,
        "lmas": [
            {
                "name": "lma",
                "address": LMA_ADDRESS,
                "accept_mags": [m["name"] for m in mags],
                "serve_unlisted": True,
            }
        ],
        "mobile_nodes": [],
    }
    sock = bench.tmp / f"{kind}-{size}.sock"
    config = {
        "name": "lma",
        "policy": str(bench.tmp / "policy.yml"),
        "control_socket": str(sock),
        "prefix_pool": {"prefix": POOL_PREFIX, "length": POOL_LENGTH},
        "max_binding_lifetime": MAX_BINDING_LIFETIME,
        "timestamp_validity_window_ms": bench.args.ts_window_ms,
        # The generator's MAGs only send PBUs: RFC 5847 heartbeats to them would go
        # unanswered and come back as "unmatched" in the figures.
        "heartbeat_interval": 0,
        "log_level": "warning",
        **(extra or {}),
    }
    if bench.args.storm:
        # Every PBU of the storm may wait in the LMA's socket at once (≈ 1 KiB each with
        # the kernel's bookkeeping): the agent's socket_buffer, forced past rmem_max.
        config["socket_buffer"] = min(1 << 30, max(8 << 20, storm_size(size) * 2048))
    if bench.args.dataplane:
        # Real routes (ebpf here): one per binding, through one tunnel per MAG.
        config["dataplane"] = {
            "core_interface": bench.veth_lma,
            "backend": bench.args.dataplane,
            "tunnels": "dynamic",
        }
    (bench.tmp / "policy.yml").write_text(json.dumps(policy, indent=1) + "\n")
    path = bench.tmp / f"{kind}-{size}.yml"
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path, sock


def system_ticks() -> tuple[int, int]:
    """(user+nice+system, irq+softirq) over all CPUs from /proc/stat, in clock ticks."""
    with open("/proc/stat") as f:
        cols = [int(x) for x in f.readline().split()[1:8]]
    return cols[0] + cols[1] + cols[2], cols[5] + cols[6]


class PhaseMeter:
    """CPU use of the target, the generator and everything else during one phase."""

    def __init__(self, target_pid: int, gen_pid: int) -> None:
        self.pids = (target_pid, gen_pid)
        self.hz = os.sysconf("SC_CLK_TCK")
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = [cpu_seconds(p) for p in self.pids]
        self.sys0 = system_ticks()

    def stop(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.t0, 1e-6)
        target, gen = (cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu0, strict=True))
        proc1, irq1 = system_ticks()
        procs = (proc1 - self.sys0[0]) / self.hz
        irq = (irq1 - self.sys0[1]) / self.hz
        return {
            "target_cpu_percent": round(100 * target / wall),
            "generator_cpu_percent": round(100 * gen / wall),
            "softirq_cpu_percent": round(100 * irq / wall),
            "other_cpu_percent": max(0, round(100 * (procs - target - gen) / wall)),
        }


def wait_for_quiet(bench: Bench, pids: tuple[int, ...]) -> float:
    """Wait (up to --quiet-wait s) until other processes use < --quiet-threshold % CPU.

    The host may be shared; a phase measured while something else burns CPU says little.
    Returns the last measured CPU use of other processes, in % of one CPU.
    """
    args = bench.args
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + args.quiet_wait
    announced = False
    while True:
        cpu0 = sum(cpu_seconds(p) for p in pids)
        busy0 = system_ticks()[0]
        time.sleep(0.5)
        ours = sum(cpu_seconds(p) for p in pids) - cpu0
        other = max(0.0, 100 * ((system_ticks()[0] - busy0) / hz - ours) / 0.5)
        if other < args.quiet_threshold or time.monotonic() >= deadline:
            if announced or other >= args.quiet_threshold:
                log(f"  other processes now at {other:.0f}% CPU; going on")
            return other
        if not announced:
            log(f"  waiting for the host to calm down: other processes use {other:.0f}% CPU")
            announced = True


def storm_size(size: int) -> int:
    return max(1, size // STORM_FRACTION)


def run_phases(
    bench: Bench,
    gen: Child,
    target: str,
    size: int,
    kind: str,
    rows: list[dict[str, Any]],
    meter: PhaseMeter,
    after_phase: Callable[[str], dict[str, Any]] | None = None,
    before_phase: Callable[[str], None] | None = None,
) -> None:
    """Drive every phase against ``target``; each result row is appended to ``rows`` at once."""
    args = bench.args
    phases = list(args.phases) + (["probe"] if args.probe else []) + (["storm"] * args.storm)
    for name in phases:
        if name == "probe":
            window, count = 1, min(args.probe, size)
        elif name == "storm":
            if target == NULL_ADDRESS:
                continue  # a stateless echo has nothing to storm: no baseline for it
            window = count = storm_size(size)
        else:
            window, count = args.window, size
        label = f"{size} {kind} {name}"
        log(f"{label}: {count} PBUs, window {window}")
        if args.quiet_wait > 0:
            wait_for_quiet(bench, meter.pids)
        if before_phase:
            before_phase(name)
        meter.start()
        send_command(
            gen,
            {
                "cmd": "phase",
                "phase": name,
                "target": target,
                "window": window,
                "count": count,
                # A storm's last PBU waits for all before it: seconds, not a loss.
                "timeout": max(args.timeout, 120.0) if name == "storm" else args.timeout,
                "label": label,
            },
        )
        res = read_message(gen)
        res.update(meter.stop())
        res.update({"size": size, "kind": kind})
        if after_phase:
            res.update(after_phase(name))
        lat = res["latency_ms"]
        log(
            f"{label}: {res['rate']:.0f} reg/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
            f"accepted {res['accepted']}, rejected {res['rejected']}, lost {res['lost']}; CPU% "
            f"target {res['target_cpu_percent']}, generator {res['generator_cpu_percent']}, "
            f"softirq {res['softirq_cpu_percent']}, other processes {res['other_cpu_percent']}"
        )
        rows.append(res)


def run_size(
    bench: Bench,
    size: int,
    profiler: Profiler | None,
    out: dict[str, Any],
    kind: str = "lma",
    extra: dict[str, Any] | None = None,
    *,
    baseline: bool = True,
    crash: bool = False,
) -> None:
    """Baseline and LMA for ``size`` MNs; ``out`` fills in as it goes (partial on interrupt).

    ``kind`` names the LMA variant in the rows, ``extra`` its extra config keys;
    ``crash``: after the phases, kill -9 the LMA and time its restart (``crash.py``)."""
    args = bench.args
    out.update({"size": size, "rows": []})
    # With ESP the generator seals and opens with the keys the LMA's config was given.
    esp_keys = [str(keys_file(bench.tmp))] if "signaling_security" in (extra or {}) else []
    log(f"=== {size} mobile nodes: starting the generator (encoding {size} PBUs)")
    gen = bench.spawn(
        f"generator-{size}",
        bench.gen_ns,
        bench.worker_cmd("gen", str(size), str(args.mags), *esp_keys),
        bench.cpu_gen,
        pipes=True,
    )
    ready = read_message(gen)
    log(f"generator ready: {size} PBUs of {ready['pbu_octets']} octets in {ready['encode_s']} s")
    out["generator"] = ready

    if baseline and not args.no_baseline:
        null = bench.spawn(
            "null-responder", bench.lma_ns, bench.worker_cmd("null", NULL_ADDRESS),
            bench.cpu_target, pipes=True,
        )  # fmt: skip
        read_message(null)
        try:
            meter = PhaseMeter(null.pid, gen.pid)
            run_phases(bench, gen, NULL_ADDRESS, size, "null", out["rows"], meter)
        finally:
            null.stop()
            bench.forget(null)

    config_path, sock = write_configs(bench, size, kind, extra)
    exe = VENV_BIN / "pmip6d"
    prefix = profiler.lma_prefix(size) if profiler else []
    if prefix or not exe.exists():
        cmd = [sys.executable, *prefix, "-m", "pmip6d", "lma", "-c", str(config_path)]
    else:
        cmd = [str(exe), "lma", "-c", str(config_path)]
    log_path = bench.tmp / f"{kind}-{size}.log"
    env = None
    if args.lma_pythonpath:
        # A patched source tree (e.g. with a proposal applied) instead of the installed one.
        env = dict(os.environ, PYTHONPATH=str(args.lma_pythonpath.resolve()))
        out["lma_pythonpath"] = str(args.lma_pythonpath)
    lma = bench.spawn("lma", bench.lma_ns, cmd, bench.cpu_target, log_path=log_path, env=env)
    code = None
    try:
        wait_for_control(sock, lma)
        pid = find_pid(lma, "pmip6d")
        status0 = proc_status(pid)
        log(f"LMA up: pid {pid}, RSS {status0.get('VmRSS', 0) / 1024:.1f} MB: {' '.join(cmd)}")
        out["lma_command"] = cmd
        out["lma_rss_idle_mb"] = round(status0.get("VmRSS", 0) / 1024, 1)
        raw6 = f"/proc/{pid}/net/raw6"
        drops: dict[str, int] = {}
        profiles: dict[str, Any] = {}
        out["profile"] = profiles

        def lma_before(name: str) -> None:
            if profiler:
                profiler.start(pid, f"lma-{size}-{name}")
            drops["before"] = raw6_drops(raw6)

        def lma_after(name: str) -> dict[str, Any]:
            extra: dict[str, Any] = {"lma_socket_drops": raw6_drops(raw6) - drops["before"]}
            if profiler:
                summary = profiler.stop()
                if summary:
                    profiles[name] = summary
            st = proc_status(pid)
            extra["rss_mb"] = round(st.get("VmRSS", 0) / 1024, 1)
            extra["hwm_mb"] = round(st.get("VmHWM", 0) / 1024, 1)
            status = pmipctl(sock, "status")
            extra["pmipctl_bindings"] = status["bindings"]
            extra["bindings_ok"] = status["bindings"] == size
            mark = "OK" if extra["bindings_ok"] else "MISMATCH"
            log(
                f"  after {name}: pmipctl status bindings={status['bindings']} "
                f"(expected {size}: {mark}), mobile_nodes={status['mobile_nodes']}, "
                f"pool in use={status['pool']['in_use'] if status.get('pool') else '-'}, "
                f"LMA RSS {extra['rss_mb']} MB (peak {extra['hwm_mb']} MB)"
            )
            return extra

        meter = PhaseMeter(pid, gen.pid)
        run_phases(bench, gen, LMA_ADDRESS, size, kind, out["rows"], meter, lma_after, lma_before)
        if crash:
            restart_log = bench.tmp / f"{kind}-{size}-restart.log"
            lma, out["crash"] = crash_and_restart(
                bench, lma, pid, cmd, env, sock, size, restart_log
            )
            log_path = restart_log
        out["lma_status"] = pmipctl(sock, "status")
        out["lma_counters"] = pmipctl(sock, "counters")
    finally:
        if profiler:
            profiler.stop()
        with contextlib.suppress(OSError, ValueError):
            send_command(gen, {"cmd": "quit"})
        gen.stop(wait=10)
        bench.forget(gen)
        code = lma.stop(wait=30)
        bench.forget(lma)
        out["lma_exit_code"] = code
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        problems = [ln for ln in text.splitlines() if re.search(r"WARNING|ERROR|Traceback", ln)]
        out["lma_log_problems"] = problems[:50]
        out["lma_log_problem_count"] = len(problems)
    if profiler and not out.get("profile"):
        out["profile"] = profiler.cprofile_summary(size)
    counters = out.get("lma_counters", {})
    log(f"LMA stopped (exit {code}); counters: {json.dumps(counters, sort_keys=True)}")
    if problems:
        log(f"LMA log has {len(problems)} warning/error lines, first: {problems[0]}")
