"""The traffic of a run: the iperf3 flows (:func:`traffic_plan`, pure) and the helpers that
start and stop them.

Every iperf3 server runs on the MN and every client on the CN, so the MN only answers:
the UDP stream MN → CN is iperf3's reverse mode (``-R``: the server on the MN sends, from
its port, to the client's). The flows: ``udp`` CN → MN, ``udpup`` MN → CN, ``tcp`` CN → MN."""

from __future__ import annotations

import math
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .labs import Host
from .settings import Settings


@dataclass
class Flow:
    """One iperf3 flow of a run: its server on the MN, its client on the CN."""

    kind: str
    """udp | udpup | tcp (:data:`.layout.FLOWS`)"""
    port: int
    rate_bps: int
    length: int | None
    after_s: float
    duration: float
    """What the client is asked to send for (UDP: in datagrams, ``blocks``)."""
    blocks: int | None
    server: list[str]
    client: list[str]
    client_output: str
    server_output: str
    proc: subprocess.Popen | None = None
    server_proc: subprocess.Popen | None = None
    client_exit: str | None = None
    server_exit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def planned_end(self, started: float) -> float:
        return started + (math.ceil(self.duration) if self.kind == "tcp" else self.duration)

    @property
    def direction(self) -> str:
        return "mn->cn" if self.kind == "udpup" else "cn->mn"

    def meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "direction": self.direction,
            "port": self.port,
            "rate_bps": self.rate_bps,
            "length": self.length,
            "blocks": self.blocks,
            "udp_counters_64bit": False,
            "after_s": self.after_s,
            "client_exit": self.client_exit,
            "server_exit": self.server_exit,
            "command": self.client,
            "client_output": self.client_output,
            "server_output": self.server_output,
        }


def traffic_plan(kind: str, s: Settings, address: str) -> list[Flow]:
    """The iperf3 flows of a run of ``kind`` to the MN's ``address`` (pure)."""
    flows = []
    for i, flow in enumerate(layout.flows(kind, s.udp_uplink)):
        port = s.port + i
        udp = flow in ("udp", "udpup")
        after = s.udp_after_s if udp else s.tcp_after_s
        duration = s.before_s + after
        server = ["iperf3", "-s", "-1", "--json", "-p", str(port)]
        if udp:
            blocks = max(1, round(s.udp_rate_bps / (8 * s.udp_length) * duration))
            args = [
                *("-u", "-b", str(s.udp_rate_bps), "-l", str(s.udp_length)),
                *("-k", str(blocks)),
                *(("-R",) if flow == "udpup" else ()),
            ]
        else:
            blocks = None
            args = ["-t", str(math.ceil(duration)), "--fq-rate", str(s.tcp_rate_bps)]
        flows.append(
            Flow(
                kind=flow,
                port=port,
                rate_bps=s.udp_rate_bps if udp else s.tcp_rate_bps,
                length=s.udp_length if udp else None,
                after_s=after,
                duration=duration,
                blocks=blocks,
                server=server,
                client=["iperf3", "-c", address, "-p", str(port), "--json", *args],
                client_output=layout.iperf3_file(kind, flow, "client"),
                server_output=layout.iperf3_file(kind, flow, "server"),
            )
        )
    return flows


def interrupt(proc: subprocess.Popen, wait: float = 3.0) -> str:
    """Stop an iperf3 politely (it then still prints its JSON); 'completed' if it had exited."""
    if proc.poll() is not None:
        return "completed"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed"
    return "interrupted"


def wait_listening(host: Host, ports: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    want = set(ports)
    while time.monotonic() < deadline:
        out = host.run("ss", "-Hltn", check=False).stdout
        listening = {int(m) for m in re.findall(r":(\d+)\s", out)}
        if want <= listening:
            return
        time.sleep(0.02)
    raise TimeoutError(f"iperf3 server in {host.netns} is not listening on {sorted(want)}")
