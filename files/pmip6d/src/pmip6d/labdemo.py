"""A one-command PMIPv6 domain in network namespaces: one LMA, two MAGs, one MN's handover.

    python -m pmip6d.labdemo [--workdir DIR] [--keep]

Starts the real agents in namespaces joined by a core bridge, injects the MN's
layer-2 attach at MAG1 (as an access point's syslog would), shows the binding
cache and binding update lists, moves the MN to MAG2 and shows that the LMA
now points at MAG2 with the same home network prefix. Needs root.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from .cli import _LMA_COLUMNS, _MAG_COLUMNS, render_table
from .netlab import NetLab, require_root, wait_for

LMA = "2001:db8:ffff::1"
MAGS = {"mag1": "2001:db8:ffff::11", "mag2": "2001:db8:ffff::12"}
MN_ID, MN_MAC = "mn1@lab.pmipv6.example", "02:00:00:00:01:01"


def _show(title: str, agents: dict) -> None:
    print(f"\n== {title}")
    print("-- LMA binding cache")
    print(render_table(agents["lma"].bindings(), _LMA_COLUMNS))
    for name in MAGS:
        rows = agents[name].bindings()
        print(f"-- {name.upper()} binding update list")
        print(render_table(rows, _MAG_COLUMNS) if rows else "(empty)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pmip6d.labdemo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--workdir", type=Path, default=Path("artifacts/labdemo"))
    parser.add_argument(
        "--keep", action="store_true", help="leave the namespaces and agents running"
    )
    args = parser.parse_args(argv)
    reason = require_root()
    if reason:
        print(f"labdemo: {reason}", file=sys.stderr)
        return 2
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "policy.yml").write_text(
        yaml.safe_dump(
            {
                "domain": "lab.pmipv6.example",
                "mags": [{"name": n, "address": a} for n, a in MAGS.items()],
                "lmas": [{"name": "lma", "address": LMA, "accept_mags": list(MAGS)}],
                "mobile_nodes": [{"id": MN_ID, "macs": [MN_MAC], "lma": "lma"}],
            }
        )
    )
    (work / "lma.yml").write_text(
        yaml.safe_dump(
            {
                "name": "lma",
                "policy": "policy.yml",
                "control_socket": str(work / "lma.sock"),
                "prefix_pool": {"prefix": "2001:db8:100::/48", "length": 64},
            }
        )
    )
    for name in MAGS:
        (work / f"{name}.yml").write_text(
            yaml.safe_dump(
                {
                    "name": name,
                    "policy": "policy.yml",
                    "control_socket": str(work / f"{name}.sock"),
                }
            )
        )
    lab = NetLab(work, prefix="pmipdemo-")
    try:
        sw = lab.ns("sw")
        lab.bridge(sw, "core")
        for name, address in {"lma": LMA, **MAGS}.items():
            ns = lab.ns(name)
            lab.veth(ns, "core0", sw, f"p-{name}")
            lab.enslave(sw, f"p-{name}", "core")
            ns.addr("core0", f"{address}/64")
        agents = {"lma": lab.agent(lab.ns("lma"), "lma", work / "lma.yml", work / "lma.sock")}
        for name in MAGS:
            agents[name] = lab.agent(
                lab.ns(name), "mag", work / f"{name}.yml", work / f"{name}.sock"
            )
        print(f"LMA {LMA} and MAGs {', '.join(MAGS.values())} running in namespaces {lab.prefix}*")

        start = time.monotonic()
        agents["mag1"].call("attach", mac=MN_MAC, interface="ap1")
        wait_for(lambda: agents["lma"].bindings(), what="registration at the LMA")
        elapsed = 1000 * (time.monotonic() - start)
        _show(f"{MN_ID} attached at AP1/MAG1 (registered in {elapsed:.1f} ms)", agents)
        hnp = agents["lma"].bindings()[0]["hnps"]

        start = time.monotonic()
        agents["mag2"].call("attach", mac=MN_MAC, interface="ap2", handoff_indicator=3)
        wait_for(lambda: agents["lma"].bindings()[0]["proxy_coa"] == MAGS["mag2"], what="handover")
        elapsed = 1000 * (time.monotonic() - start)
        agents["mag1"].call("detach", mac=MN_MAC)
        wait_for(lambda: not agents["mag1"].bindings(), what="MAG1 de-registration")
        _show(f"{MN_ID} moved to AP2/MAG2 (LMA updated in {elapsed:.1f} ms)", agents)
        after = agents["lma"].bindings()[0]
        ok = after["hnps"] == hnp and after["proxy_coa"] == MAGS["mag2"]
        verdict = "kept" if ok else "NOT kept"
        print(f"\nHome network prefix {', '.join(hnp)} {verdict} across the handover.")
        print(f"Logs and configs: {work}")
        if args.keep:
            print(f"Left running (--keep). Try: pmipctl -s {work / 'lma.sock'} bindings")
            lab.agents.clear()
            return 0 if ok else 1
        return 0 if ok else 1
    finally:
        if not args.keep:
            lab.close()


if __name__ == "__main__":
    sys.exit(main())
