"""The benchmark's namespaces and child processes (the LMA under test, the workers), and
talking to them."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .protocol import LMA_ADDRESS, NULL_ADDRESS, VENV_BIN, mag_address

SCRIPT = Path(__file__).resolve().parents[1] / "bench_lma.py"
"""The workers are this same command line in ``--worker`` mode, run inside a namespace."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop and clean up like Ctrl-C does."""


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", flush=True)


def sh(*cmd: str, check: bool = True, input_text: str | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input_text, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu``."""
    if cpu is None:
        return None

    def _pin() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})

    return _pin


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM (kB) of a process."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _unused, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Child:
    """A process this run started; stopped by its own pid only."""

    name: str
    proc: subprocess.Popen
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.proc.returncode


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    lma_ns: str = ""
    gen_ns: str = ""
    veth_lma: str = ""
    veth_gen: str = ""
    children: list[Child] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    cpu_target: int | None = None
    cpu_gen: int | None = None

    def __post_init__(self) -> None:
        pid = os.getpid()
        self.lma_ns = f"pmipbench-lma-{pid}"
        self.gen_ns = f"pmipbench-gen-{pid}"
        self.veth_lma = f"pbl{pid}"
        self.veth_gen = f"pbg{pid}"
        cpus = sorted(os.sched_getaffinity(0))
        if not self.args.no_pin and len(cpus) >= 2:
            self.cpu_gen, self.cpu_target = cpus[0], cpus[1]

    # ------------------------------------------------------------------ network

    def setup_network(self) -> None:
        log(f"namespaces {self.lma_ns} / {self.gen_ns}, veth {self.veth_lma}<->{self.veth_gen}")
        for ns in (self.lma_ns, self.gen_ns):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
        sh(
            "ip", "link", "add", "name", self.veth_lma, "netns", self.lma_ns, "type", "veth",
            "peer", "name", self.veth_gen, "netns", self.gen_ns,
        )  # fmt: skip
        lma_batch = [
            "link set lo up",
            f"link set {self.veth_lma} up",
            f"addr add {LMA_ADDRESS}/64 dev {self.veth_lma} nodad",
            f"addr add {NULL_ADDRESS}/64 dev {self.veth_lma} nodad",
        ]
        gen_batch = ["link set lo up", f"link set {self.veth_gen} up"]
        gen_batch += [
            f"addr add {mag_address(m)}/64 dev {self.veth_gen} nodad" for m in range(self.args.mags)
        ]
        sh("ip", "-n", self.lma_ns, "-batch", "-", input_text="\n".join(lma_batch) + "\n")
        sh("ip", "-n", self.gen_ns, "-batch", "-", input_text="\n".join(gen_batch) + "\n")
        # Static neighbour entries: no NDP in the measured path, nothing queued on a miss.
        lma_mac = self._mac(self.lma_ns, self.veth_lma)
        gen_mac = self._mac(self.gen_ns, self.veth_gen)
        lma_neigh = [
            f"neigh replace {mag_address(m)} lladdr {gen_mac} dev {self.veth_lma} nud permanent"
            for m in range(self.args.mags)
        ]
        gen_neigh = [
            f"neigh replace {addr} lladdr {lma_mac} dev {self.veth_gen} nud permanent"
            for addr in (LMA_ADDRESS, NULL_ADDRESS)
        ]
        sh("ip", "-n", self.lma_ns, "-batch", "-", input_text="\n".join(lma_neigh) + "\n")
        sh("ip", "-n", self.gen_ns, "-batch", "-", input_text="\n".join(gen_neigh) + "\n")

    @staticmethod
    def _mac(ns: str, dev: str) -> str:
        return json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", dev))[0]["address"]

    def teardown(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(wait=5)
        for ns in self.namespaces:
            # Anything still in a namespace of this run was started by this run.
            for pid_text in sh("ip", "netns", "pids", ns, check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_text), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        if self.args.keep_tmp:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ processes

    def spawn(
        self,
        name: str,
        ns: str,
        cmd: list[str],
        cpu: int | None,
        *,
        pipes: bool = False,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        stderr: Any = open(log_path, "w") if log_path else None  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd],
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else stderr,
                stderr=stderr,
                text=True,
                start_new_session=True,
                preexec_fn=pin(cpu),
                env=env,
            )
        finally:
            if stderr is not None:
                stderr.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def forget(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)

    def worker_cmd(self, *extra: str) -> list[str]:
        return [sys.executable, "-u", str(SCRIPT), "--worker", *extra]


def read_message(child: Child, echo: bool = True) -> dict[str, Any]:
    """Next JSON line from a worker; progress lines are printed and skipped."""
    assert child.proc.stdout is not None
    while True:
        line = child.proc.stdout.readline()
        if not line:
            code = child.proc.wait(5)
            raise RuntimeError(f"{child.name} exited ({code}) without an answer")
        msg = json.loads(line)
        if msg.get("type") == "progress":
            if echo:
                log(
                    f"  {msg['label']}: {msg['done']}/{msg['n']} "
                    f"({msg['rate']}/s now, lost {msg['lost']}, rejected {msg['rejected']})"
                )
            continue
        return msg


def send_command(child: Child, cmd: dict[str, Any]) -> None:
    assert child.proc.stdin is not None
    child.proc.stdin.write(json.dumps(cmd) + "\n")
    child.proc.stdin.flush()


def pmipctl(sock: Path, command: str) -> dict[str, Any]:
    exe = VENV_BIN / "pmipctl"
    if exe.exists():
        cmd = [str(exe)]
    else:
        cmd = [sys.executable, "-c", "import sys, pmip6d.cli as c; sys.exit(c.pmipctl_main())"]
    out = sh(*cmd, "-s", str(sock), "--json", command)
    return json.loads(out)


def wait_for_control(sock: Path, child: Child, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"LMA exited with {child.proc.returncode}; see {child.log_path}")
        if sock.exists():
            try:
                pmipctl(sock, "status")
                return
            except (RuntimeError, json.JSONDecodeError):
                pass
        time.sleep(0.1)
    raise RuntimeError("LMA control socket did not come up")


def find_pid(child: Child, needle: str) -> int:
    """The pid of the daemon itself (``ip netns exec`` execs, so normally the child's own)."""
    if needle in cmdline(child.pid):
        return child.pid
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{child.pid}/task"):
            with open(f"/proc/{child.pid}/task/{task}/children") as f:
                for pid in f.read().split():
                    if needle in cmdline(int(pid)):
                        return int(pid)
    return child.pid
