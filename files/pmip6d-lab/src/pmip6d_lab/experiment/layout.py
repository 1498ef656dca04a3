"""The run layout on disk (described in the package docstring): names, meta.json, the marker.

Pure file handling, shared by the runner (which writes runs), the analysis
(which reads them) and the report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 1
META = "meta.json"
DONE = "done"
IPERF_CLIENT = "iperf3-client.json"
IPERF_SERVER = "iperf3-server.json"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT = "report.md"
DURATIONS_JSON = "durations.json"
"""The main job's record of itself (scripts/lab.sh), beside the report, which states it."""
FIGURES = {
    "fig5": "fig5-udp-throughput-scenario1.png",
    "fig6": "fig6-udp-throughput-scenario2.png",
    "fig7": "fig7-udp-latency-scenarios1-2.png",
    "fig8": "fig8-tcp-time-sequence-scenario1.png",
    "fig9": "fig9-tcp-time-sequence-scenario2.png",
    "fig10": "fig10-udp-latency-scenarios2-3.png",
    "phases": "table2-phases-scenario2.png",
}
"""The report's figures (drawn by :mod:`.plots`), beside it: key → file name."""

KINDS = ("udp", "tcp", "both")
"""What a run's traffic is: a UDP stream, a TCP transfer, or both at once through the same
handover (two iperf3 flows on two ports: one handover measures both)."""
FLOWS = ("udp", "udpup", "tcp")
"""The iperf3 flows a run may carry: the UDP stream CN → MN, the UDP stream MN → CN (the
direction that depends on the MN's default router) and the TCP transfer CN → MN."""
SCENARIOS = {
    1: "per-MAG link-local address and MAC, static tunnels",
    2: "one link-local address and MAC on every MAG, static tunnels",
    3: "one link-local address and MAC on every MAG, dynamic tunnels",
}
"""The paper's three scenarios (Section IV)."""

CAPTURE_ROLES = ("access", "core", "mn", "cn")
"""What a capture's interface is: a MAG's access link, a MAG's or the LMA's core link,
the MN's own interface, the CN's interface."""

_RUN_DIR = re.compile(r"^run-(\d+)-(udp|tcp|both)$")
_SCENARIO_DIR = re.compile(r"^scenario-(\d+)$")


def flows(kind: str, uplink: bool = True) -> tuple[str, ...]:
    """The traffic flows of a run of ``kind``: a UDP run carries the stream CN → MN and,
    with ``uplink``, the one MN → CN; a TCP run the transfer; a run of kind both all of them."""
    out: list[str] = []
    if has_udp(kind):
        out += ["udp", "udpup"] if uplink else ["udp"]
    if has_tcp(kind):
        out.append("tcp")
    return tuple(out)


def has_udp(kind: str | None) -> bool:
    return kind in ("udp", "both")


def has_tcp(kind: str | None) -> bool:
    return kind in ("tcp", "both")


def iperf3_file(kind: str, flow: str, side: str) -> str:
    """iperf3's JSON output of ``flow`` (udp | udpup | tcp) on ``side`` (client | server) in a
    run of ``kind``: ``iperf3-client.json`` for the main flow of a one-kind run (the name runs
    had before the MN → CN stream), ``iperf3-udpup-client.json``, ``iperf3-tcp-client.json`` …
    otherwise."""
    if kind != "both" and flow == kind:
        return IPERF_CLIENT if side == "client" else IPERF_SERVER
    return f"iperf3-{flow}-{side}.json"


def scenario_dir(out: Path, scenario: int) -> Path:
    return Path(out) / f"scenario-{scenario}"


def run_name(run: int, kind: str) -> str:
    return f"run-{run:02d}-{kind}"


def run_dir(out: Path, scenario: int, run: int, kind: str) -> Path:
    return scenario_dir(out, scenario) / run_name(run, kind)


def capture_name(host: str, interface: str) -> str:
    return f"{host}-{interface}.pcap"


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).exists()


def mark_done(path: Path) -> None:
    """Last step of a run: everything else is on disk (and synced) before the marker."""
    path = Path(path)
    for item in path.iterdir():
        if item.is_file():
            with open(item, "rb") as f:
                os.fsync(f.fileno())
    (path / DONE).write_text("")


def reset_run(path: Path) -> None:
    """Remove what an interrupted run left, so it can be redone from scratch."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    tmp = Path(path) / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=False) + "\n")
    tmp.replace(Path(path) / META)


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / META).read_text())


ESP_SAS = "esp-sas.json"
"""The run's ESP SAs (keys included), beside the captures they open; never in meta.json."""


def write_esp_sas(path: Path, sas: list[dict[str, Any]]) -> None:
    """Only the owner may read it (the lab's signaling keys), and only when there are SAs."""
    if not sas:
        return
    target = Path(path) / ESP_SAS
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(sas, f, indent=1)
        f.write("\n")


def read_esp_sas(path: Path) -> list[dict[str, Any]]:
    target = Path(path) / ESP_SAS
    return json.loads(target.read_text()) if target.exists() else []


@dataclass(frozen=True, slots=True)
class RunRef:
    scenario: int
    run: int
    kind: str
    path: Path
    done: bool

    @property
    def run_id(self) -> str:
        return f"s{self.scenario}/{run_name(self.run, self.kind)}"


def find_runs(out: Path, include_incomplete: bool = False) -> list[RunRef]:
    """Every run directory under ``out``, sorted by scenario, run number, kind (udp first)."""
    refs = []
    out = Path(out)
    if not out.is_dir():
        return refs
    for sdir in out.iterdir():
        m = _SCENARIO_DIR.match(sdir.name)
        if not m or not sdir.is_dir():
            continue
        for rdir in sdir.iterdir():
            r = _RUN_DIR.match(rdir.name)
            if not r or not rdir.is_dir():
                continue
            done = is_done(rdir)
            if done or include_incomplete:
                refs.append(RunRef(int(m.group(1)), int(r.group(1)), r.group(2), rdir, done))
    return sorted(refs, key=lambda x: (x.scenario, x.run, KINDS.index(x.kind)))
