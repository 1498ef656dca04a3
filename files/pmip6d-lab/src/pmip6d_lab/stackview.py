"""What a test-bed host's IPv6 stack shows, read through ``ip -j``: its addresses,
its default routers and their MACs from the neighbour cache.

One implementation for every test bed (the namespace domain of :mod:`.nsdomain`,
the experiment's :class:`~.experiment.labs.Station` in the namespace and podman labs):
each passes the function that runs a command in its host (``Namespace.run``,
``Host.run``), so the same code reads a named namespace or a container's.
"""

from __future__ import annotations

import json
import subprocess
from typing import Protocol


class Runner(Protocol):
    """Runs a command in the host, raising when it fails (``netlab.sh``'s contract)."""

    def __call__(self, *args: str) -> subprocess.CompletedProcess: ...


def addresses(run: Runner, interface: str, scope: str = "global") -> list[dict]:
    """The ``addr_info`` entries of ``interface`` in ``scope``."""
    out = run("ip", "-j", "-6", "addr", "show", "dev", interface, "scope", scope).stdout
    info = json.loads(out or "[]")
    # Filtered-out addresses come back as empty objects.
    return [a for a in (info[0].get("addr_info", []) if info else []) if "local" in a]


def usable_addresses(run: Runner, interface: str) -> list[str]:
    """Global addresses that finished DAD."""
    return [a["local"] for a in addresses(run, interface) if not a.get("tentative")]


def default_routers(run: Runner, interface: str) -> list[tuple[str, str | None]]:
    """(router address, its MAC from the neighbour cache) for each default route."""
    routes = json.loads(run("ip", "-j", "-6", "route", "show", "default").stdout or "[]")
    out = []
    for route in routes:
        hops = [route] if "gateway" in route else route.get("nexthops", [])
        for hop in hops:
            gateway = hop.get("gateway")
            neigh = json.loads(
                run("ip", "-j", "-6", "neigh", "show", gateway, "dev", interface).stdout or "[]"
            )
            out.append((gateway, neigh[0].get("lladdr") if neigh else None))
    return out
