"""Tunnels and routes of RFC 5213: the LMA and MAG data planes.

Layers, from the bottom:

* :mod:`.rtnl` — route-netlink messages as bytes (pure); :class:`~.rtnl.RouteTemplate`
  for the LMA's bulk routes;
* :mod:`.channel` — one netlink socket: requests, dumps, batched sends;
* :mod:`.kernel` — the operations we need and the :class:`Ownership` marks that let a
  restart find and remove what a crashed run left behind;
* :mod:`.backend` — ``ip6tnl``, ``seg6`` or ``ebpf`` (:mod:`.ebpf_backend`): each gives
  every tunnel peer a nexthop object; :mod:`.probe` finds out which the kernel offers;
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
from .ebpf_backend import EbpfBackend
from .kernel import DataplaneError, Kernel, Ownership
from .lma import FlushStats, LmaDataplane
from .mag import MagDataplane
from .probe import UnsupportedKernel
from .rtnl import NetlinkError

__all__ = [
    "BACKENDS",
    "MODES",
    "Channel",
    "Dataplane",
    "DataplaneError",
    "EbpfBackend",
    "FlushStats",
    "Ip6tnlBackend",
    "Kernel",
    "LmaDataplane",
    "MagDataplane",
    "NetlinkError",
    "Ownership",
    "Seg6Backend",
    "TunnelBackend",
    "UnsupportedKernel",
    "ip6tnl_available",
    "make_backend",
]
