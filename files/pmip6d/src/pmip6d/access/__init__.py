"""The MAG's access link: per-mobile-node unicast Router Advertisements (RFC 5213 §6.6-6.8).

* :mod:`.ra` — RA frames and RS parsing (pure);
* :mod:`.scheduler` — when each served MN gets an RA (sans-IO);
* :mod:`.emitter` — the asyncio AF_PACKET emitter of one access interface;
* :mod:`.link` — the shared MAC and link-local address of an access interface (netlink).
"""

from .emitter import RaEmitter
from .ra import RaSettings, RouterSolicitation, build_ra_frame, parse_rs
from .scheduler import RaScheduler, SendRa

__all__ = [
    "RaEmitter",
    "RaScheduler",
    "RaSettings",
    "RouterSolicitation",
    "SendRa",
    "build_ra_frame",
    "parse_rs",
]
