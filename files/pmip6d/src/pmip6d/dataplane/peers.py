"""Tunnel peers (MAGs seen from the LMA, LMAs seen from a MAG): reference counts and linger.

Pure logic: no netlink, no clock of its own (``now`` is passed in). The data
planes ask this table what should exist and tell it what does exist; the
table answers "which peers are idle long enough to tear down" and "when is the
next such moment".

Theory of operation. A peer is *referenced* by every prefix (LMA) or mobile
node (MAG) routed through it. Static peers (configured, the paper's scenario 2)
exist from start to close whatever their count. A dynamic peer (scenario 3)
comes into being with its first reference; when the count drops to zero it
*lingers* for ``linger`` seconds, so a handover that briefly leaves a MAG
without bindings, or a mobile node bouncing between two MAGs, does not pay for
tearing a tunnel down and building it again. A new reference during the
linger simply cancels the deadline.

Each peer gets a small *slot* number, reused after the peer is gone; the
backends derive kernel identifiers from it (nexthop id = base + slot, MAG
table = base + slot, ip6tnl device = prefix + slot), so identifiers stay in a
small, recognizable range however many peers come and go.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass


@dataclass(slots=True)
class Peer:
    address: str
    slot: int
    static: bool = False
    refs: int = 0
    idle_deadline: float | None = None
    """When an unreferenced dynamic peer is to be removed; None while referenced or static."""
    installed: bool = False
    """The kernel objects for this peer exist (set by the data plane after it made them)."""
    handle: object = None
    """Whatever the backend needs to remove the peer again (nexthop id, link index...)."""


class PeerTable:
    def __init__(self, linger: float, slots: int = 4096) -> None:
        if linger < 0:
            raise ValueError("linger must be >= 0")
        self.linger = linger
        self.max_slots = slots
        self.peers: dict[str, Peer] = {}
        self._free: list[int] = []  # heap of released slots, smallest first
        self._next_slot = 0
        self._burnt: set[int] = set()

    # ------------------------------------------------------------------ slots

    def _take_slot(self) -> int:
        while self._free:
            slot = heapq.heappop(self._free)
            if slot not in self._burnt:
                return slot
        if self._next_slot >= self.max_slots:
            raise RuntimeError(f"no free tunnel slot (limit {self.max_slots})")
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def reslot(self, address: str) -> int:
        """The kernel says the identifier for this slot is taken by someone else: move on.

        The old slot is never handed out again during this run.
        """
        peer = self.peers[address]
        self._burnt.add(peer.slot)
        peer.slot = self._take_slot()
        return peer.slot

    # ------------------------------------------------------------------ references

    def add_static(self, address: str) -> Peer:
        peer = self.peers.get(address)
        if peer is None:
            peer = self.peers[address] = Peer(address, self._take_slot())
        peer.static = True
        peer.idle_deadline = None
        return peer

    def ref(self, address: str) -> Peer:
        """One more prefix/MN goes through ``address``; creates the (dynamic) peer if new."""
        peer = self.peers.get(address)
        if peer is None:
            peer = self.peers[address] = Peer(address, self._take_slot())
        peer.refs += 1
        peer.idle_deadline = None
        return peer

    def unref(self, address: str, now: float) -> None:
        peer = self.peers.get(address)
        if peer is None or peer.refs == 0:
            return
        peer.refs -= 1
        if peer.refs == 0 and not peer.static:
            peer.idle_deadline = now + self.linger

    # ------------------------------------------------------------------ time

    def due(self, now: float) -> list[Peer]:
        """Unreferenced dynamic peers whose linger has run out (to be torn down)."""
        return [
            p
            for p in self.peers.values()
            if p.idle_deadline is not None and p.idle_deadline <= now and p.refs == 0
        ]

    def next_deadline(self) -> float | None:
        deadlines = [p.idle_deadline for p in self.peers.values() if p.idle_deadline is not None]
        return min(deadlines) if deadlines else None

    def forget(self, address: str) -> None:
        """The peer's kernel objects are gone (or never were): release its slot."""
        peer = self.peers.pop(address, None)
        if peer is not None and peer.slot not in self._burnt:
            heapq.heappush(self._free, peer.slot)

    def wanted(self) -> list[Peer]:
        """Peers that should have kernel objects but do not (yet)."""
        return [p for p in self.peers.values() if not p.installed and (p.static or p.refs)]
