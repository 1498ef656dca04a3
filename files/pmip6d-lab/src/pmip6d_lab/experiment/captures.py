"""Packet captures of a run: where (:func:`capture_points`) and dumpcap started and stopped
on all of them at once."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import layout
from .labs import Host, Lab, Station


@dataclass
class Capture:
    host: str
    interface: str
    role: str
    where: Host
    """The namespace dumpcap runs in (this machine's dumpcap, this machine's file)."""
    file: str
    proc: subprocess.Popen | None = None
    received: int | None = None
    dropped: int | None = None

    def argv(self, directory: Path, snaplen: int) -> list[str]:
        return self.where.argv(
            *("dumpcap", "-q", "-P", "-s", str(snaplen), "-i", self.interface),
            *("-w", str(directory / self.file)),
        )

    def row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "host": self.host,
            "interface": self.interface,
            "role": self.role,
            "namespace": self.where.netns,
            "received": self.received,
            "dropped": self.dropped,
        }


def capture_points(lab: Lab, st: Station) -> list[Capture]:
    """Every MAG's access and core interface (and the link its APs' syslog arrives on, when
    that is another), the LMA's core, the MN's and the CN's interface."""
    caps = [
        Capture(name, iface, role, mag.host, layout.capture_name(name, iface))
        for name, mag in lab.mags.items()
        for iface, role in (
            (mag.access_interface, "access"),
            (mag.core_interface, "core"),
            (
                mag.syslog_interface if mag.syslog_interface != mag.access_interface else None,
                "syslog",
            ),
        )
        if iface
    ]
    lma = lab.lma
    caps += [
        Capture(
            lma.name,
            lma.core_interface,
            "core",
            lma.host,
            layout.capture_name(lma.name, lma.core_interface),
        ),
        Capture(st.name, st.interface, "mn", st.host, layout.capture_name(st.name, st.interface)),
        Capture(
            lab.cn.name,
            lab.cn.interface,
            "cn",
            lab.cn.host,
            layout.capture_name(lab.cn.name, lab.cn.interface),
        ),
    ]
    return caps


_DUMPCAP_STATS = re.compile(r"received/dropped on interface '[^']*': (\d+)/(\d+)")


def start_captures(captures: list[Capture], directory: Path, snaplen: int) -> None:
    """Start dumpcap on every capture point at once; return when all are capturing."""
    for cap in captures:
        cap.proc = subprocess.Popen(
            cap.argv(directory, snaplen),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    deadline = time.monotonic() + 15
    for cap in captures:
        path = directory / cap.file
        while not (path.exists() and path.stat().st_size > 0):
            if cap.proc.poll() is not None:
                raise RuntimeError(
                    f"dumpcap on {cap.interface} of {cap.host} ({cap.where.netns}): "
                    f"{cap.proc.stderr.read().strip()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"dumpcap on {cap.interface} of {cap.host} not started")
            time.sleep(0.02)
    time.sleep(0.15)


def stop_captures(captures: list[Capture]) -> None:
    for cap in captures:
        if cap.proc is not None and cap.proc.poll() is None:
            cap.proc.send_signal(signal.SIGINT)
    for cap in captures:
        if cap.proc is None:
            continue
        try:
            _unused, err = cap.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            cap.proc.kill()
            _unused, err = cap.proc.communicate()
        match = _DUMPCAP_STATS.search(err or "")
        if match:
            cap.received, cap.dropped = int(match.group(1)), int(match.group(2))
