"""Tunnels and routes of RFC 5213: the LMA and MAG data planes.

Layers, from the bottom:

* :mod:`.rtnl` — route-netlink messages as bytes (pure); :class:`~.rtnl.RouteTemplate`
  for the LMA's bulk routes;
* :mod:`.channel` — one netlink socket: requests, dumps, batched sends;
* :mod:`.kernel` — the operations we need and the :class:`Ownership` marks that let a
  restart find and remove what a crashed run left behind;
* :mod:`.backend` — ``ip6tnl`` or ``seg6``: both give each tunnel peer a nexthop object;
* :mod:`.peers` — reference counts and linger of tunnel peers (pure);
* :mod:`.lma`, :mod:`.mag` — the effect callables the agent shell hands actions to.

Wiring in an agent::

    dp = LmaDataplane("auto", lmaa, "eth1", mode="dynamic", linger=30)
    dp.start()
    shell = AgentShell(machine, mh, effect=dp, log=log)   # then dp.flush() after each batch
    ...
    dp.close()
"""

from .backend import (
    BACKENDS,
    Ip6tnlBackend,
    Seg6Backend,
    TunnelBackend,
    ip6tnl_available,
    make_backend,
)
from .base import MODES, Dataplane
from .channel import Channel
from .kernel import DataplaneError, Kernel, Ownership
from .lma import FlushStats, LmaDataplane
from .mag import MagDataplane
from .rtnl import NetlinkError

__all__ = [
    "BACKENDS",
    "MODES",
    "Channel",
    "Dataplane",
    "DataplaneError",
    "FlushStats",
    "Ip6tnlBackend",
    "Kernel",
    "LmaDataplane",
    "MagDataplane",
    "NetlinkError",
    "Ownership",
    "Seg6Backend",
    "TunnelBackend",
    "ip6tnl_available",
    "make_backend",
]
