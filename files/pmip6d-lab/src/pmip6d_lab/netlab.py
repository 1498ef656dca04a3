"""A small network lab on one Linux host: namespaces, veths, bridges, agents as processes.

Used by the namespace tests, the benchmarks and the quick demo. Every name
carries a per-run prefix so concurrent runs do not collide, and ``close()``
removes what was made even when something failed half-way. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pmip6d.cli import ControlClient


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = ""
):
    """Poll ``predicate`` until it returns something truthy; return that, or fail with ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout} s waiting for {what or predicate}; last value {last!r}"
    )


class Namespace:
    def __init__(self, lab: NetLab, short: str, dad: bool = False) -> None:
        """``dad``: keep Duplicate Address Detection (a plain host, such as an MN);
        infrastructure namespaces turn it off so their addresses work at once."""
        self.lab = lab
        self.short = short
        self.name = f"{lab.prefix}{short}"
        sh("ip", "netns", "add", self.name)
        self.run("ip", "link", "set", "lo", "up")
        if not dad:
            self.sysctl("net.ipv6.conf.all.accept_dad", "0")
            self.sysctl("net.ipv6.conf.default.accept_dad", "0")

    def run(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *args, check=check, timeout=timeout)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")

    def addr(self, ifname: str, cidr: str) -> None:
        self.run("ip", "addr", "add", cidr, "dev", ifname, "nodad")


class Agent:
    """A pmip6d process inside a namespace, reachable through its control socket."""

    def __init__(self, ns: Namespace, role: str, config: Path, socket: Path, log: Path) -> None:
        self.ns, self.role, self.config, self.socket, self.log = ns, role, config, socket, log
        self._log_file = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = ns.popen(
            sys.executable,
            "-m",
            "pmip6d",
            role,
            "-c",
            str(config),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        # Generous: under emulation (the stock-kernel stage, QEMU without KVM) an agent
        # takes ~10 s to start; a healthy one answers long before, a dead one is seen at once.
        wait_for(self._ready, timeout=60, what=f"{role} in {ns.name} to answer on {socket}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.role} exited with {self.proc.returncode}:\n{self.log.read_text()}"
            )
        try:
            return self.call("ping") == "pong"
        except OSError:
            return False

    def call(self, cmd: str, **args: Any) -> Any:
        client = ControlClient(self.socket)
        try:
            return client.call(cmd, **args)
        finally:
            client.close()

    def bindings(self, **args: Any) -> list[dict]:
        return self.call("bindings", **args)

    def counters(self) -> dict[str, int]:
        return self.call("counters")

    def signal(self, sig: int) -> None:
        # `ip netns exec` execs the command, so the Popen pid is the agent's own.
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer: the agent saves and removes nothing."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


class NetLab:
    def __init__(self, workdir: Path, prefix: str | None = None) -> None:
        self.workdir = workdir
        self.prefix = prefix or f"p{os.getpid() % 100000}-"
        self.namespaces: dict[str, Namespace] = {}
        self.agents: list[Agent] = []
        self.captures: list[subprocess.Popen] = []

    def ns(self, short: str, dad: bool = False) -> Namespace:
        if short not in self.namespaces:
            self.namespaces[short] = Namespace(self, short, dad)
        return self.namespaces[short]

    def veth(self, a: Namespace, a_if: str, b: Namespace, b_if: str) -> None:
        sh(
            "ip",
            "link",
            "add",
            a_if,
            "netns",
            a.name,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name,
        )
        a.run("ip", "link", "set", a_if, "up")
        b.run("ip", "link", "set", b_if, "up")

    def bridge(self, ns: Namespace, name: str) -> None:
        ns.run("ip", "link", "add", name, "type", "bridge")
        ns.run("ip", "link", "set", name, "up")

    def enslave(self, ns: Namespace, port: str, bridge: str) -> None:
        ns.run("ip", "link", "set", port, "master", bridge)

    def agent(self, ns: Namespace, role: str, config: Path, socket: Path) -> Agent:
        agent = Agent(ns, role, config, socket, self.workdir / f"{ns.short}-{role}.log")
        self.agents.append(agent)
        return agent

    def capture(self, ns: Namespace, ifname: str, path: Path, bpf: str) -> subprocess.Popen:
        """Start dumpcap in ``ns``; returns once it is really capturing."""
        proc = ns.popen(
            "dumpcap",
            "-q",
            "-i",
            ifname,
            "-f",
            bpf,
            "-w",
            str(path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.captures.append(proc)
        wait_for(
            lambda: path.exists() and path.stat().st_size > 0,
            timeout=15,
            what=f"dumpcap on {ifname} in {ns.name}",
        )
        time.sleep(0.3)
        return proc

    @staticmethod
    def stop_capture(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def close(self) -> None:
        for agent in self.agents:
            with contextlib.suppress(Exception):
                agent.stop()
        for proc in self.captures:
            with contextlib.suppress(Exception):
                self.stop_capture(proc)
        for ns in self.namespaces.values():
            sh("ip", "netns", "pids", ns.name, check=False)
            for pid in sh("ip", "netns", "pids", ns.name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns.name, check=False)


def require_root() -> str | None:
    """None when namespace tests can run here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if sh("ip", "netns", "list", check=False).returncode != 0:
        return "iproute2 cannot manage network namespaces here"
    return None
