"""What the state machines ask the world to do.

The LMA and MAG machines return lists of these values; the asyncio shell (or a
test) carries them out. Each is a plain frozen value with no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire.messages import Message
from .wire.prefix import Prefix


@dataclass(slots=True, frozen=True)
class Send:
    """Send ``message`` to the Mobility Header peer ``destination``."""

    destination: str
    message: Message


@dataclass(slots=True, frozen=True)
class Notice:
    """Something an operator should see in the log (the machine itself does no I/O)."""

    level: str
    """``debug``, ``info`` or ``warning``."""
    text: str


# --- LMA data plane -------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class RouteToMag:
    """LMA: forward ``prefixes`` into the tunnel to ``proxy_coa`` (replacing any older route).

    ``previous`` is the Proxy-CoA the prefixes pointed at before (a handover), or None.
    """

    mn_id: bytes
    prefixes: tuple[Prefix, ...]
    proxy_coa: str
    previous: str | None = None


@dataclass(slots=True, frozen=True)
class Unroute:
    """LMA: stop forwarding ``prefixes`` to ``proxy_coa``; the binding is gone or de-registered."""

    mn_id: bytes
    prefixes: tuple[Prefix, ...]
    proxy_coa: str


# --- MAG access link and data plane ---------------------------------------------------


@dataclass(slots=True, frozen=True)
class MobileNodeBinding:
    """A MAG's view of one served mobile node, as handed to the data plane and RA emitter."""

    mn_id: bytes
    mac: bytes
    prefixes: tuple[Prefix, ...]
    lma: str
    link_local: bytes | None
    lifetime: int
    interface: str | None


@dataclass(slots=True, frozen=True)
class ServeMobileNode:
    """MAG: the LMA accepted the binding; emulate the home link for this MN.

    Sent on first registration, and again when the MN re-attaches while its
    binding is still valid (the RA emitter then sends a fresh burst).
    """

    binding: MobileNodeBinding


@dataclass(slots=True, frozen=True)
class StopServing:
    """MAG: the MN left, its binding was rejected or expired; tear down what serves it."""

    binding: MobileNodeBinding
    reason: str


Action = Send | Notice | RouteToMag | Unroute | ServeMobileNode | StopServing
