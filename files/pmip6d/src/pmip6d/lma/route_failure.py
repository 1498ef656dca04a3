"""A binding whose route the kernel refused: removed, and refused to its MAG.

Status 130 (Insufficient resources, RFC 6275 §6.1.8, which RFC 5213 §8.9
inherits) rather than 128 (Reason unspecified): the binding itself was fine;
what the LMA lacked is the forwarding state it needs to serve it (a route, a
tunnel nexthop), a resource of the LMA. It tells the MAG that a later attempt
may succeed, which is what the data plane's own retry of refused routes makes
likely, and it is the status this LMA already answers when its prefix pool is
exhausted.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..actions import Action, Notice, Send, Unroute
from ..wire.constants import Status
from ..wire.messages import ProxyBindingAck

if TYPE_CHECKING:
    from .machine import LocalMobilityAnchor

ROUTE_FAILURE_STATUS = Status.INSUFFICIENT_RESOURCES


def refuse_unrouted(
    lma: LocalMobilityAnchor, withheld: list[tuple[str, ProxyBindingAck]]
) -> list[Action]:
    """For each accepting PBA the shell withheld: drop its binding, answer 130 instead."""
    actions: list[Action] = []
    for destination, pba in withheld:
        lma.counters["route_failed"] += 1
        lma.counters[f"rejected.{ROUTE_FAILURE_STATUS.name}"] += 1
        for prefix in pba.home_network_prefixes:
            bce = lma.cache.by_prefix(prefix)
            if bce is not None and bce.mn_id == pba.mn_id and bce.proxy_coa == destination:
                lma._delete(bce)
                # Its route may exist (a refresh, the old MAG's in a handover) or be
                # queued for a retry: the data plane forgets the prefix either way.
                actions.append(Unroute(bce.mn_id, bce.prefixes, destination))
        who = pba.mn_id.decode(errors="replace") if pba.mn_id is not None else "(no MN-ID)"
        actions.append(
            Notice(
                "warning",
                f"binding of {who} at {destination} removed: its route was refused; "
                f"answered {ROUTE_FAILURE_STATUS.name}",
            )
        )
        refused = dataclasses.replace(pba, status=ROUTE_FAILURE_STATUS, lifetime_units=0)
        actions.append(Send(destination, refused))
    return actions
