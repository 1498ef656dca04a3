"""RFC 5847 heartbeat between MAGs and LMAs, as a sans-IO part both machines embed.

Each side sends a Heartbeat Request to every peer it tracks once per
``interval`` and answers the requests of its peers. A request whose response
has not come by the time the next one is due counts as missed; after
``missing_allowed`` misses in a row the peer is marked down (a warning, a
counter, ``status``). The first matching response after that marks it up again.

A response may carry the sender's Restart Counter (RFC 5847 §5.2). The first
value seen from a peer is remembered; a different one later means the peer
restarted and may have lost its state, and the owner's ``on_restart`` hook
decides what to do (a MAG re-registers its mobile nodes at once). Only the LMA
sends its counter: the MAG's state is not what a restart would lose for the LMA.

A peer that stays down longer than ``peer_down_grace`` (when set) is handed to
``on_expired`` once and no longer tracked (the LMA removes its bindings).

What arrives is checked before it counts: a request from an address that is
not a peer by policy, or a response to no request in flight, is counted and
dropped; a response answers only the newest request (RFC 5847 §5.1: it carries
that request's sequence number). Sequence numbers start at a random value, so
responses to a previous run's requests are not taken for this run's, and an
off-path sender cannot forge a restart: an unsolicited response (U flag) only
makes the next request go out at once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from . import defaults
from .actions import Action, Notice, Send
from .timers import TimerQueue
from .wire.constants import HB_FLAG_R
from .wire.messages import Heartbeat


@dataclass(slots=True, frozen=True)
class HeartbeatSettings:
    """RFC 5847 §7 configuration variables and this agent's additions, validated."""

    interval: float = defaults.HEARTBEAT_INTERVAL
    """HEARTBEAT_INTERVAL in seconds; 0 turns the heartbeat off (requests are still answered)."""
    missing_allowed: int = defaults.MISSING_HEARTBEATS_ALLOWED
    """MISSING_HEARTBEATS_ALLOWED: misses in a row before the peer is marked down."""
    peer_down_grace: float | None = defaults.PEER_DOWN_GRACE
    """Seconds a peer may stay down before ``on_expired``; None: never."""
    restart_counter: int | None = None
    """This agent's Restart Counter, sent in every response; None: not sent (the MAG)."""


DEFAULT_HEARTBEAT = HeartbeatSettings()


class PeerState(Enum):
    UNKNOWN = "unknown"
    """No response yet since the peer was first tracked."""
    UP = "up"
    DOWN = "down"


@dataclass(slots=True, eq=False)
class Peer:
    address: str
    state: PeerState = PeerState.UNKNOWN
    sequence: int = 0
    """Sequence number of the newest request sent."""
    awaiting: bool = False
    """The newest request is still unanswered."""
    missed: int = 0
    """Requests in a row that went unanswered."""
    restart_counter: int | None = None
    last_response: float | None = None
    down_since: float | None = None
    timer_id: int = 0
    timer_due: float = 0.0


Hook = Callable[[str], list[Action]]


def _nothing(_peer: str) -> list[Action]:
    return []


class HeartbeatMonitor:
    def __init__(
        self,
        settings: HeartbeatSettings,
        counters: Counter[str],
        *,
        is_peer: Callable[[str], bool],
        on_restart: Hook = _nothing,
        on_expired: Hook = _nothing,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.counters = counters
        self._is_peer = is_peer
        self._on_restart = on_restart
        self._on_expired = on_expired
        self._next_sequence = (rng or random.SystemRandom()).getrandbits(32)
        self.restart_counter = settings.restart_counter
        """Sent in every response; the LMA's shell sets it at start from its counter file."""
        self.peers: dict[str, Peer] = {}
        self._timers: TimerQueue[Peer] = TimerQueue()

    @property
    def enabled(self) -> bool:
        return self.settings.interval > 0

    # ------------------------------------------------------------------ events in

    def track(self, address: str, now: float) -> None:
        """Start heartbeats to ``address`` (a no-op when they run already); the first goes now."""
        if address in self.peers or not self.enabled:  # per PBU: the common case first
            return
        peer = Peer(address)
        self.peers[address] = peer
        self._timers.set(peer, now)

    def handle(self, src: str, msg: Heartbeat, now: float) -> list[Action]:
        if not msg.response:
            return self._request(src, msg)
        return self._response(src, msg, now)

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for peer in self._timers.pop_due(now):
            actions += self._due(peer, now)
        return actions

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    # ------------------------------------------------------------------ internals

    def _request(self, src: str, msg: Heartbeat) -> list[Action]:
        if not self._is_peer(src):
            self.counters["heartbeat.request_from_stranger"] += 1
            return [Notice("debug", f"dropped heartbeat request from {src}: not a peer")]
        self.counters["heartbeat.request_received"] += 1
        self.counters["heartbeat.response_sent"] += 1
        answer = Heartbeat(msg.sequence, HB_FLAG_R, self.restart_counter)
        return [Send(src, answer)]

    def _response(self, src: str, msg: Heartbeat, now: float) -> list[Action]:
        peer = self.peers.get(src)
        if peer is None:
            self.counters["heartbeat.response_unexpected"] += 1
            return []
        if msg.unsolicited:
            # A peer announcing its restart, or anyone forging its address: with no
            # sequence number to match, its counter is not believed. It only brings the
            # next request forward, whose matched answer then tells.
            self.counters["heartbeat.unsolicited_received"] += 1
            if not peer.awaiting:
                self._timers.set(peer, now)
            return []
        if not peer.awaiting or msg.sequence != peer.sequence:
            self.counters["heartbeat.response_stale"] += 1
            return []
        self.counters["heartbeat.response_received"] += 1
        peer.awaiting = False
        peer.missed = 0
        peer.last_response = now
        actions: list[Action] = []
        if peer.state is PeerState.DOWN:
            self.counters["heartbeat.peer_up"] += 1
            down_for = now - (peer.down_since or now)
            actions.append(Notice("warning", f"peer {src} is up again after {down_for:.1f} s"))
        elif peer.state is PeerState.UNKNOWN:
            actions.append(Notice("info", f"peer {src} answers heartbeats"))
        peer.state = PeerState.UP
        peer.down_since = None
        return actions + self._check_restart(peer, msg)

    def _check_restart(self, peer: Peer, msg: Heartbeat) -> list[Action]:
        counter = msg.restart_counter
        if counter is None:
            return []
        previous, peer.restart_counter = peer.restart_counter, counter
        if previous is None or previous == counter:
            return []
        self.counters["heartbeat.peer_restarted"] += 1
        notice = Notice(
            "warning",
            f"peer {peer.address} restarted (restart counter {previous} -> {counter})",
        )
        return [notice, *self._on_restart(peer.address)]

    def _due(self, peer: Peer, now: float) -> list[Action]:
        actions: list[Action] = []
        if peer.awaiting:
            peer.missed += 1
            self.counters["heartbeat.missed"] += 1
            if peer.missed >= self.settings.missing_allowed and peer.state is not PeerState.DOWN:
                peer.state = PeerState.DOWN
                peer.down_since = now
                self.counters["heartbeat.peer_down"] += 1
                actions.append(
                    Notice(
                        "warning",
                        f"peer {peer.address} is down: {peer.missed} heartbeats unanswered",
                    )
                )
        grace = self.settings.peer_down_grace
        if (
            peer.state is PeerState.DOWN
            and grace is not None
            and now - (peer.down_since or now) >= grace
        ):
            self.counters["heartbeat.peer_expired"] += 1
            del self.peers[peer.address]
            actions.append(
                Notice("warning", f"peer {peer.address} down for over {grace:g} s: given up")
            )
            return actions + self._on_expired(peer.address)
        peer.sequence = self._next_sequence
        self._next_sequence = (self._next_sequence + 1) & 0xFFFFFFFF
        peer.awaiting = True
        self.counters["heartbeat.request_sent"] += 1
        self._timers.set(peer, now + self.settings.interval)
        return [*actions, Send(peer.address, Heartbeat(peer.sequence))]

    # ------------------------------------------------------------------ views

    def status(self, now: float) -> dict:
        s = self.settings
        return {
            "interval": s.interval,
            "missing_allowed": s.missing_allowed,
            "peer_down_grace": s.peer_down_grace,
            "restart_counter": self.restart_counter,
            "peers": [
                {
                    "address": p.address,
                    "state": p.state.value,
                    "missed": p.missed,
                    "restart_counter": p.restart_counter,
                    "last_response_ago": None
                    if p.last_response is None
                    else round(now - p.last_response, 3),
                    "down_for": None if p.down_since is None else round(now - p.down_since, 3),
                }
                for p in sorted(self.peers.values(), key=lambda p: p.address)
            ],
        }
