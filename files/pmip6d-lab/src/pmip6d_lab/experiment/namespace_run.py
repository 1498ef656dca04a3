"""The experiments on the namespace testbed (:mod:`pmip6d_lab.nsdomain`), all at once:
:func:`run_namespace_experiment` builds one testbed per scenario — per-MAG addresses for
scenario 1, the shared link-local address and MAC for 2 and 3; static tunnels for 1 and 2,
dynamic ones (linger 0, so every handover builds the new MAG's tunnel anew) for 3 — with
one MN per pending run, then does the runs (:func:`.handover.run_handover`). Runs with a
``done`` marker are skipped, so calling it again resumes. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import layout
from .air import Air, associate
from .handover import cn_one_segment_at_a_time, run_handover, run_summary, testbed_meta
from .labs import Lab, Station, namespace_lab, namespace_stations
from .settings import Progress, Settings, write_settings


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class ScenarioRunner:
    """One scenario on the namespace testbed: its own testbed, one MN per pending run."""

    def __init__(
        self,
        out: Path,
        scenario: int,
        settings: Settings,
        progress: Progress,
        prefix: str,
        keep_work: bool = False,
    ) -> None:
        self.out, self.scenario, self.s = out, scenario, settings
        self.progress, self.prefix, self.keep_work = progress, prefix, keep_work
        self.dom = None
        self.lab: Lab | None = None
        self.air: Air | None = None
        self.stations: dict[str, Station] = {}

    def build(self, n_mns: int) -> None:
        from ..nsdomain import build_domain

        shared = self.scenario != 1
        tunnels = "dynamic" if self.scenario == 3 else "static"
        extra: dict[str, Any] = {}
        if tunnels == "dynamic":
            # Linger 0: the tunnel goes with the last MN, so each run's handover builds it.
            dp = {"core_interface": "core0", "tunnels": "dynamic", "linger": 0}
            extra = {"lma_extra": {"dataplane": dp}, "mag_extra": {"dataplane": dp}}
        self.work = Path(tempfile.mkdtemp(prefix=f"pmip6d-exp-s{self.scenario}-"))
        self.dom = build_domain(
            self.work,
            prefix=self.prefix,
            mobile_nodes=n_mns,
            shared_addresses=shared,
            tunnels=tunnels,
            log_level="warning",
            **extra,
        )
        self.lab = namespace_lab(self.dom)
        self.stations = namespace_stations(self.dom)
        cn_one_segment_at_a_time(self.lab)
        self.linger = 0 if tunnels == "dynamic" else 5
        if self.s.roam == "inline":
            self.air = Air(self.lab)

    def associate_all(self, names: list[str]) -> dict[str, str]:
        for name in names:
            associate(self.lab, self.air, self.stations[name], "ap1")
        return {name: self.lab.wait_address(self.stations[name]) for name in names}

    def close(self) -> None:
        if self.air is not None:
            self.air.close()
        if self.dom is not None:
            self.dom.close()
            logs = layout.scenario_dir(self.out, self.scenario) / "testbed-logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in self.work.glob("*.log"):
                with contextlib.suppress(OSError):
                    (logs / log.name).write_bytes(log.read_bytes())
            if not self.keep_work:
                shutil.rmtree(self.work, ignore_errors=True)

    def testbed_meta(self) -> dict[str, Any]:
        return testbed_meta(self.lab, self.scenario, self.s, self.linger)

    def run_one(
        self,
        run: int,
        kind: str,
        mn: str,
        address: str,
        static_meta: dict[str, Any],
        settings: Settings | None = None,
    ) -> Path:
        return run_handover(
            self.lab,
            self.air,
            self.out,
            self.scenario,
            run,
            kind,
            self.stations[mn],
            address,
            static_meta,
            settings or self.s,
            "ap1",
            "ap2",
        )


def run_namespace_experiment(
    out: Path | str,
    scenarios: tuple[int, ...] = (1, 2, 3),
    runs: int = 10,
    kinds: tuple[str, ...] = ("udp", "tcp"),
    settings: Settings | None = None,
    progress: Progress = _stderr,
    prefix: str | None = None,
    keep_work: bool = False,
) -> list[Path]:
    """Run (or resume) the experiments; returns the run directories completed by this call.

    Each scenario gets its own testbed (namespaces named ``prefix`` + ``s<N>-…``) and one
    fresh MN per pending run; scenario 1 also the long runs (``Settings.long_runs``).
    Runs with a ``done`` marker are skipped.
    """
    from ..netlab import require_root

    reason = require_root()
    if reason:
        raise RuntimeError(f"the namespace runner {reason}")
    s = settings or Settings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = prefix or f"xp{os.getpid() % 100000}"
    write_settings(out, runs, scenarios, kinds, s, lab="namespaces")
    plan = {
        sc: [
            (r, k)
            for r in range(1, s.runs_of(sc, runs) + 1)
            for k in kinds
            if not layout.is_done(layout.run_dir(out, sc, r, k))
        ]
        for sc in scenarios
    }
    total = sum(len(p) for p in plan.values())
    skipped = sum(s.runs_of(sc, runs) for sc in scenarios) * len(kinds) - total
    progress(
        f"experiment → {out}: {total} runs to do"
        + (f", {skipped} already done (resumed)" if skipped else "")
    )
    done: list[Path] = []
    t0 = time.monotonic()
    for sc in scenarios:
        pending = plan[sc]
        if not pending:
            progress(f"scenario {sc}: all runs done")
            continue
        progress(
            f"scenario {sc} ({layout.SCENARIOS[sc]}): building the testbed, {len(pending)} MNs"
        )
        runner = ScenarioRunner(out, sc, s, progress, f"{base}s{sc}-", keep_work)
        try:
            tb = time.monotonic()
            runner.build(len(pending))
            names = list(runner.stations)
            addresses = runner.associate_all(names)
            static = runner.testbed_meta()
            progress(
                f"scenario {sc}: testbed up, {len(names)} MNs at AP1 with addresses "
                f"({time.monotonic() - tb:.1f} s)"
            )
            failures = 0
            for (run, kind), mn in zip(pending, names, strict=True):
                tr = time.monotonic()
                try:
                    rdir = runner.run_one(
                        run, kind, mn, addresses[mn], static, s.for_run(sc, run, runs)
                    )
                except Exception as exc:
                    failures += 1
                    rdir = layout.run_dir(out, sc, run, kind)
                    with contextlib.suppress(OSError):
                        (rdir / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
                    progress(
                        f"  s{sc} {layout.run_name(run, kind)}: FAILED ({exc}); "
                        "left incomplete, a later call redoes it"
                    )
                    if failures >= 3:
                        progress(f"scenario {sc}: 3 failures, giving up on it")
                        break
                    continue
                failures = 0
                done.append(rdir)
                left = (time.monotonic() - t0) / len(done) * (total - len(done))
                progress(
                    f"  [{len(done)}/{total}] {run_summary(rdir, mn)} "
                    f"({time.monotonic() - tr:.1f} s; elapsed "
                    f"{_clock(time.monotonic() - t0)}, ~{_clock(left)} left)"
                )
                time.sleep(s.settle_s)
        finally:
            runner.close()
    progress(f"experiment: {len(done)} runs in {_clock(time.monotonic() - t0)}")
    return done
