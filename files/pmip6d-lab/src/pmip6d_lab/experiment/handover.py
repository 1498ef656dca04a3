"""One run of the paper's experiments on a testbed (:class:`~.labs.Lab`), writing the run
layout of :mod:`pmip6d_lab.experiment`. One code path for every lab: :func:`run_handover`.

Each run takes one fresh mobile node, associated at the first AP and with its
address from SLAAC, through one handover to the second AP, so every handover
starts from the same clean state (one default router, learnt at the first AP).
Per run:

1. captures start on every MAG's access and core interface, the LMA's core
   interface, the MN's and the CN's interface (``dumpcap``, libpcap format);
2. ``iperf3`` runs: UDP at a constant rate in small datagrams, CN → MN and
   MN → CN at once (``Settings.udp_uplink``), or a TCP bulk transfer CN → MN
   paced to a fixed rate (``--fq-rate``), or all of them at once on their own
   ports (kind ``both``: one handover, every measurement);
3. ``before_s`` into the traffic the MN's radio link moves to the second AP,
   which reports the reassociation by syslog, and the first AP the roam (the
   exact lines of ``pmip6d-ap``);
4. the traffic runs ``after_s`` more; an iperf3 that cannot finish (in
   scenario 1 the MN's uplink may stay broken: its old default router is gone)
   is interrupted — the *observation window* is capped, the analysis then
   reports a stall as "> window";
5. captures stop, the MN leaves the AP (disassociation), ``meta.json`` and the
   ``done`` marker are written.

:func:`run_handover` is that one code path for every lab. Two ways to drive it:

* :func:`.namespace_run.run_namespace_experiment` — the namespace testbed
  (:mod:`pmip6d_lab.nsdomain`): per scenario one testbed is built — per-MAG
  addresses for scenario 1, the shared link-local address and MAC for 2 and 3;
  static tunnels for 1 and 2, dynamic ones (linger 0, so every handover builds
  the new MAG's tunnel anew) for 3 — with one MN per pending run, then the runs;
* :func:`.lab_run.prepare_lab_scenario` and :func:`.lab_run.run_lab_one` — a deployed lab
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
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from . import layout
from .air import Air, disassociate
from .captures import capture_points, start_captures, stop_captures
from .labs import Lab, Station
from .settings import Settings
from .traffic import interrupt, traffic_plan, wait_listening


def _fmt(value: float | None, unit: str = "ms", digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


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
    layout.write_esp_sas(rdir, lab.esp_sas())
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
        wait_listening(st.host, [f.port for f in flows])
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
            flow.client_exit = interrupt(flow.proc)
        stopped = time.time()
        for flow in flows:
            with contextlib.suppress(subprocess.TimeoutExpired):
                flow.server_proc.wait(timeout=s.grace_s)
            flow.server_exit = interrupt(flow.server_proc)
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
        "direction": "/".join(sorted({f.direction for f in flows})),
        "kind": kind,
        "before_s": s.before_s,
        "after_s": after,
        "started_at": started,
        "stopped_at": stopped,
        "long_observation": s.long_observation,
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


def cn_one_segment_at_a_time(lab: Lab) -> None:
    # The CN sends TCP one segment at a time (as a host behind a Wi-Fi link would see it),
    # not in 27 kB GSO bursts every 11 ms that would blur the time-sequence.
    lab.cn.host.run("ip", "link", "set", "dev", lab.cn.interface, "gso_max_segs", "1")


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
