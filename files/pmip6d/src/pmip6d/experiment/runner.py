"""Run the paper's experiments on the namespace testbed (:mod:`pmip6d.nsdomain`), writing the
run layout of :mod:`pmip6d.experiment`.

Per scenario one testbed is built — per-MAG addresses for scenario 1, the shared
link-local address and MAC for 2 and 3; static tunnels for 1 and 2, dynamic
ones (linger 0, so every handover builds MAG2's tunnel anew) for 3 — with one
fresh mobile node per pending run: all of them associate at AP1 and configure
their address by SLAAC first, then each run takes its own MN through one
handover AP1 → AP2, so every handover starts from the same clean state (one
default router, learnt at AP1). Per run:

1. captures start on every MAG's access and core interface, the LMA's core
   interface, the MN's and the CN's interface (``dumpcap``, libpcap format);
2. ``iperf3`` runs CN → MN: UDP at a constant rate in small datagrams, or a
   TCP bulk transfer paced to a fixed rate (``--fq-rate``);
3. ``before_s`` into the traffic the MN's radio link moves to AP2 and AP2
   reports the reassociation by syslog, AP1 the roam (the exact lines of
   ``pmip6d-ap``);
4. the traffic runs ``after_s`` more; an iperf3 that cannot finish (in
   scenario 1 the MN's uplink may stay broken: its old default router is gone)
   is interrupted — the *observation window* is capped, the analysis then
   reports a stall as "> window";
5. captures stop, the MN leaves AP2 (disassociation), ``meta.json`` and the
   ``done`` marker are written.

``roam="inline"`` (default) moves the radio link with a netlink request
prepared in advance and sends the syslog lines from sockets opened in advance,
as an AP's firmware would; ``roam="tool"`` calls ``Domain.roam`` (the
``pmip6d-ap`` command), whose first syslog line leaves ≈ 100 ms after the link
moved (the tool imports pyroute2 only then), which the results then show as
``move_to_l2_ms``.

Runs that have a ``done`` marker are skipped, so an interrupted experiment is
resumed by running it again; an incomplete run directory is wiped and redone.
Needs root.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import layout

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Settings:
    udp_rate_bps: int = 1_000_000
    udp_length: int = 125
    """iperf3 UDP payload octets: 125 at 1 Mbit/s is one datagram per millisecond."""
    tcp_rate_bps: int = 20_000_000
    """Pacing rate of the TCP sender (``iperf3 --fq-rate``), about an 802.11g link's."""
    before_s: float = 1.0
    """Traffic before the move."""
    udp_after_s: float = 1.5
    tcp_after_s: float = 3.0
    """Observation after the move: the cap on what a stall can be measured as."""
    grace_s: float = 0.5
    """How long iperf3 may take past its end before it is interrupted."""
    snaplen: int = 256
    port: int = 5201
    roam: str = "inline"
    settle_s: float = 0.3
    """Pause between runs (lets periodic RAs and timers of the previous run pass)."""


# --------------------------------------------------------------------------- the air: APs


class Air:
    """The emulated APs' radio side, driven in-process (see ``roam`` in the module doc)."""

    def __init__(self, dom) -> None:
        from pyroute2 import NetNS
        from pyroute2 import netns as pyroute2_netns

        from ..emulated_ap import load_aps

        self.dom = dom
        self.aps = load_aps(dom.aps_file)
        netns = {ap.netns for ap in self.aps.values()}
        if len(netns) != 1 or None in netns:
            raise RuntimeError("inline roaming needs every AP bridge in one named namespace")
        self.netns = netns.pop()
        self.ipr = NetNS(self.netns)
        self.sockets: dict[str, socket.socket] = {}
        for name, ap in self.aps.items():
            family = socket.AF_INET6 if ":" in ap.syslog_to else socket.AF_INET
            target = ap.syslog_netns or ap.netns
            if target.startswith("pid:"):
                target = f"/proc/{target[4:]}/ns/net"
            sock = pyroute2_netns.create_socket(target, family, socket.SOCK_DGRAM)
            if ap.syslog_from:
                sock.bind((ap.syslog_from, 0))
            self.sockets[name] = sock
        self.bridges = {name: self._index(ap.bridge) for name, ap in self.aps.items()}

    def _index(self, ifname: str) -> int:
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise RuntimeError(f"no {ifname} in {self.netns}")
        return found[0]

    def send(self, ap: str, line: str) -> float:
        cfg = self.aps[ap]
        self.sockets[ap].sendto(line.encode(), (cfg.syslog_to, cfg.syslog_port))
        return time.time()

    def associate(self, mn: str, ap: str) -> dict[str, float]:
        from ..emulated_ap import associated

        node = self.dom.mns[mn]
        self.ipr.link("set", index=self._index(node.port), master=self.bridges[ap], state="up")
        moved = time.time()
        node.ap = ap
        sent = self.send(ap, associated(self.aps[ap], _mac(node.mac), node.name.upper()))
        return {"moved_at": moved, "assoc_sent_at": sent}

    def roam(self, mn: str, dst: str) -> dict[str, Any]:
        """What ``pmip6d-ap roam`` does: new bridge, Reassociated from the new AP, Roamed from
        the old one; the port is looked up and the lines' sockets opened beforehand."""
        from ..emulated_ap import associated, roamed

        node = self.dom.mns[mn]
        src = node.ap
        index = self._index(node.port)
        started = time.time()
        self.ipr.link("set", index=index, master=self.bridges[dst])
        moved = time.time()
        node.ap = dst
        station = _mac(node.mac)
        reassoc = self.send(
            dst, associated(self.aps[dst], station, node.name.upper(), reassociation=True)
        )
        roamed_at = self.send(src, roamed(self.aps[src], station, self.aps[dst]))
        return {
            "move_started_at": started,
            "moved_at": moved,
            "reassoc_sent_at": reassoc,
            "roamed_sent_at": roamed_at,
        }

    def disassociate(self, mn: str) -> None:
        from ..emulated_ap import deauthenticated

        node = self.dom.mns[mn]
        ap = node.ap
        self.ipr.link("set", index=self._index(node.port), master=0, state="down")
        node.ap = None
        self.send(ap, deauthenticated(self.aps[ap], _mac(node.mac)))

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.ipr.close()


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


# --------------------------------------------------------------------------- captures


@dataclass
class Capture:
    host: str
    interface: str
    role: str
    namespace: str
    file: str
    proc: subprocess.Popen | None = None
    received: int | None = None
    dropped: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "host": self.host,
            "interface": self.interface,
            "role": self.role,
            "namespace": self.namespace,
            "received": self.received,
            "dropped": self.dropped,
        }


_DUMPCAP_STATS = re.compile(r"received/dropped on interface '[^']*': (\d+)/(\d+)")


def start_captures(captures: list[Capture], directory: Path, snaplen: int) -> None:
    """Start dumpcap on every capture point at once; return when all are capturing."""
    for cap in captures:
        cap.proc = subprocess.Popen(
            [
                *("ip", "netns", "exec", cap.namespace, "dumpcap", "-q", "-P"),
                *("-s", str(snaplen), "-i", cap.interface, "-w", str(directory / cap.file)),
            ],
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
                    f"dumpcap on {cap.interface} in {cap.namespace}: "
                    f"{cap.proc.stderr.read().strip()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"dumpcap on {cap.interface} in {cap.namespace} not started")
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


# --------------------------------------------------------------------------- helpers


def _interrupt(proc: subprocess.Popen, wait: float = 3.0) -> str:
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


def _wait_listening(ns, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = ns.run("ss", "-Hltn", f"sport = :{port}", check=False).stdout
        if out.strip():
            return
        time.sleep(0.02)
    raise TimeoutError(f"iperf3 server in {ns.name} is not listening on {port}")


def _link_addresses(ns, ifname: str) -> dict[str, Any]:
    info = json.loads(ns.run("ip", "-j", "addr", "show", "dev", ifname).stdout or "[]")
    if not info:
        return {}
    addrs = [a for a in info[0].get("addr_info", []) if a.get("local")]
    return {
        "mac": info[0].get("address"),
        "link_local": [a["local"] for a in addrs if a.get("scope") == "link"],
        "addresses": [a["local"] for a in addrs if a.get("scope") == "global"],
    }


def _tunnels_to(agent, address: str | None = None) -> int:
    """How many of the agent's tunnels are up (to ``address`` if given)."""
    status = agent.call("status")
    rows = (status.get("dataplane") or {}).get("tunnels") or []
    return sum(
        1 for r in rows if r.get("installed", True) and (address is None or r["address"] == address)
    )


def _fmt(value: float | None, unit: str = "ms", digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- one scenario


class ScenarioRunner:
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
        self.air: Air | None = None

    # ------------------------------------------------------------------ testbed
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
        # The CN sends TCP one segment at a time (as a host behind a Wi-Fi link would see it),
        # not in 27 kB GSO bursts every 11 ms that would blur the time-sequence.
        self.dom.lab.ns("cn").run("ip", "link", "set", "dev", "eth0", "gso_max_segs", "1")
        self.tunnels = tunnels
        self.linger = 0 if tunnels == "dynamic" else 5
        if self.s.roam == "inline":
            self.air = Air(self.dom)

    def associate_all(self, names: list[str]) -> dict[str, str]:
        dom = self.dom
        for name in names:
            if self.air is not None:
                self.air.associate(name, "ap1")
            else:
                dom.associate(name, "ap1")
        return {name: dom.wait_address(name, timeout=30) for name in names}

    def close(self) -> None:
        if self.air is not None:
            with contextlib.suppress(Exception):
                self.air.close()
        if self.dom is not None:
            self.dom.close()
            logs = layout.scenario_dir(self.out, self.scenario) / "testbed-logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in self.work.glob("*.log"):
                with contextlib.suppress(OSError):
                    (logs / log.name).write_bytes(log.read_bytes())
            if not self.keep_work:
                import shutil

                shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------------ static facts
    def testbed_meta(self) -> dict[str, Any]:
        from ..nsdomain import APS, CN, LMA, MAGS

        dom = self.dom
        mags = {}
        for mag, address in MAGS.items():
            ns = dom.lab.ns(mag)
            ap = next(a for a, i in APS.items() if i["mag"] == mag)
            acc = _link_addresses(ns, "acc0")
            mags[mag] = {
                "address": address,
                "core_interface": "core0",
                "access_interface": "acc0",
                "access_address": f"{APS[ap]['mgmt']}1",
                "access_mac": acc.get("mac"),
                "access_link_local": acc.get("link_local"),
                "ap": ap,
                "namespace": ns.name,
            }
        aps = {
            ap: {
                "mag": info["mag"],
                "bssid": info["bssid"],
                "address": f"{info['mgmt']}2",
                "syslog_to": f"{info['mgmt']}1",
                "bridge": f"br-{ap}",
            }
            for ap, info in APS.items()
        }
        return {
            "testbed": {
                "kind": "namespaces",
                "prefix": self.prefix,
                "shared_addresses": self.scenario != 1,
                "tunnels": self.tunnels,
                "tunnel_linger_s": self.linger,
                "roam": self.s.roam,
                "cn_gso_max_segs": 1,
                "host": platform.node(),
                "kernel": platform.release(),
            },
            "cn": {"address": CN, "interface": "eth0", "namespace": dom.lab.ns("cn").name},
            "lma": {"address": LMA, "core_interface": "core0", "namespace": dom.lab.ns("lma").name},
            "mags": mags,
            "aps": aps,
            "syslog_port": 514,
        }

    # ------------------------------------------------------------------ one run
    def run_one(
        self, run: int, kind: str, mn: str, address: str, static_meta: dict[str, Any]
    ) -> Path:
        from ..nsdomain import MAGS

        dom, s = self.dom, self.s
        rdir = layout.run_dir(self.out, self.scenario, run, kind)
        layout.reset_run(rdir)
        node = dom.mns[mn]
        binding = dom.binding(mn) or {}
        if binding.get("proxy_coa") != MAGS["mag1"]:
            raise RuntimeError(f"{mn} is not registered through mag1 before the run: {binding}")
        meta: dict[str, Any] = {
            "schema": layout.SCHEMA,
            "scenario": self.scenario,
            "scenario_name": layout.SCENARIOS[self.scenario],
            "run": run,
            "kind": kind,
            **static_meta,
            "mn": {
                "name": mn,
                "mac": node.mac,
                "mn_id": node.mn_id,
                "address": address,
                "hnp": (binding.get("hnps") or [None])[0],
                "interface": "wlan0",
                "namespace": node.ns.name,
                "default_routers_before": node.default_routers(),
            },
            "binding_before": binding,
            "started_at": time.time(),
        }
        if self.tunnels == "dynamic":
            meta["new_mag_tunnels_before"] = _tunnels_to(dom.agents["mag2"])
            meta["lma_tunnels_to_new_mag_before"] = _tunnels_to(dom.agents["lma"], MAGS["mag2"])
        caps = [
            Capture(mag, iface, role, dom.lab.ns(mag).name, layout.capture_name(mag, iface))
            for mag in MAGS
            for iface, role in (("acc0", "access"), ("core0", "core"))
        ]
        caps += [
            Capture("lma", "core0", "core", dom.lab.ns("lma").name, "lma-core0.pcap"),
            Capture(mn, "wlan0", "mn", node.ns.name, layout.capture_name(mn, "wlan0")),
            Capture("cn", "eth0", "cn", dom.lab.ns("cn").name, "cn-eth0.pcap"),
        ]
        meta["captures"] = [c.row() for c in caps]
        layout.write_meta(rdir, meta)
        procs: list[subprocess.Popen] = []
        try:
            server_out = open(rdir / layout.IPERF_SERVER, "w")  # noqa: SIM115
            client_out = open(rdir / layout.IPERF_CLIENT, "w")  # noqa: SIM115
            with server_out, client_out:
                start_captures(caps, rdir, s.snaplen)
                server = node.ns.popen(
                    "iperf3",
                    "-s",
                    "-1",
                    "--json",
                    "-p",
                    str(s.port),
                    stdout=server_out,
                    stderr=subprocess.STDOUT,
                )
                procs.append(server)
                _wait_listening(node.ns, s.port)
                after = s.udp_after_s if kind == "udp" else s.tcp_after_s
                duration = s.before_s + after
                if kind == "udp":
                    blocks = max(1, round(s.udp_rate_bps / (8 * s.udp_length) * duration))
                    args = [
                        "-u",
                        "-b",
                        str(s.udp_rate_bps),
                        "-l",
                        str(s.udp_length),
                        "-k",
                        str(blocks),
                    ]
                else:
                    blocks = None
                    args = ["-t", str(math.ceil(duration)), "--fq-rate", str(s.tcp_rate_bps)]
                command = ["iperf3", "-c", address, "-p", str(s.port), "--json", *args]
                client = dom.lab.ns("cn").popen(
                    *command, stdout=client_out, stderr=subprocess.STDOUT
                )
                procs.append(client)
                started = time.time()
                time.sleep(max(0.0, started + s.before_s - time.time()))
                if self.air is not None:
                    handover = self.air.roam(mn, "ap2")
                    handover["method"] = "inline"
                else:
                    called = time.time()
                    out = dom.roam(mn, "ap2")
                    handover = {
                        "tool_called_at": called,
                        "moved_at": out.get("moved_at"),
                        "reassoc_sent_at": out.get("reassoc_sent_at"),
                        "roamed_sent_at": out.get("roamed_sent_at"),
                        "method": "pmip6d-ap",
                    }
                handover.update(from_ap="ap1", to_ap="ap2", from_mag="mag1", to_mag="mag2")
                meta["handover"] = handover
                end = handover["moved_at"] + after
                planned = started + (math.ceil(duration) if kind == "tcp" else duration)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    client.wait(timeout=max(0.05, max(end, planned) + s.grace_s - time.time()))
                client_exit = _interrupt(client)
                stopped = time.time()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=s.grace_s)
                server_exit = _interrupt(server)
                time.sleep(0.1)
                stop_captures(caps)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for cap in caps:
                if cap.proc is not None and cap.proc.poll() is None:
                    cap.proc.kill()
        meta["traffic"] = {
            "tool": "iperf3",
            "direction": "cn->mn",
            "kind": kind,
            "port": s.port,
            "rate_bps": s.udp_rate_bps if kind == "udp" else s.tcp_rate_bps,
            "length": s.udp_length if kind == "udp" else None,
            "blocks": blocks,
            "udp_counters_64bit": False,
            "before_s": s.before_s,
            "after_s": after,
            "started_at": started,
            "stopped_at": stopped,
            "client_exit": client_exit,
            "server_exit": server_exit,
            "command": command,
        }
        meta["captures"] = [c.row() for c in caps]
        meta["binding_after"] = dom.binding(mn)
        meta["mn"]["default_routers_after"] = node.default_routers()
        meta["mn"]["addresses_after"] = node.usable_addresses()
        # Leave AP2, so the next run's MN is MAG2's only one (and, with dynamic tunnels,
        # MAG2's tunnel goes before the next handover).
        if self.air is not None:
            self.air.disassociate(mn)
        else:
            dom.ap_tool("disassociate", "--ap", "ap2", "--station", node.mac, "--port", node.port)
        if self.tunnels == "dynamic":
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                _tunnels_to(dom.agents["mag2"]) or _tunnels_to(dom.agents["lma"], MAGS["mag2"])
            ):
                time.sleep(0.05)
        meta["finished_at"] = time.time()
        layout.write_meta(rdir, meta)
        layout.mark_done(rdir)
        return rdir


# --------------------------------------------------------------------------- entry point


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
    fresh MN per pending run. Runs with a ``done`` marker are skipped.
    """
    from ..netlab import require_root

    reason = require_root()
    if reason:
        raise RuntimeError(f"the namespace runner {reason}")
    s = settings or Settings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = prefix or f"xp{os.getpid() % 100000}"
    (out / "settings.json").write_text(
        json.dumps(
            {"runs": runs, "scenarios": list(scenarios), "kinds": list(kinds), **asdict(s)},
            indent=1,
        )
        + "\n"
    )
    plan = {
        sc: [
            (r, k)
            for r in range(1, runs + 1)
            for k in kinds
            if not layout.is_done(layout.run_dir(out, sc, r, k))
        ]
        for sc in scenarios
    }
    total = sum(len(p) for p in plan.values())
    skipped = len(scenarios) * runs * len(kinds) - total
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
            names = list(runner.dom.mns)
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
                    rdir = runner.run_one(run, kind, mn, addresses[mn], static)
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
                progress(
                    _progress_line(
                        sc,
                        run,
                        kind,
                        mn,
                        rdir,
                        len(done),
                        total,
                        time.monotonic() - tr,
                        time.monotonic() - t0,
                    )
                )
                time.sleep(s.settle_s)
        finally:
            runner.close()
    progress(f"experiment: {len(done)} runs in {_clock(time.monotonic() - t0)}")
    return done


def _progress_line(sc, run, kind, mn, rdir, n, total, took, elapsed) -> str:
    from .analysis import analyze_run

    row = analyze_run(rdir)
    parts = [f"L2→RA {_fmt(row.get('total_ms'))}"]
    if kind == "udp":
        lat = row.get("udp_latency_ms")
        mark = "" if row.get("udp_recovered") is not False else ">"
        parts.append(f"UDP latency {mark}{_fmt(lat)}, lost {row.get('udp_lost')}")
    else:
        stall = row.get("tcp_stall_ms")
        mark = "" if row.get("tcp_recovered") is not False else ">"
        parts.append(f"TCP stall {mark}{_fmt(stall)}, retrans {row.get('tcp_retrans_cn')}")
    left = elapsed / n * (total - n)
    return (
        f"  [{n}/{total}] s{sc} {layout.run_name(run, kind)} {mn}: {'; '.join(parts)} "
        f"({took:.1f} s; elapsed {_clock(elapsed)}, ~{_clock(left)} left)"
    )
