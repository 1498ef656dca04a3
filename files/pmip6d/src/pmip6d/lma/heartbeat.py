"""The LMA's side of the RFC 5847 heartbeat: which MAGs are peers, and what a dead one costs.

The LMA sends Heartbeat Requests to every MAG it has taken a proxy registration
from (tracked by the machine when a PBU passes the admission checks) and answers
the requests of the MAGs its policy accepts, with its Restart Counter. A MAG down
for longer than ``peer_down_grace`` loses its bindings here: their routes go and
their pool prefixes return, as if they had expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..actions import Action, Notice, Unroute
from ..heartbeat import HeartbeatMonitor
from .cache import BceState

if TYPE_CHECKING:
    from .machine import LocalMobilityAnchor


def heartbeat_monitor(lma: LocalMobilityAnchor) -> HeartbeatMonitor:
    return HeartbeatMonitor(
        lma.settings.heartbeat,
        lma.counters,
        is_peer=lambda src: src in lma.policy.accepted_mags,
        on_expired=lambda mag: remove_bindings_of(lma, mag),
    )


def remove_bindings_of(lma: LocalMobilityAnchor, mag: str) -> list[Action]:
    """Every binding cache entry pointing at ``mag``, removed (one pass over the cache:
    this runs once per MAG given up, not per message)."""
    gone = [bce for bce in lma.cache if bce.proxy_coa == mag]
    actions: list[Action] = []
    for bce in gone:
        if bce.state is BceState.ACTIVE:
            actions.append(Unroute(bce.mn_id, bce.prefixes, bce.proxy_coa))
        lma._delete(bce)
    lma.counters["heartbeat.bindings_removed"] += len(gone)
    actions.append(Notice("warning", f"removed {len(gone)} bindings of the dead MAG {mag}"))
    return actions
