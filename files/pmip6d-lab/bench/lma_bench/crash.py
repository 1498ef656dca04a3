"""The durable binding store under load: its cost (durability on vs off in the same run)
and the time from ``kill -9`` of an LMA holding N bindings to it serving them all again.

``--durable both`` runs the LMA twice per size, first with ``durable_state: false``
(saved only at a clean stop), then with ``durable_state: true`` (every change
fsync'd before its PBA leaves), both with a ``state_file`` on the same disk as
the run's temporary folder; the table's ``on/off`` rows compare their rates.
``--crash`` then SIGKILLs the durable LMA after its phases, starts it again
with the same configuration and polls its control socket (every 10 ms, no
subprocess in the loop) until it answers and reports all N bindings, and, with
``--dataplane``, all N routes installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pmip6d.control_client import ControlClient, ControlError

from .processes import Bench, Child, log


def variants(bench: Bench, size: int, mode: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind, extra LMA config) of each LMA run of one size for ``--durable``."""

    # Each its own folder: the second must not start with the bindings the first saved.
    def state(kind: str) -> str:
        return str(bench.tmp / f"state-{kind}-{size}" / "lma.state")

    off = ("lma-off", {"state_file": state("lma-off"), "durable_state": False})
    on = ("lma-on", {"state_file": state("lma-on"), "durable_state": True})
    return {"none": [("lma", {})], "off": [off], "on": [on], "both": [off, on]}[mode]


def _call(sock: Path, command: str) -> Any:
    client = ControlClient(sock)
    try:
        return client.call(command)
    finally:
        client.close()


def _kernel_routes(ns: str, pool_marker: str = "2001:db8:") -> int:
    out = subprocess.run(
        ["ip", "-n", ns, "-6", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if line.startswith(pool_marker))


def crash_and_restart(
    bench: Bench,
    lma: Child,
    pid: int,
    cmd: list[str],
    env: dict[str, str] | None,
    sock: Path,
    size: int,
    log_path: Path,
) -> tuple[Child, dict[str, Any]]:
    """SIGKILL the LMA, start it again; returns the new LMA and the figures."""
    routes_wanted = size if bench.args.dataplane else 0
    # What the store did during the phases (the restarted LMA's counters start at 0).
    store = {k: v for k, v in _call(sock, "counters").items() if k.startswith("store.")}
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)  # our own LMA, by its pid
    lma.proc.wait(30)
    bench.forget(lma)
    killed = time.monotonic()
    new = bench.spawn("lma", bench.lma_ns, cmd, bench.cpu_target, log_path=log_path, env=env)
    first_answer = None
    status: dict[str, Any] = {}
    deadline = killed + 300
    while time.monotonic() < deadline:
        if new.proc.poll() is not None:
            raise RuntimeError(f"restarted LMA exited with {new.proc.returncode}; see {log_path}")
        try:
            status = _call(sock, "status")
        except (ControlError, OSError):
            time.sleep(0.01)
            continue
        if first_answer is None:
            first_answer = time.monotonic()
        dp = status.get("dataplane") or {}
        if status.get("bindings") == size and (
            not routes_wanted
            or (dp.get("routes_installed") == routes_wanted and not dp.get("pending"))
        ):
            break
        time.sleep(0.01)
    ready = time.monotonic()
    counters = _call(sock, "counters")
    figures = {
        "kill_to_answer_s": round((first_answer or ready) - started, 3),
        "kill_to_serving_s": round(ready - started, 3),
        "bindings": status.get("bindings"),
        "restored": counters.get("restored"),
        "routes_installed": (status.get("dataplane") or {}).get("routes_installed"),
        "kernel_routes": _kernel_routes(bench.lma_ns) if routes_wanted else None,
        "complete": status.get("bindings") == size,
        "store_before_kill": store,
    }
    log(f"store before the kill: {store}")
    log(
        f"kill -9 → LMA answering {figures['kill_to_answer_s']} s, serving all "
        f"{figures['bindings']} bindings (routes {figures['routes_installed']}, kernel "
        f"{figures['kernel_routes']}) {figures['kill_to_serving_s']} s"
    )
    return new, figures
