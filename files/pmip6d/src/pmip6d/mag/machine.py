"""The Mobile Access Gateway as a sans-IO state machine (RFC 5213 §6).

Rules of this file:

* It decides when to send which PBU and what a PBA means for a mobile node;
  it never touches a socket, netlink, the RA emitter or the system clock.
  Layer-2 events and PBAs come in as method calls, actions go out.
* One binding update list (BUL) entry per attached mobile node, found by MAC
  (layer-2 events) or by MN-Identifier (PBAs, which echo it).
* Every PBU transmission, retransmissions included, carries a fresh sequence
  number and timestamp; a PBA counts only if it answers the newest one.
* Transitions are data: ``TRANSITIONS`` maps every (phase, event) pair to the
  handler that carries it out or to an :class:`Ignored` that says why nothing
  happens. The table is complete (checked at import), so no event falls through.
* The saved-state format (``snapshot``/``restore``) lives in :mod:`.persistence`.

Phases of a BUL entry. The binding rows' ``state`` and ``exchange`` are derived
from the phase (``PHASE_VIEW``)::

    phase                 state          exchange    meaning
    REGISTERING           registering    register    PBU sent, the MN is attached
    REGISTERING_DETACHED  registering    register    PBU sent, the MN left meanwhile
    ACTIVE                active         none        bound; the timer is the refresh time
    REFRESHING            active         refresh     bound; a refresh PBU is sent
    DEREGISTERING         deregistering  deregister  a de-registration PBU is sent

Events: ATTACH (the MN associates again while its entry exists), DETACH,
ACCEPTED and REJECTED (a PBA answering the newest PBU of the exchange in
flight), TIMEOUT (the entry's timer is due)::

    phase \\ event  ATTACH        DETACH         ACCEPTED        REJECTED      TIMEOUT
    REGISTERING    -             REG._DETACHED  ACTIVE, serve   resend|gone   resend|gone
    REG._DETACHED  REGISTERING   -              DEREGISTERING   resend|gone   DEREGISTERING
    ACTIVE         serve again   DEREGISTERING  - (unmatched)   - (unmatched) REFRESHING
    REFRESHING     serve again   DEREGISTERING  ACTIVE          resend|gone   resend|gone
    DEREGISTERING  REGISTERING   -              gone            resend|gone   resend|gone

"-": ignored; "resend": the same exchange again with a new sequence number
(back-off, or a resynchronisation after a reject); "gone": the entry is
forgotten (a failure says why and stops the service). An attach with no entry
creates one in REGISTERING; a detach or a PBA with no entry is counted and
dropped.

Theory of operation. An attach event looks the MAC up in the policy store,
creates a BUL entry and sends a PBU (REGISTERING). A matching accepting PBA
makes the entry ACTIVE: the shell is told to serve the MN (routes, unicast
RAs) and a refresh is scheduled before the granted lifetime runs out.
Unanswered PBUs are retransmitted with exponential back-off from
InitialBindackTimeoutFirstReg up to MaxBindackTimeout, then every
MaxBindackTimeout while the MN stays attached (``keep_registering``; without
it the registration is given up, the RFC's minimum). A detach stops service
at once and sends a de-registration (DEREGISTERING) whose acknowledgement
removes the entry. A rejecting PBA leaves the MN without service and says why.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .. import defaults
from ..actions import Action, MobileNodeBinding, Notice, Send, ServeMobileNode, StopServing
from ..clock import Clock
from ..heartbeat import DEFAULT_HEARTBEAT, HeartbeatSettings
from ..policy import MagView, MobileNodeProfile
from ..rules import mac_text
from ..timers import TimerQueue
from ..wire import timestamp as ts
from ..wire.codec import decode
from ..wire.constants import (
    BU_FLAG_A,
    BU_FLAG_P,
    LIFETIME_UNIT,
    AccessTechnologyType,
    HandoffIndicator,
    Status,
    status_name,
)
from ..wire.messages import (
    BindingRevocationIndication,
    Heartbeat,
    Malformed,
    Message,
    ProxyBindingAck,
    ProxyBindingUpdate,
)
from ..wire.prefix import ZERO_PREFIX, Prefix, address_text
from .heartbeat import heartbeat_monitor
from .revocation import handle_bri, known_lmas


@dataclass(slots=True, frozen=True)
class MagSettings:
    """RFC 5213 §9 / RFC 6275 §13 configuration variables, already validated."""

    address: str
    link_local_address: str = defaults.LINK_LOCAL_ADDRESS
    replay_protection: str = defaults.REPLAY_PROTECTION
    requested_lifetime: int = defaults.REQUESTED_LIFETIME
    refresh_fraction: float = defaults.REFRESH_FRACTION
    initial_bindack_timeout_first_reg_ms: int = defaults.INITIAL_BINDACK_TIMEOUT_FIRST_REG_MS
    initial_bindack_timeout_ms: int = defaults.INITIAL_BINDACK_TIMEOUT_MS
    max_bindack_timeout_ms: int = defaults.MAX_BINDACK_TIMEOUT_MS
    access_technology_type: int = AccessTechnologyType(defaults.ACCESS_TECHNOLOGY_TYPE)
    max_sequence_resyncs: int = 3
    heartbeat: HeartbeatSettings = DEFAULT_HEARTBEAT
    """RFC 5847 towards the LMAs this MAG registers with."""
    keep_registering: bool = defaults.KEEP_REGISTERING
    """After the back-off, resend an unanswered registration every MaxBindackTimeout for
    as long as the MN stays attached (RFC 6275 §11.8 allows the slower rate
    indefinitely); False gives up and reports the failure, as before."""


class BulState(Enum):
    """The state shown in the binding rows (derived from the entry's :class:`Phase`)."""

    REGISTERING = "registering"
    ACTIVE = "active"
    DEREGISTERING = "deregistering"


class _Txn(Enum):
    """The PBU exchange in flight for an entry, if any (the rows' ``exchange``)."""

    NONE = "none"
    REGISTER = "register"
    REFRESH = "refresh"
    DEREGISTER = "deregister"


class Phase(Enum):
    """Where a BUL entry is; see the table at the top of this file."""

    REGISTERING = "registering"
    REGISTERING_DETACHED = "registering_detached"
    ACTIVE = "active"
    REFRESHING = "refreshing"
    DEREGISTERING = "deregistering"


class Event(Enum):
    """What can happen to an existing BUL entry."""

    ATTACH = "attach"
    DETACH = "detach"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"


PHASE_VIEW: dict[Phase, tuple[BulState, _Txn]] = {
    Phase.REGISTERING: (BulState.REGISTERING, _Txn.REGISTER),
    Phase.REGISTERING_DETACHED: (BulState.REGISTERING, _Txn.REGISTER),
    Phase.ACTIVE: (BulState.ACTIVE, _Txn.NONE),
    Phase.REFRESHING: (BulState.ACTIVE, _Txn.REFRESH),
    Phase.DEREGISTERING: (BulState.DEREGISTERING, _Txn.DEREGISTER),
}


@dataclass(slots=True, eq=False)
class BulEntry:
    mac: bytes
    mn_id: bytes
    lma: str
    interface: str | None
    handoff_indicator: int
    access_technology_type: int
    phase: Phase = Phase.REGISTERING
    prefixes: tuple[Prefix, ...] = ()
    lifetime: int = 0
    """Granted lifetime in seconds."""
    expires_at: float = 0.0
    attached_at: float = 0.0
    registered_at: float = 0.0
    sequence: int = 0
    """Sequence number of the newest PBU sent for this entry."""
    txn_timeout: float = 0.0
    """Current retransmission timeout of the exchange in flight (doubles each time)."""
    resyncs: int = 0
    timer_id: int = 0
    timer_due: float = 0.0

    @property
    def state(self) -> BulState:
        return PHASE_VIEW[self.phase][0]

    @property
    def txn(self) -> _Txn:
        return PHASE_VIEW[self.phase][1]

    def snapshot(self, link_local: bytes | None) -> MobileNodeBinding:
        return MobileNodeBinding(
            mn_id=self.mn_id,
            mac=self.mac,
            prefixes=self.prefixes,
            lma=self.lma,
            link_local=link_local,
            lifetime=self.lifetime,
            interface=self.interface,
        )


@dataclass(slots=True, frozen=True)
class Refusal:
    """Why this MAG does not serve a MAC: the counter and the operator's message."""

    counter: str
    why: str


@dataclass(slots=True, frozen=True)
class Ignored:
    """A table entry for an event that changes nothing in that phase."""

    why: str
    counter: str | None = None
    """Counted under this name, when the event is worth seeing in ``counters``."""


Handler = Callable[["MobileAccessGateway", BulEntry, "ProxyBindingAck | None", float], list[Action]]


class MobileAccessGateway:
    def __init__(
        self, settings: MagSettings, policy: MagView, clock: Clock, first_sequence: int = 0
    ) -> None:
        self.settings = settings
        self.address = settings.address
        self.policy = policy
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._by_mac: dict[bytes, BulEntry] = {}
        self._by_mn_id: dict[bytes, BulEntry] = {}
        self._timers: TimerQueue[BulEntry] = TimerQueue()
        self.dirty: set[BulEntry] | None = None
        """Entries changed since the shell last drained this set (None: nobody persists
        them). The durable store saves them before the PBUs of the batch leave."""
        self._next_sequence = first_sequence & 0xFFFF
        self._use_timestamps = settings.replay_protection == "timestamp"
        self._link_local = socket.inet_pton(socket.AF_INET6, settings.link_local_address)
        self._first_timeout = settings.initial_bindack_timeout_first_reg_ms / 1000
        self._retry_timeout = settings.initial_bindack_timeout_ms / 1000
        self._max_timeout = settings.max_bindack_timeout_ms / 1000
        self._requested_units = min(0xFFFF, settings.requested_lifetime // LIFETIME_UNIT)
        self.heartbeat = heartbeat_monitor(self)
        self.known_lmas = known_lmas(self)
        """The only sources a Binding Revocation Indication is answered for."""

    def set_link_local(self, address: str) -> None:
        """Use ``address`` in the Link-local Address option (a MAG keeping its own, scenario 1)."""
        self._link_local = socket.inet_pton(socket.AF_INET6, address)

    # ------------------------------------------------------------------ events in

    def attach(
        self,
        mac: bytes,
        *,
        interface: str | None = None,
        handoff_indicator: int = HandoffIndicator.NEW_INTERFACE,
        access_technology_type: int | None = None,
    ) -> list[Action]:
        """Layer 2 says the MN with ``mac`` associated with an access point of this MAG."""
        self.counters["attach"] += 1
        entry = self._by_mac.get(mac)
        if entry is not None:
            if interface is not None and interface != entry.interface:
                entry.interface = interface
                self._changed(entry)  # which MN is attached where is saved
            return self._dispatch(entry, Event.ATTACH)
        profile = self._admit(mac)
        if isinstance(profile, Refusal):
            self.counters[profile.counter] += 1
            return [Notice("warning", profile.why)]
        now = self.clock.monotonic()
        entry = BulEntry(
            mac=mac,
            mn_id=profile.mn_id,
            lma=profile.lma,
            interface=interface,
            handoff_indicator=handoff_indicator,
            access_technology_type=access_technology_type or self.settings.access_technology_type,
            prefixes=profile.hnps,
            attached_at=now,
        )
        self._add(entry)
        return self._start(entry, Phase.REGISTERING)

    def detach(self, mac: bytes) -> list[Action]:
        """Layer 2 says the MN left (disassociated, roamed away, timed out)."""
        self.counters["detach"] += 1
        entry = self._by_mac.get(mac)
        if entry is None:
            self.counters["detach_unknown"] += 1
            return []
        return self._dispatch(entry, Event.DETACH)

    def receive(self, src: str, data: bytes, received_at: float | None = None) -> list[Action]:
        """Bytes read from the Mobility Header socket → actions. Never raises on bad input.

        ``received_at`` is accepted for the shell's sake; a MAG checks no timestamp window.
        """
        msg = decode(data)
        if isinstance(msg, Malformed):
            self.counters[f"malformed.{msg.reason}"] += 1
            return [Notice("debug", f"dropped malformed message from {src}: {msg}")]
        return self.handle(src, msg)

    def handle(self, src: str, msg: Message) -> list[Action]:
        if isinstance(msg, ProxyBindingAck):
            return self.handle_pba(src, msg)
        if isinstance(msg, Heartbeat):
            return self.heartbeat.handle(src, msg, self.clock.monotonic())
        if isinstance(msg, BindingRevocationIndication):
            return handle_bri(self, src, msg)  # RFC 5846, see .revocation
        self.counters[f"unexpected.{type(msg).__name__}"] += 1
        return []

    def handle_pba(self, src: str, pba: ProxyBindingAck) -> list[Action]:
        self.counters["pba_received"] += 1
        entry = self._by_mn_id.get(pba.mn_id) if pba.mn_id is not None else None
        if entry is not None and src != entry.lma:
            # Only the MN's LMA answers its PBUs; anything else is forged or misrouted.
            self.counters["pba_wrong_source"] += 1
            return []
        if entry is None or not _answers_outstanding(pba, entry.sequence):
            # Late answer to a retransmitted PBU, a duplicate, or not ours at all.
            self.counters["pba_unmatched"] += 1
            return []
        event = Event.ACCEPTED if pba.accepted else Event.REJECTED
        return self._dispatch(entry, event, pba)

    def on_timer(self) -> list[Action]:
        now = self.clock.monotonic()
        actions: list[Action] = []
        for entry in self._timers.pop_due(now):
            actions += self._dispatch(entry, Event.TIMEOUT, now=now)
        actions += self.heartbeat.on_timer(now)
        return actions

    def next_deadline(self) -> float | None:
        a = self._timers.next_deadline()
        b = self.heartbeat.next_deadline()
        if a is None:
            return b
        return a if b is None else min(a, b)

    def reregister(self, lma: str) -> list[Action]:
        """Refresh every binding with ``lma`` now: it restarted and may have lost them.

        Bound entries start a refresh exchange (a PBU each, at once); refreshes in
        flight are sent again without waiting for their back-off; registrations and
        de-registrations in flight carry on as they are.
        """
        actions: list[Action] = []
        count = 0
        now = self.clock.monotonic()
        for entry in list(self._by_mac.values()):
            if entry.lma != lma:
                continue
            if entry.phase is Phase.ACTIVE:
                actions += self._on_refresh_due(entry, None, now)
            elif entry.phase is Phase.REFRESHING:
                entry.txn_timeout = self._retry_timeout
                actions.append(self._transmit(entry))
            else:
                continue
            self.counters["reregistered"] += 1
            count += 1
        return [Notice("info", f"re-registering {count} mobile nodes with {lma}"), *actions]

    def _dispatch(
        self,
        entry: BulEntry,
        event: Event,
        pba: ProxyBindingAck | None = None,
        now: float = 0.0,
    ) -> list[Action]:
        """The single place an event meets an entry: look the pair up in ``TRANSITIONS``."""
        rule = TRANSITIONS[entry.phase, event]
        if isinstance(rule, Ignored):
            if rule.counter is not None:
                self.counters[rule.counter] += 1
            return []
        return rule(self, entry, pba, now)

    # ------------------------------------------------------------------ handlers
    # One per non-ignored cell of the table; each leaves the entry in a phase of
    # the table's row or forgets it.

    def _on_attach_detached(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        # The MN came back before the LMA answered: carry on with the registration.
        entry.phase = Phase.REGISTERING
        return []

    def _on_attach_bound(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        # Re-association while the binding holds: serve again (a fresh RA burst).
        self.counters["reattach_active"] += 1
        return [ServeMobileNode(entry.snapshot(self._link_local))]

    def _on_attach_leaving(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        # The MN came back before the LMA answered the de-registration; register again.
        entry.handoff_indicator = (
            HandoffIndicator.NOT_CHANGED if entry.prefixes else entry.handoff_indicator
        )
        return self._start(entry, Phase.REGISTERING)

    def _on_detach_registering(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        # A PBA may still come; de-register then, or give up quietly at timeout.
        entry.phase = Phase.REGISTERING_DETACHED
        return []

    def _on_detach_bound(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        self._changed(entry)
        stop = StopServing(entry.snapshot(self._link_local), "detached")
        return [stop, *self._start(entry, Phase.DEREGISTERING)]

    def _on_accepted(self, entry: BulEntry, pba: ProxyBindingAck | None, _now: float):
        """A registration or a refresh accepted (§6.9.1.2)."""
        assert pba is not None
        self._timers.cancel(entry)
        now = self.clock.monotonic()
        prefixes = tuple(p for p in pba.home_network_prefixes if not p.is_zero)
        if not prefixes or pba.lifetime_units == 0:
            self.counters["pba_accept_unusable"] += 1
            return self._fail(entry, "LMA accepted the PBU but granted no prefix or no lifetime")
        first = entry.phase is not Phase.REFRESHING
        changed = prefixes != entry.prefixes
        self._changed(entry)
        entry.prefixes = prefixes
        entry.lifetime = pba.lifetime
        entry.expires_at = now + pba.lifetime
        if entry.phase is Phase.REGISTERING_DETACHED:
            # The MN left while we registered it: undo at the LMA straight away.
            return self._start(entry, Phase.DEREGISTERING)
        entry.phase = Phase.ACTIVE
        self._timers.set(entry, now + pba.lifetime * self.settings.refresh_fraction)
        if first:
            entry.registered_at = now
            self.counters["registered"] += 1
            return [ServeMobileNode(entry.snapshot(self._link_local))]
        self.counters["refreshed"] += 1
        if changed:
            return [ServeMobileNode(entry.snapshot(self._link_local))]
        return []

    def _on_deregistered(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        self.counters["deregistered"] += 1
        self._forget(entry)
        return []

    def _on_rejected(self, entry: BulEntry, pba: ProxyBindingAck | None, _now: float):
        assert pba is not None
        self._timers.cancel(entry)
        status = pba.status
        self.counters[f"rejected.{status_name(status)}"] += 1
        leaving = entry.phase is Phase.DEREGISTERING
        if (
            status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW
            and entry.resyncs < self.settings.max_sequence_resyncs
        ):
            # RFC 5213 §5.5: the PBA carries the last sequence number the LMA accepted
            # (perhaps from another MAG); continue above it.
            self._next_sequence = (pba.sequence + 1) & 0xFFFF
            entry.resyncs += 1
            return [self._transmit(entry)]
        if (
            status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
            and not leaving
            and entry.resyncs < self.settings.max_sequence_resyncs
        ):
            # Another MAG's message with a later timestamp got there first (clock
            # skew or a race); a retransmission carries a fresh timestamp.
            entry.resyncs += 1
            return [self._transmit(entry)]
        if leaving:
            self._forget(entry)
            return [
                Notice(
                    "info",
                    f"LMA refused de-registration of {entry.mn_id.decode()}: {status_name(status)}",
                )
            ]
        why = f"LMA {entry.lma} rejected {entry.mn_id.decode()}: {status_name(status)} ({status})"
        if status == Status.TIMESTAMP_MISMATCH and pba.timestamp is not None:
            offset = ts.to_unix(pba.timestamp) - self.clock.time()
            why += f"; the LMA clock is {offset:+.3f} s from ours"
        return self._fail(entry, why)

    def _on_refresh_due(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        entry.phase = Phase.REFRESHING
        entry.txn_timeout = self._retry_timeout
        return [self._transmit(entry)]

    def _on_left_unanswered(self, entry: BulEntry, _pba: ProxyBindingAck | None, _now: float):
        # The MN left before the LMA answered; make sure no binding is left behind.
        return self._start(entry, Phase.DEREGISTERING)

    def _on_unanswered(self, entry: BulEntry, _pba: ProxyBindingAck | None, now: float):
        """No PBA within the retransmission timeout: resend with back-off, or give up."""
        if entry.phase is Phase.REFRESHING and now >= entry.expires_at:
            self.counters["expired"] += 1
            return self._fail(
                entry, f"binding of {entry.mn_id.decode()} expired: no PBA from {entry.lma}"
            )
        next_timeout = entry.txn_timeout * 2
        if next_timeout > self._max_timeout:
            if entry.phase is Phase.DEREGISTERING:
                self.counters["gave_up.deregister"] += 1
                self._forget(entry)
                return [Notice("info", f"no answer to de-registration of {entry.mn_id.decode()}")]
            if entry.phase is Phase.REGISTERING and not self.settings.keep_registering:
                self.counters["gave_up.register"] += 1
                return self._fail(entry, f"no PBA from LMA {entry.lma} for {entry.mn_id.decode()}")
            # The back-off is over; keep trying at the longest interval (RFC 6275 §11.8
            # allows it): a refresh until the binding runs out, a registration while the
            # MN stays attached (a detach ends it through REGISTERING_DETACHED), so lost
            # PBUs or PBAs never leave an attached MN without service for good.
            self.counters[f"retry_at_max.{entry.txn.value}"] += 1
            next_timeout = self._max_timeout
        entry.txn_timeout = next_timeout
        self.counters["pbu_retransmitted"] += 1
        return [self._transmit(entry)]

    # ------------------------------------------------------------------ helpers

    def _admit(self, mac: bytes) -> MobileNodeProfile | Refusal:
        """The policy profile this MAG serves ``mac`` with, or why it does not serve it.

        Shared by :meth:`attach` and :func:`.persistence.restore`: a saved binding must
        still be allowed by the policy the agent restarted with.
        """
        profile = self.policy.profile_for_mac(mac)
        if profile is None:
            return Refusal(
                "attach_unknown_mn", f"no policy profile for MAC {mac_text(mac)}: not served"
            )
        if profile.mags is not None and self.address not in profile.mags:
            return Refusal(
                "attach_not_allowed_here", f"{profile.mn_id.decode()} may not be served by this MAG"
            )
        return profile

    def _add(self, entry: BulEntry) -> None:
        self._by_mac[entry.mac] = entry
        self._by_mn_id[entry.mn_id] = entry
        self._changed(entry)

    def _changed(self, entry: BulEntry) -> None:
        if self.dirty is not None:
            self.dirty.add(entry)

    def _start(self, entry: BulEntry, phase: Phase) -> list[Action]:
        """Begin a new exchange (registration or de-registration) and send its first PBU."""
        entry.phase = phase
        entry.txn_timeout = (
            self._first_timeout if phase is Phase.REGISTERING else self._retry_timeout
        )
        entry.resyncs = 0
        return [self._transmit(entry)]

    def _transmit(self, entry: BulEntry) -> Send:
        """Send (or resend) the PBU of the exchange in flight, with a new sequence number."""
        now = self.clock.monotonic()
        entry.sequence = self._next_sequence
        self._next_sequence = (self._next_sequence + 1) & 0xFFFF
        phase = entry.phase
        if phase is Phase.DEREGISTERING:
            units = 0
            hi = entry.handoff_indicator
        elif phase is Phase.REFRESHING:
            units = self._requested_units
            hi = HandoffIndicator.NOT_CHANGED
        else:
            units = self._requested_units
            hi = entry.handoff_indicator
        deadline = now + entry.txn_timeout
        if phase is Phase.REFRESHING:
            deadline = min(deadline, entry.expires_at)
        self._timers.set(entry, deadline)
        self.heartbeat.track(entry.lma, now)
        self.counters["pbu_sent"] += 1
        pbu = ProxyBindingUpdate(
            sequence=entry.sequence,
            lifetime_units=units,
            flags=BU_FLAG_A | BU_FLAG_P,
            mn_id=entry.mn_id,
            home_network_prefixes=list(entry.prefixes) if entry.prefixes else [ZERO_PREFIX],
            handoff_indicator=hi,
            access_technology_type=entry.access_technology_type,
            mn_link_layer_id=entry.mac,
            link_local_address=self._link_local,
            timestamp=ts.from_unix(self.clock.time()) if self._use_timestamps else None,
        )
        return Send(entry.lma, pbu)

    def _fail(self, entry: BulEntry, why: str) -> list[Action]:
        actions: list[Action] = [Notice("warning", f"{why}; {mac_text(entry.mac)} gets no service")]
        if entry.state is BulState.ACTIVE:
            actions.append(StopServing(entry.snapshot(self._link_local), why))
        self._forget(entry)
        return actions

    def _forget(self, entry: BulEntry) -> None:
        self._changed(entry)
        self._timers.cancel(entry)
        self._by_mac.pop(entry.mac, None)
        if self._by_mn_id.get(entry.mn_id) is entry:
            del self._by_mn_id[entry.mn_id]

    # ------------------------------------------------------------------ restart
    # The saved-state format lives in .persistence, which builds on this module;
    # these two keep the machine's interface whole for the shell and the tests.

    def snapshot(self) -> dict:
        """Active bindings as plain data, to survive a restart."""
        from .persistence import snapshot

        return snapshot(self)

    def restore(self, snapshot: dict) -> list[Action]:
        """Serve again the MNs bound when the agent stopped; refresh them on time."""
        from .persistence import restore

        return restore(self, snapshot)

    # ------------------------------------------------------------------ views

    def binding_rows(self, limit: int | None = None, mac: bytes | None = None) -> list[dict]:
        now = self.clock.monotonic()
        entries = (
            [self._by_mac[mac]]
            if mac is not None and mac in self._by_mac
            else ([] if mac is not None else self._by_mac.values())
        )
        rows = []
        for entry in entries:
            rows.append(
                {
                    "mn_id": entry.mn_id.decode(errors="replace"),
                    "mac": mac_text(entry.mac),
                    "state": entry.state.value,
                    "exchange": entry.txn.value,
                    "hnps": [str(p) for p in entry.prefixes],
                    "lma": entry.lma,
                    "interface": entry.interface,
                    "handoff_indicator": entry.handoff_indicator,
                    "lifetime": entry.lifetime,
                    "lifetime_remaining": max(0.0, round(entry.expires_at - now, 3))
                    if entry.state is BulState.ACTIVE
                    else None,
                    "sequence": entry.sequence,
                    "attached_for": round(now - entry.attached_at, 3),
                }
            )
            if limit is not None and len(rows) >= limit:
                break
        return rows

    def status(self) -> dict:
        active = sum(1 for e in self._by_mac.values() if e.state is BulState.ACTIVE)
        return {
            "role": "mag",
            "address": self.address,
            "link_local_address": address_text(self._link_local),
            "entries": len(self._by_mac),
            "active": active,
            "replay_protection": self.settings.replay_protection,
            "heartbeat": self.heartbeat.status(self.clock.monotonic()),
        }


def _answers_outstanding(pba: ProxyBindingAck, outstanding: int) -> bool:
    """Whether ``pba`` can be the answer to the PBU numbered ``outstanding``.

    RFC 6275 §6.1.8 / §11.7.3: a PBA copies the PBU's sequence number. The one
    exception, status 135, carries the LMA's last accepted number instead (RFC 6275
    §9.5.1, RFC 5213 §6.9.1.2); the LMA refuses a PBU only when that number is not
    older than ours, so a genuine 135 is at most half the sequence space ahead of the
    outstanding number (0 when an LMA echoes ours). A 135 "behind" ours cannot come
    from the LMA: honouring it would let a forger move our sequence numbers back into
    the LMA's refused window, so it is dropped like any unmatched PBA.
    """
    if pba.status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW:
        return ((pba.sequence - outstanding) & 0xFFFF) <= 0x8000
    return pba.sequence == outstanding


_G = MobileAccessGateway
_LATE_PBA = Ignored("no exchange in flight: a late or duplicate PBA", counter="pba_unmatched")

TRANSITIONS: dict[tuple[Phase, Event], Handler | Ignored] = {
    (Phase.REGISTERING, Event.ATTACH): Ignored("registration already in flight"),
    (Phase.REGISTERING, Event.DETACH): _G._on_detach_registering,
    (Phase.REGISTERING, Event.ACCEPTED): _G._on_accepted,
    (Phase.REGISTERING, Event.REJECTED): _G._on_rejected,
    (Phase.REGISTERING, Event.TIMEOUT): _G._on_unanswered,
    (Phase.REGISTERING_DETACHED, Event.ATTACH): _G._on_attach_detached,
    (Phase.REGISTERING_DETACHED, Event.DETACH): Ignored("already detached"),
    (Phase.REGISTERING_DETACHED, Event.ACCEPTED): _G._on_accepted,
    (Phase.REGISTERING_DETACHED, Event.REJECTED): _G._on_rejected,
    (Phase.REGISTERING_DETACHED, Event.TIMEOUT): _G._on_left_unanswered,
    (Phase.ACTIVE, Event.ATTACH): _G._on_attach_bound,
    (Phase.ACTIVE, Event.DETACH): _G._on_detach_bound,
    (Phase.ACTIVE, Event.ACCEPTED): _LATE_PBA,
    (Phase.ACTIVE, Event.REJECTED): _LATE_PBA,
    (Phase.ACTIVE, Event.TIMEOUT): _G._on_refresh_due,
    (Phase.REFRESHING, Event.ATTACH): _G._on_attach_bound,
    (Phase.REFRESHING, Event.DETACH): _G._on_detach_bound,
    (Phase.REFRESHING, Event.ACCEPTED): _G._on_accepted,
    (Phase.REFRESHING, Event.REJECTED): _G._on_rejected,
    (Phase.REFRESHING, Event.TIMEOUT): _G._on_unanswered,
    (Phase.DEREGISTERING, Event.ATTACH): _G._on_attach_leaving,
    (Phase.DEREGISTERING, Event.DETACH): Ignored("de-registration already under way"),
    (Phase.DEREGISTERING, Event.ACCEPTED): _G._on_deregistered,
    (Phase.DEREGISTERING, Event.REJECTED): _G._on_rejected,
    (Phase.DEREGISTERING, Event.TIMEOUT): _G._on_unanswered,
}
"""Every (phase, event) pair: the handler that carries it out, or why nothing happens."""

# An incomplete table would make a lookup fail at run time, in the field; fail at import.
if set(TRANSITIONS) != {(p, e) for p in Phase for e in Event}:
    raise RuntimeError("mag.machine.TRANSITIONS must list every (phase, event) pair")
