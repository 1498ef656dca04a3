"""The MAG's side of the RFC 5847 heartbeat: its LMAs, and what their restart means.

The MAG sends Heartbeat Requests to every LMA it has sent a PBU to (tracked by
the machine in ``_transmit``) and answers requests from any LMA its policy
names. When an LMA's Restart Counter changes, the LMA may have lost its binding
cache (a new disk, a state file removed), so every binding with it is refreshed
at once instead of when each next falls due (RFC 5847 §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..heartbeat import HeartbeatMonitor

if TYPE_CHECKING:
    from .machine import MobileAccessGateway


def known_lmas(mag: MobileAccessGateway) -> frozenset[str]:
    """Every LMA address the policy lets this MAG register with."""
    lmas = {profile.lma for profile in mag.policy.by_mac.values()}
    if mag.policy.default_lma is not None:
        lmas.add(mag.policy.default_lma)
    return frozenset(lmas)


def heartbeat_monitor(mag: MobileAccessGateway) -> HeartbeatMonitor:
    lmas = known_lmas(mag)
    return HeartbeatMonitor(
        mag.settings.heartbeat,
        mag.counters,
        is_peer=lambda src: src in lmas or src in mag.heartbeat.peers,
        on_restart=mag.reregister,
    )
