"""The experiments on a deployed lab described by an inventory (:mod:`.podmanlab`), one
step at a time as ``playbooks/experiment.yml`` calls them: :func:`prepare_lab_scenario`
checks that the agents run the scenario's configuration and makes the MNs of the pending
runs, :func:`run_lab_one` does one run (:func:`.handover.run_handover`), making its MN (a
fresh namespace) if ``prepare`` has not, and removes the MN."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import layout, podmanlab
from .air import Air
from .handover import cn_one_segment_at_a_time, run_handover, run_summary, testbed_meta
from .labs import Lab, Station, scenario_mismatch
from .settings import LabMismatch, Settings


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

        if self.settings.roam != "inline":
            raise ValueError("an inventory lab roams inline (the APs' sockets opened in advance)")
        self.lab = podmanlab.podman_lab(self.facts)
        self.agents = verify_scenario(self.lab, self.scenario)
        cn_one_segment_at_a_time(self.lab)
        self.air = Air(self.lab)

    def station(self, run: int) -> Station:

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
