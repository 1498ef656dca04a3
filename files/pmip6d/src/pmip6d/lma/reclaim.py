"""Which free pool prefix a MAG may name in a PBU for a new mobility session.

RFC 5213 §5.3.2: a non-zero Home Network Prefix option in an initial registration
must be a prefix the mobile node is authorized for, else the LMA answers
NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX (155). For a prefix from the pool that means
one this LMA gave the mobile node: the one it holds or last held ("sticky", see
:mod:`.pool`). Free pool prefixes the pool has no record of are refused, except
for one binding lifetime after a start without saved state: then the LMA has
forgotten what it gave, and the MAGs re-registering their bindings (heartbeat
restart detection, refreshes) are the only record left. Once that window has
passed, or as soon as saved state was restored, every binding the LMA gave is in
its cache or its pool again and a claim of anything else is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire.prefix import Prefix

if TYPE_CHECKING:
    from .machine import LocalMobilityAnchor


def reclaim_deadline(lma: LocalMobilityAnchor) -> float:
    """End of the window after a start without saved state: any binding granted before
    the start has been refreshed or has expired by then (the lifetime is capped)."""
    return lma.clock.monotonic() + lma.settings.max_binding_lifetime


def reclaimable(lma: LocalMobilityAnchor, prefix: Prefix, mn_id: bytes) -> bool:
    """Whether ``mn_id`` may have the pool prefix ``prefix`` it names (§5.3.2)."""
    pool = lma.pool
    if pool is None:
        return False
    if pool.owner(prefix) == mn_id or pool.last(mn_id) == prefix:
        return True  # this LMA gave it to this mobile node
    until = lma.reclaim_until
    return until is not None and lma.clock.monotonic() < until
