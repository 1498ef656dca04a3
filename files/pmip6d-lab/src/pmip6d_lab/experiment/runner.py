"""Run the paper's experiments on a testbed (:class:`~.labs.Lab`), writing the run layout of
:mod:`pmip6d_lab.experiment`. One code path for every lab: :func:`run_handover`.

Each run takes one fresh mobile node, associated at the first AP and with its
address from SLAAC, through one handover to the second AP, so every handover
starts from the same clean state (one default router, learnt at the first AP).
Per run:

1. captures start on every MAG's access and core interface, the LMA's core
   interface, the MN's and the CN's interface (``dumpcap``, libpcap format);
2. ``iperf3`` runs CN → MN: UDP at a constant rate in small datagrams, or a
   TCP bulk transfer paced to a fixed rate (``--fq-rate``), or both at once on
   two ports (kind ``both``: one handover, both measurements);
3. ``before_s`` into the traffic the MN's radio link moves to the second AP,
   which reports the reassociation by syslog, and the first AP the roam (the
   exact lines of ``pmip6d-ap``);
4. the traffic runs ``after_s`` more; an iperf3 that cannot finish (in
   scenario 1 the MN's uplink may stay broken: its old default router is gone)
   is interrupted — the *observation window* is capped, the analysis then
   reports a stall as "> window";
5. captures stop, the MN leaves the AP (disassociation), ``meta.json`` and the
   ``done`` marker are written.

Two ways to drive it:

* :func:`run_namespace_experiment` — the namespace testbed
  (:mod:`pmip6d_lab.nsdomain`): per scenario one testbed is built — per-MAG
  addresses for scenario 1, the shared link-local address and MAC for 2 and 3;
  static tunnels for 1 and 2, dynamic ones (linger 0, so every handover builds
  the new MAG's tunnel anew) for 3 — with one MN per pending run, then the runs;
* :func:`prepare_lab_scenario` and :func:`run_lab_one` — a deployed lab
  (:mod:`.podmanlab`) that ``playbooks/experiment.yml`` has configured for the
  scenario: one call per run (the playbook's loop), which checks that the agents
  run the scenario's configuration, makes the run's MN (a fresh namespace) if
  ``prepare`` has not, runs the handover and removes the MN.

``roam="inline"`` (default) moves the radio link with a netlink request
prepared in advance and sends the syslog lines from sockets opened in advance,
as an AP's firmware would; ``roam="tool"`` calls the ``pmip6d-ap`` command,
whose first syslog line leaves ≈ 100 ms after the link moved (the tool imports
pyroute2 only then), which the results then show as ``move_to_l2_ms``.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import layout
from .labs import Host, Lab, Station, namespace_lab, namespace_stations, scenario_mismatch

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
    """The iperf3 server's port; in a run of kind both the UDP one, TCP's is the next."""
    roam: str = "inline"
    settle_s: float = 0.3
    """Pause between runs (lets periodic RAs and timers of the previous run pass)."""


class LabMismatch(RuntimeError):
    """The lab is not configured the way the scenario needs (nothing was measured)."""


# --------------------------------------------------------------------------- the air: APs


class Air:
    """The emulated APs' radio side, driven in-process (see ``roam`` in the module doc).

    The AP bridges are in the lab's radio medium namespace; each AP's syslog socket is
    opened here once, in the AP's own namespace (``syslog_netns``: its container) and
    bound to its address, before any radio link moves."""

    def __init__(self, lab: Lab) -> None:
        from pyroute2 import NetNS
        from pyroute2 import netns as pyroute2_netns

        from ..emulated_ap import load_aps

        self.lab = lab
        self.aps = load_aps(lab.aps_file)
        netns = {ap.netns for ap in self.aps.values()}
        if len(netns) != 1 or None in netns:
            raise RuntimeError("inline roaming needs every AP bridge in one named namespace")
        self.netns = netns.pop()
        self.ipr = NetNS(self.netns)
        self.sockets: dict[str, socket.socket] = {}
        try:
            for name, ap in self.aps.items():
                family = socket.AF_INET6 if ":" in ap.syslog_to else socket.AF_INET
                target = ap.syslog_netns or ap.netns
                if target.startswith("pid:"):
                    target = f"/proc/{target[4:]}/ns/net"
                sock = pyroute2_netns.create_socket(target, family, socket.SOCK_DGRAM)
                self.sockets[name] = sock
                if ap.syslog_from:
                    sock.bind((ap.syslog_from, 0))
            self.bridges = {name: self._index(ap.bridge) for name, ap in self.aps.items()}
        except BaseException:
            self.close()
            raise

    def _index(self, ifname: str) -> int:
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise RuntimeError(f"no {ifname} in {self.netns}")
        return found[0]

    def where(self, st: Station) -> str | None:
        """The AP whose bridge the station's radio port is in (up), or None."""
        found = self.ipr.link_lookup(ifname=st.port)
        if not found:
            return None
        link = self.ipr.get_links(found[0])[0]
        master = link.get_attr("IFLA_MASTER")
        if not master or not (link["flags"] & 1):  # IFF_UP
            return None
        return next((ap for ap, index in self.bridges.items() if index == master), None)

    def send(self, ap: str, line: str) -> float:
        cfg = self.aps[ap]
        self.sockets[ap].sendto(line.encode(), (cfg.syslog_to, cfg.syslog_port))
        return time.time()

    def associate(self, st: Station, ap: str) -> dict[str, float]:
        from ..emulated_ap import associated

        self.ipr.link("set", index=self._index(st.port), master=self.bridges[ap], state="up")
        moved = time.time()
        st.ap = ap
        sent = self.send(ap, associated(self.aps[ap], _mac(st.mac), st.name.upper()))
        return {"moved_at": moved, "assoc_sent_at": sent}

    def relog(self, st: Station) -> float:
        """The AP where the station is logs its association again (no radio change)."""
        from ..emulated_ap import associated

        return self.send(st.ap, associated(self.aps[st.ap], _mac(st.mac), st.name.upper()))

    def roam(self, st: Station, dst: str) -> dict[str, Any]:
        """What ``pmip6d-ap roam`` does: new bridge, Reassociated from the new AP, Roamed from
        the old one; the port is looked up and the lines' sockets opened beforehand."""
        from ..emulated_ap import associated, roamed

        src = st.ap
        index = self._index(st.port)
        started = time.time()
        self.ipr.link("set", index=index, master=self.bridges[dst])
        moved = time.time()
        st.ap = dst
        station = _mac(st.mac)
        reassoc = self.send(
            dst, associated(self.aps[dst], station, st.name.upper(), reassociation=True)
        )
        roamed_at = self.send(src, roamed(self.aps[src], station, self.aps[dst]))
        return {
            "move_started_at": started,
            "moved_at": moved,
            "reassoc_sent_at": reassoc,
            "roamed_sent_at": roamed_at,
        }

    def disassociate(self, st: Station) -> None:
        from ..emulated_ap import deauthenticated

        ap = st.ap
        self.ipr.link("set", index=self._index(st.port), master=0, state="down")
        st.ap = None
        if ap is not None:
            self.send(ap, deauthenticated(self.aps[ap], _mac(st.mac)))

    def close(self) -> None:
        for sock in self.sockets.values():
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self.ipr.close()


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def associate(lab: Lab, air: Air | None, st: Station, ap: str) -> None:
    if air is not None:
        air.associate(st, ap)
    else:
        lab.ap_tool(
            *("associate", "--ap", ap, "--station", st.mac, "--port", st.port),
            *("--name", st.name.upper()),
        )
        st.ap = ap


def disassociate(lab: Lab, air: Air | None, st: Station) -> None:
    if air is not None:
        air.disassociate(st)
    elif st.ap is not None:
        lab.ap_tool("disassociate", "--ap", st.ap, "--station", st.mac, "--port", st.port)
        st.ap = None


# --------------------------------------------------------------------------- captures


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
    """Every MAG's access and core interface, the LMA's core, the MN's and the CN's interface."""
    caps = [
        Capture(name, iface, role, mag.host, layout.capture_name(name, iface))
        for name, mag in lab.mags.items()
        for iface, role in ((mag.access_interface, "access"), (mag.core_interface, "core"))
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


# --------------------------------------------------------------------------- traffic


@dataclass
class Flow:
    """One iperf3 flow CN → MN of a run: its server on the MN, its client on the CN."""

    kind: str
    """udp | tcp"""
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

    def meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
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
    for i, flow in enumerate(layout.flows(kind)):
        port = s.port + i
        after = s.udp_after_s if flow == "udp" else s.tcp_after_s
        duration = s.before_s + after
        server = ["iperf3", "-s", "-1", "--json", "-p", str(port)]
        if flow == "udp":
            blocks = max(1, round(s.udp_rate_bps / (8 * s.udp_length) * duration))
            args = [
                *("-u", "-b", str(s.udp_rate_bps), "-l", str(s.udp_length)),
                *("-k", str(blocks)),
            ]
        else:
            blocks = None
            args = ["-t", str(math.ceil(duration)), "--fq-rate", str(s.tcp_rate_bps)]
        flows.append(
            Flow(
                kind=flow,
                port=port,
                rate_bps=s.udp_rate_bps if flow == "udp" else s.tcp_rate_bps,
                length=s.udp_length if flow == "udp" else None,
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


def _wait_listening(host: Host, ports: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    want = set(ports)
    while time.monotonic() < deadline:
        out = host.run("ss", "-Hltn", check=False).stdout
        listening = {int(m) for m in re.findall(r":(\d+)\s", out)}
        if want <= listening:
            return
        time.sleep(0.02)
    raise TimeoutError(f"iperf3 server in {host.netns} is not listening on {sorted(want)}")


# --------------------------------------------------------------------------- one handover


def _fmt(value: float | None, unit: str = "ms", digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def run_handover(
    lab: Lab,
    air: Air | None,
    out: Path,
    scenario: int,
    run: int,
    kind: str,
    st: Station,
    address: str,
    static_meta: dict[str, Any],
    s: Settings,
    from_ap: str,
    to_ap: str,
) -> Path:
    """One run: captures, traffic, the roam ``from_ap`` → ``to_ap``, the MN leaves; the
    run directory complete with its ``done`` marker (the same for every lab)."""
    from_mag, to_mag = lab.mag_of(from_ap), lab.mag_of(to_ap)
    tunnels = static_meta.get("testbed", {}).get("tunnels", "static")
    rdir = layout.run_dir(out, scenario, run, kind)
    layout.reset_run(rdir)
    binding = lab.binding(st) or {}
    if binding.get("proxy_coa") != lab.mags[from_mag].address or binding.get("state") != "active":
        raise RuntimeError(
            f"{st.name} is not registered through {from_mag} before the run: {binding}"
        )
    meta: dict[str, Any] = {
        "schema": layout.SCHEMA,
        "scenario": scenario,
        "scenario_name": layout.SCENARIOS[scenario],
        "run": run,
        "kind": kind,
        **static_meta,
        "mn": {
            "name": st.name,
            "mac": st.mac,
            "mn_id": st.mn_id,
            "address": address,
            "hnp": (binding.get("hnps") or [None])[0],
            "interface": st.interface,
            "namespace": st.host.netns,
            "default_routers_before": st.default_routers(),
        },
        "binding_before": binding,
        "started_at": time.time(),
    }
    if tunnels == "dynamic":
        meta["new_mag_tunnels_before"] = lab.tunnels(to_mag)
        meta["lma_tunnels_to_new_mag_before"] = lab.tunnels(lab.lma.name, lab.mags[to_mag].address)
    caps = capture_points(lab, st)
    flows = traffic_plan(kind, s, address)
    meta["captures"] = [c.row() for c in caps]
    layout.write_meta(rdir, meta)
    files: list[Any] = []
    try:
        for flow in flows:
            files.append(open(rdir / flow.server_output, "w"))  # noqa: SIM115
            files.append(open(rdir / flow.client_output, "w"))  # noqa: SIM115
        start_captures(caps, rdir, s.snaplen)
        for i, flow in enumerate(flows):
            flow.server_proc = st.host.popen(
                *flow.server, stdout=files[2 * i], stderr=subprocess.STDOUT
            )
        _wait_listening(st.host, [f.port for f in flows])
        for i, flow in enumerate(flows):
            flow.proc = lab.cn.host.popen(
                *flow.client, stdout=files[2 * i + 1], stderr=subprocess.STDOUT
            )
        started = time.time()
        time.sleep(max(0.0, started + s.before_s - time.time()))
        if air is not None:
            handover = air.roam(st, to_ap)
            handover["method"] = "inline"
        else:
            called = time.time()
            result = lab.ap_tool(
                *("roam", "--from", st.ap or from_ap, "--to", to_ap),
                *("--station", st.mac, "--port", st.port),
            )
            st.ap = to_ap
            handover = {
                "tool_called_at": called,
                "moved_at": result.get("moved_at"),
                "reassoc_sent_at": result.get("reassoc_sent_at"),
                "roamed_sent_at": result.get("roamed_sent_at"),
                "method": "pmip6d-ap",
            }
        handover.update(from_ap=from_ap, to_ap=to_ap, from_mag=from_mag, to_mag=to_mag)
        meta["handover"] = handover
        for flow in flows:
            end = max(handover["moved_at"] + flow.after_s, flow.planned_end(started))
            with contextlib.suppress(subprocess.TimeoutExpired):
                flow.proc.wait(timeout=max(0.05, end + s.grace_s - time.time()))
            flow.client_exit = _interrupt(flow.proc)
        stopped = time.time()
        for flow in flows:
            with contextlib.suppress(subprocess.TimeoutExpired):
                flow.server_proc.wait(timeout=s.grace_s)
            flow.server_exit = _interrupt(flow.server_proc)
        time.sleep(0.1)
        stop_captures(caps)
    finally:
        for flow in flows:
            for proc in (flow.proc, flow.server_proc):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for cap in caps:
            if cap.proc is not None and cap.proc.poll() is None:
                cap.proc.kill()
        for f in files:
            f.close()
    after = max(f.after_s for f in flows)
    traffic: dict[str, Any] = {
        "tool": "iperf3",
        "direction": "cn->mn",
        "kind": kind,
        "before_s": s.before_s,
        "after_s": after,
        "started_at": started,
        "stopped_at": stopped,
    }
    if len(flows) == 1:
        traffic.update(flows[0].meta())
        traffic["kind"] = kind
        traffic.pop("client_output")
        traffic.pop("server_output")
    else:
        traffic["flows"] = {f.kind: f.meta() for f in flows}
        traffic["client_exit"] = (
            "completed" if all(f.client_exit == "completed" for f in flows) else "interrupted"
        )
    meta["traffic"] = traffic
    meta["captures"] = [c.row() for c in caps]
    meta["binding_after"] = lab.binding(st)
    meta["mn"]["default_routers_after"] = st.default_routers()
    meta["mn"]["addresses_after"] = st.usable_addresses()
    # Leave the new AP, so the next run's MN is the new MAG's only one (and, with dynamic
    # tunnels, the new MAG's tunnel goes before the next handover).
    disassociate(lab, air, st)
    if tunnels == "dynamic":
        to_address = lab.mags[to_mag].address
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            lab.tunnels(to_mag) or lab.tunnels(lab.lma.name, to_address)
        ):
            time.sleep(0.05)
    meta["finished_at"] = time.time()
    layout.write_meta(rdir, meta)
    layout.mark_done(rdir)
    return rdir


def testbed_meta(lab: Lab, scenario: int, s: Settings, linger: float | None) -> dict[str, Any]:
    tunnels = "dynamic" if scenario == 3 else "static"
    return {
        "testbed": {
            "kind": lab.kind,
            **lab.info,
            "shared_addresses": scenario != 1,
            "tunnels": tunnels,
            "tunnel_linger_s": linger,
            # what the LMA's data plane chose (backend auto: the first the kernel offers)
            "tunnel_backend": (lab.call(lab.lma.name, "status").get("dataplane") or {}).get(
                "backend"
            ),
            "roam": s.roam,
            "cn_gso_max_segs": 1,
            "host": platform.node(),
            "kernel": platform.release(),
        },
        **lab.static_meta(),
    }


def _cn_one_segment_at_a_time(lab: Lab) -> None:
    # The CN sends TCP one segment at a time (as a host behind a Wi-Fi link would see it),
    # not in 27 kB GSO bursts every 11 ms that would blur the time-sequence.
    lab.cn.host.run("ip", "link", "set", "dev", lab.cn.interface, "gso_max_segs", "1")


# --------------------------------------------------------------------------- namespaces


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
        _cn_one_segment_at_a_time(self.lab)
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
                import shutil

                shutil.rmtree(self.work, ignore_errors=True)

    def testbed_meta(self) -> dict[str, Any]:
        return testbed_meta(self.lab, self.scenario, self.s, self.linger)

    def run_one(
        self, run: int, kind: str, mn: str, address: str, static_meta: dict[str, Any]
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
            self.s,
            "ap1",
            "ap2",
        )


def write_settings(out: Path, runs: int, scenarios, kinds, s: Settings, **extra: Any) -> None:
    (out / "settings.json").write_text(
        json.dumps(
            {
                "runs": runs,
                "scenarios": list(scenarios),
                "kinds": list(kinds),
                **asdict(s),
                **extra,
            },
            indent=1,
        )
        + "\n"
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
    write_settings(out, runs, scenarios, kinds, s, lab="namespaces")
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


def run_summary(rdir: Path, mn: str = "") -> str:
    """One line on a finished run: its PMIPv6 latency and what its traffic saw."""
    from .analysis import analyze_run

    row = analyze_run(rdir)
    kind = row.get("kind")
    parts = [f"L2→RA {_fmt(row.get('total_ms'))}"]
    if row.get("pba_status") not in (None, 0):
        parts.append(f"PBA status {row['pba_status']}")
    if layout.has_udp(kind):
        lat = row.get("udp_latency_ms")
        mark = "" if row.get("udp_recovered") is not False else ">"
        parts.append(f"UDP latency {mark}{_fmt(lat)}, lost {row.get('udp_lost')}")
    if layout.has_tcp(kind):
        stall = row.get("tcp_stall_ms")
        mark = "" if row.get("tcp_recovered") is not False else ">"
        parts.append(f"TCP stall {mark}{_fmt(stall)}, retrans {row.get('tcp_retrans_cn')}")
    name = row.get("run_id") or rdir.name
    return f"{name} {mn or row.get('mn_name') or ''}: {'; '.join(parts)}"


# --------------------------------------------------------------------------- inventory labs


def verify_scenario(lab: Lab, scenario: int) -> dict[str, Any]:
    """What the agents report, checked against the scenario; raises :class:`LabMismatch`."""
    lab.wait_agents()
    lma = lab.call(lab.lma.name, "status")
    lma_tunnels = (lma.get("dataplane") or {}).get("mode")
    mags = lab.access_state()
    problems = scenario_mismatch(scenario, lma_tunnels, mags)
    if problems:
        raise LabMismatch(
            f"the lab is not configured for scenario {scenario}: "
            + "; ".join(problems)
            + " (playbooks/experiment.yml configures it)"
        )
    return {"lma": {"tunnels": lma_tunnels}, "mags": mags}


def _forget(lab: Lab, st: Station) -> None:
    """Make every MAG drop the MN (an interrupted earlier attempt may have left it bound)."""
    for mag in lab.mags:
        if lab.call(mag, "bindings", mac=st.mac):
            lab.call(mag, "detach", mac=st.mac)


def _ready_at(lab: Lab, air: Air, st: Station, ap: str) -> str | None:
    """The MN's address if it is associated at ``ap``, bound through its MAG, addressed."""
    from . import podmanlab

    if not podmanlab.station_exists(st) or air.where(st) != ap:
        return None
    row = lab.binding(st) or {}
    if row.get("state") != "active" or row.get("proxy_coa") != lab.mags[lab.mag_of(ap)].address:
        return None
    st.ap = ap
    return st.address_in((row.get("hnps") or [None])[0])


def prepare_stations(
    lab: Lab, air: Air, stations: list[Station], ap: str, timeout: float = 30.0
) -> dict[str, str]:
    """Each MN associated at ``ap`` with its address; made afresh unless it is ready.
    Associations first, then the waits: the MNs do their SLAAC (and DAD) in parallel."""
    from . import podmanlab

    addresses: dict[str, str] = {}
    fresh = []
    for st in stations:
        address = _ready_at(lab, air, st, ap)
        if address:
            addresses[st.name] = address
            continue
        _forget(lab, st)
        podmanlab.create_station(lab, st)
        air.associate(st, ap)
        fresh.append(st)
    for st in fresh:
        try:
            addresses[st.name] = lab.wait_address(st, timeout=min(10.0, timeout))
        except TimeoutError:
            # Not served yet: the AP's report may have been lost (e.g. to a neighbour entry
            # of the MAG's previous MAC). Log the association again, as an AP that sees the
            # station again would; this is set-up, not a measured handover.
            air.relog(st)
            addresses[st.name] = lab.wait_address(st, timeout=timeout)
    return addresses


@dataclass
class LabSession:
    """A deployed lab for one call: facts → live lab (container PIDs), the APs' sockets."""

    facts: dict[str, Any]
    scenario: int
    settings: Settings
    lab: Lab = field(init=False)
    air: Air = field(init=False)
    agents: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        from . import podmanlab

        if self.settings.roam != "inline":
            raise ValueError("an inventory lab roams inline (the APs' sockets opened in advance)")
        self.lab = podmanlab.podman_lab(self.facts)
        self.agents = verify_scenario(self.lab, self.scenario)
        _cn_one_segment_at_a_time(self.lab)
        self.air = Air(self.lab)

    def station(self, run: int) -> Station:
        from . import podmanlab

        return podmanlab.station(self.facts, self.scenario, run)

    def close(self) -> None:
        self.air.close()


def prepare_lab_scenario(
    out: Path | str,
    facts: dict[str, Any],
    scenario: int,
    runs: int,
    kind: str = "both",
    settings: Settings | None = None,
    linger: float | None = None,
) -> dict[str, Any]:
    """Check the lab runs ``scenario``; make and associate the MNs of its pending runs."""
    from . import podmanlab

    s = settings or Settings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pending = [
        r for r in range(1, runs + 1) if not layout.is_done(layout.run_dir(out, scenario, r, kind))
    ]
    session = LabSession(facts, scenario, s)
    try:
        # An interrupted earlier call's MNs of runs that are done since: not needed.
        wanted = {session.station(r).host.netns for r in pending}
        for netns in podmanlab.stale_stations(facts["air_netns"], facts.get("mn_prefix", "x")):
            if netns not in wanted:
                podmanlab.remove_stale(facts["air_netns"], netns)
        stations = [session.station(r) for r in pending]
        t0 = time.monotonic()
        addresses = prepare_stations(session.lab, session.air, stations, facts["from_ap"])
        return {
            "scenario": scenario,
            "pending": pending,
            "stations": addresses,
            "agents": session.agents,
            "seconds": round(time.monotonic() - t0, 2),
            "linger": linger,
        }
    finally:
        session.close()


def run_lab_one(
    out: Path | str,
    facts: dict[str, Any],
    scenario: int,
    run: int,
    kind: str = "both",
    settings: Settings | None = None,
    linger: float | None = None,
) -> dict[str, Any]:
    """One run on a deployed lab (skipped if done); returns what the playbook prints."""
    from . import podmanlab

    s = settings or Settings()
    out = Path(out)
    rdir = layout.run_dir(out, scenario, run, kind)
    if layout.is_done(rdir):
        return {
            "status": "skipped",
            "run": f"s{scenario}/{rdir.name}",
            "dir": str(rdir),
            "line": f"s{scenario}/{rdir.name}: done before, skipped",
        }
    t0 = time.monotonic()
    session = LabSession(facts, scenario, s)
    st = session.station(run)
    try:
        address = prepare_stations(session.lab, session.air, [st], facts["from_ap"])[st.name]
        static = testbed_meta(session.lab, scenario, s, linger)
        static["testbed"]["agents"] = session.agents
        try:
            run_handover(
                session.lab,
                session.air,
                out,
                scenario,
                run,
                kind,
                st,
                address,
                static,
                s,
                facts["from_ap"],
                facts["to_ap"],
            )
        except BaseException as exc:
            with contextlib.suppress(OSError):
                rdir.mkdir(parents=True, exist_ok=True)
                (rdir / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
            raise
    finally:
        with contextlib.suppress(Exception):
            if st.ap is not None:
                session.air.disassociate(st)
        with contextlib.suppress(Exception):
            podmanlab.remove_station(st, session.lab.air_netns)
        session.close()
    return {
        "status": "done",
        "run": f"s{scenario}/{rdir.name}",
        "dir": str(rdir),
        "seconds": round(time.monotonic() - t0, 2),
        "line": f"{run_summary(rdir)} ({time.monotonic() - t0:.1f} s)",
    }
