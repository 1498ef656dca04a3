"""Accepting PBAs the shell must not send: their binding's route was refused.

The LMA machine accepts a binding before its route exists (sans-IO: the route
is an action). The shell learns at ``effects.flush()`` which routes the kernel
refused; an accepting PBA for such a prefix would tell the MAG that traffic
flows when it does not. Those PBAs are taken out of the batch's outbox and
handed back to the machine (``LocalMobilityAnchor.routes_refused``), which
removes the bindings and answers a failure status instead, before the batch's
durable commit, so the journal records the removal before the PBA leaves.
"""

from __future__ import annotations

from collections.abc import Collection

from ..actions import Send
from ..wire.messages import ProxyBindingAck
from ..wire.prefix import Prefix


def withhold_unrouted(
    outbox: list[Send], refused: Collection[Prefix]
) -> tuple[list[Send], list[tuple[str, ProxyBindingAck]]]:
    """Split ``outbox`` into what may leave and the accepting PBAs naming a refused prefix."""
    if not refused:
        return outbox, []
    refused = set(refused)
    kept: list[Send] = []
    withheld: list[tuple[str, ProxyBindingAck]] = []
    for send in outbox:
        msg = send.message
        if (
            isinstance(msg, ProxyBindingAck)
            and msg.accepted
            and msg.lifetime_units > 0
            and not refused.isdisjoint(msg.home_network_prefixes)
        ):
            withheld.append((send.destination, msg))
        else:
            kept.append(send)
    return kept, withheld
