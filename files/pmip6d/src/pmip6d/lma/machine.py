"""The Local Mobility Anchor as a sans-IO state machine (RFC 5213 §5).

Rules of this file:

* Everything that decides what happens to a binding lives here; nothing here
  touches a socket, netlink, a thread or the system clock. Input is a decoded
  message (or raw bytes) plus the injected clock; output is a list of
  :mod:`pmip6d.actions` for the shell to carry out.
* The §5.3.1 admission checks are a table of data (``ADMISSION_CHECKS``), run
  in RFC order; the first that fails decides the PBA status. A PBU that passes
  them all is recognised by one inlined conjunction of the same conditions
  (``_admissible``: ten calls fewer per PBU); the table runs only to name the
  failure. ``tests/unit/test_lma_admission.py`` checks that the two agree.
* Binding cache lookups follow §5.4.1 and are all dict accesses, so one PBU
  costs the same with ten bindings or a million.
* The rest of the dispatch is data too: ``HANDOFF_LOOKUP`` maps (the MN has
  entries or not, Handoff Indicator) to the §5.4.1.3 rule that picks the entry,
  ``ON_LOOKUP`` maps (what the lookup found, registration or de-registration)
  to the transition. Both list every pair (checked at import); a Handoff
  Indicator value RFC 5213 does not define is a new session, explicitly.
* The saved-state format (``snapshot``/``restore``) lives in :mod:`.persistence`.

Theory of operation. A PBU passes the admission checks, then is matched to at
most one binding cache entry (BCE). No entry: a new mobility session gets
prefixes (the policy profile's, or the pool's) and a route to the MAG. An
entry from the same MAG: a lifetime extension. From another MAG: a handoff,
one route replacement. Lifetime zero: de-registration; if it comes from the
MAG the entry points at, the entry lingers MinDelayBeforeBCEDelete so the new
MAG can take it over, otherwise it is a late message from a previous MAG and
changes nothing. A PBU with Handoff Indicator 4 ("unknown") that would take an
entry away from another MAG waits up to MaxDelayBeforeNewBCEAssign for that
MAG's de-registration before deciding between handoff and a new session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .. import defaults
from ..actions import Action, Notice, RouteToMag, Send, Unroute
from ..clock import Clock
from ..config import RateLimits
from ..heartbeat import DEFAULT_HEARTBEAT, HeartbeatSettings
from ..policy import LmaView, MobileNodeProfile
from ..ratelimit import KeyedLimiter
from ..timers import TimerQueue
from ..wire import timestamp as ts
from ..wire.codec import decode
from ..wire.constants import (
    BA_FLAG_P,
    BU_FLAG_P,
    LIFETIME_UNIT,
    BindingErrorStatus,
    HandoffIndicator,
    Status,
    status_name,
)
from ..wire.messages import (
    BindingError,
    BindingRevocationAck,
    BindingRevocationIndication,
    Heartbeat,
    Malformed,
    Message,
    ProxyBindingAck,
    ProxyBindingUpdate,
    UnsupportedMessage,
)
from ..wire.prefix import Prefix, address_text
from .cache import BceState, BindingCache, BindingCacheEntry
from .heartbeat import heartbeat_monitor
from .pool import PrefixPool
from .reclaim import reclaim_deadline, reclaimable
from .rejectlog import RejectLog
from .revocation import RevocationSettings, Revoker, handover_trigger, revoke_mobile_node
from .route_failure import refuse_unrouted

DEFAULT_RATE_LIMITS = RateLimits()  # frozen: one shared instance


@dataclass(slots=True, frozen=True)
class LmaSettings:
    """RFC 5213 §9 configuration variables and friends, already validated."""

    address: str
    replay_protection: str = defaults.REPLAY_PROTECTION
    timestamp_validity_window_ms: int = defaults.TIMESTAMP_VALIDITY_WINDOW_MS
    min_delay_before_bce_delete_ms: int = defaults.MIN_DELAY_BEFORE_BCE_DELETE_MS
    max_delay_before_new_bce_assign_ms: int = defaults.MAX_DELAY_BEFORE_NEW_BCE_ASSIGN_MS
    max_binding_lifetime: int = defaults.MAX_BINDING_LIFETIME
    heartbeat: HeartbeatSettings = DEFAULT_HEARTBEAT
    """RFC 5847; its ``restart_counter`` is this LMA's."""
    min_delay_bris_ms: int = defaults.MIN_DELAY_BRIS_MS
    bri_max_retries_number: int = defaults.BRI_MAX_RETRIES_NUMBER
    rate_limits: RateLimits = DEFAULT_RATE_LIMITS
    """Binding Errors and reject logging (issue 12, pmip6d/ratelimit.py)."""


@dataclass(slots=True)
class _Request:
    """One PBU being processed, with what the checks learn about it."""

    src: str
    pbu: ProxyBindingUpdate
    profile: MobileNodeProfile | None
    received_at: float | None = None
    """Unix time the PBU arrived (kernel timestamp); None: now."""


@dataclass(slots=True, eq=False)
class PendingRegistration:
    """A PBU with Handoff Indicator 4 waiting for the previous MAG's de-registration."""

    src: str
    pbu: ProxyBindingUpdate
    profile: MobileNodeProfile
    awaited: BindingCacheEntry
    timer_id: int = 0
    timer_due: float = 0.0


class _Lookup(Enum):
    """What §5.4.1 found for a PBU."""

    __hash__ = object.__hash__  # members are singletons; Enum hashes by name in Python

    NEW = "new"
    """No entry: a new mobility session."""
    EXISTING = "existing"
    """This entry: a refresh, a handoff or its de-registration."""
    WAIT = "wait"
    """This entry, another MAG's: wait for its de-registration first (HI 4)."""


_Found = tuple[_Lookup, BindingCacheEntry | None]


class _Candidates(Enum):
    """The situation §5.4.1.3 decides in: the MN's entries no prefix or link id matched."""

    __hash__ = object.__hash__  # members are singletons; Enum hashes by name in Python

    NONE = "none"
    SOME = "some"


class _Purpose(Enum):
    __hash__ = object.__hash__  # dispatch keys (ON_LOOKUP): identity hash, as above

    REGISTER = "register"
    """A registration or a refresh (lifetime > 0)."""
    DEREGISTER = "deregister"


Check = Callable[["LocalMobilityAnchor", _Request], bool]

# RFC 5213 §5.3.1, in order: (what must hold, status of the PBA when it does not).
ADMISSION_CHECKS: tuple[tuple[str, Check, Status], ...] = (
    # Not a proxy registration: this agent is not a Mobile IPv6 home agent.
    ("P flag set", lambda lma, r: r.pbu.proxy, Status.HOME_REGISTRATION_NOT_SUPPORTED),
    # §5.3.1 item 4.
    (
        "MN Identifier option present",
        lambda lma, r: r.pbu.mn_id is not None,
        Status.MISSING_MN_IDENTIFIER_OPTION,
    ),
    # §5.3.1 item 5 and §4: the sender must be a MAG this LMA trusts.
    (
        "sender is an accepted MAG",
        lambda lma, r: r.src in lma.policy.accepted_mags,
        Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
    ),
    # §5.3.1 items 6-7: the mobile node's policy profile names this LMA.
    (
        "MN served by this LMA",
        lambda lma, r: r.profile is not None and r.profile.lma == lma.address,
        Status.NOT_LMA_FOR_THIS_MOBILE_NODE,
    ),
    (
        "MN authorized for proxy mobility",
        lambda lma, r: r.profile.enabled,
        Status.PROXY_REG_NOT_ENABLED,
    ),
    (
        "MAG allowed for this MN",
        lambda lma, r: r.profile.mags is None or r.src in r.profile.mags,
        Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
    ),
    # §5.3.1 item 8 and §5.5.
    (
        "timestamp within the validity window",
        lambda lma, r: lma._timestamp_in_window(r.pbu, r.received_at),
        Status.TIMESTAMP_MISMATCH,
    ),
    # §5.3.1 items 9-11.
    (
        "Home Network Prefix option present",
        lambda lma, r: bool(r.pbu.home_network_prefixes),
        Status.MISSING_HOME_NETWORK_PREFIX_OPTION,
    ),
    (
        "Handoff Indicator option present",
        lambda lma, r: r.pbu.handoff_indicator is not None,
        Status.MISSING_HANDOFF_INDICATOR_OPTION,
    ),
    (
        "Access Technology Type option present",
        lambda lma, r: r.pbu.access_technology_type is not None,
        Status.MISSING_ACCESS_TECH_TYPE_OPTION,
    ),
)


# Not a PmipError on purpose: control flow caught in this module (see pmip6d/errors.py).
class Reject(Exception):
    """Internal: a PBU is refused with ``status``; the PBA may carry a different sequence number."""

    def __init__(self, status: Status, sequence: int | None = None, why: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.sequence = sequence
        self.why = why


def _newest(entries: list[BindingCacheEntry]) -> BindingCacheEntry:
    return max(entries, key=lambda b: b.refreshed_at)


def _sequence_newer(new: int, old: int) -> bool:
    """RFC 6275 §9.5.1: ``new`` is greater than ``old`` modulo 2**16."""
    return 0 < ((new - old) & 0xFFFF) < 0x8000


class LocalMobilityAnchor:
    def __init__(
        self,
        settings: LmaSettings,
        policy: LmaView,
        clock: Clock,
        pool: PrefixPool | None = None,
    ) -> None:
        self.settings = settings
        self.address = settings.address
        self.policy = policy
        self.clock = clock
        self.pool = pool
        self.cache = BindingCache()
        self.counters: Counter[str] = Counter()
        self._timers: TimerQueue[BindingCacheEntry] = TimerQueue()
        self._pending: dict[bytes, PendingRegistration] = {}
        self._pending_timers: TimerQueue[PendingRegistration] = TimerQueue()
        self.revocation = Revoker(
            clock,
            self.counters,
            RevocationSettings(settings.min_delay_bris_ms, settings.bri_max_retries_number),
        )
        self._use_timestamps = settings.replay_protection == "timestamp"
        self._window = ts.from_milliseconds(settings.timestamp_validity_window_ms)
        self._min_delay = settings.min_delay_before_bce_delete_ms / 1000
        self._max_wait = settings.max_delay_before_new_bce_assign_ms / 1000
        self._max_units = settings.max_binding_lifetime // LIFETIME_UNIT
        # Every binding of a MAG shares one Proxy-CoA string and one link-local
        # address object instead of a copy per received PBU (~110 bytes a binding).
        self._mag_addresses = {a: a for a in policy.accepted_mags}
        self._link_locals: dict[bytes, bytes] = {}
        self.heartbeat = heartbeat_monitor(self)
        self.dirty: set[BindingCacheEntry] | None = None
        """Entries changed since the shell last drained this set (None: nobody persists
        them). The durable store saves them before the PBAs of the batch leave."""
        self.reclaim_until: float | None = reclaim_deadline(self)
        """Until then a MAG may re-register a free pool prefix (see .reclaim)."""
        limits = settings.rate_limits
        self.binding_errors = KeyedLimiter(
            limits.binding_errors_per_source,
            limits.binding_error_burst,
            limits.binding_errors_total,
            limits.binding_error_total_burst,
        )
        self.reject_log = RejectLog(
            limits.reject_log_lines, limits.reject_log_interval, self.counters
        )

    # ------------------------------------------------------------------ events in

    def receive(self, src: str, data: bytes, received_at: float | None = None) -> list[Action]:
        """Bytes read from the Mobility Header socket → actions. Never raises on bad input.

        ``received_at`` (Unix time the message arrived) is what the timestamp of a
        PBU is checked against (§5.5), so a stall of this agent (a large dict
        growing, a slow effect) does not turn the PBUs queued meanwhile into
        TIMESTAMP_MISMATCH rejections. None: the clock's current time.
        """
        msg = decode(data)
        if isinstance(msg, Malformed):
            self.counters[f"malformed.{msg.reason}"] += 1
            return [Notice("debug", f"dropped malformed message from {src}: {msg}")]
        return self.handle(src, msg, received_at)

    def handle(self, src: str, msg: Message, received_at: float | None = None) -> list[Action]:
        if isinstance(msg, ProxyBindingUpdate):
            return self.handle_pbu(src, msg, received_at)
        if isinstance(msg, Heartbeat):
            return self.heartbeat.handle(src, msg, self.clock.monotonic())
        if isinstance(msg, BindingRevocationAck):
            return self.revocation.handle_bra(src, msg)
        if isinstance(msg, BindingRevocationIndication):
            return self.revocation.handle_bri(src, msg, self.policy.accepted_mags)
        if isinstance(msg, UnsupportedMessage):
            # RFC 6275 §9.2: an unrecognized MH type is answered with a Binding Error,
            # rate limited per source and in total (§9.3.3): forged junk must not
            # make this agent an amplifier.
            if not self.binding_errors.allow(src, self.clock.monotonic()):
                self.counters["binding_error_suppressed"] += 1
                return []
            self.counters["binding_error_sent"] += 1
            return [Send(src, BindingError(BindingErrorStatus.UNRECOGNIZED_MH_TYPE))]
        self.counters[f"unexpected.{type(msg).__name__}"] += 1
        return []

    def handle_pbu(
        self, src: str, pbu: ProxyBindingUpdate, received_at: float | None = None
    ) -> list[Action]:
        self.counters["pbu_received"] += 1
        src = self._mag_addresses.get(src, src)
        profile = self.policy.profile(pbu.mn_id) if pbu.mn_id is not None else None
        request = _Request(src, pbu, profile, received_at)
        if not self._admissible(request):
            for _what, holds, status in ADMISSION_CHECKS:
                if not holds(self, request):
                    return self._reject(request, status)
        self.heartbeat.track(src, self.clock.monotonic())
        try:
            kind, bce = self._lookup(request)
            if bce is not None:
                self._check_order(request.src, pbu, bce)
            purpose = _Purpose.DEREGISTER if pbu.is_deregistration else _Purpose.REGISTER
            return ON_LOOKUP[kind, purpose](self, request, bce)
        except Reject as rej:
            return self._reject(request, rej.status, rej.sequence, rej.why)

    def on_timer(self) -> list[Action]:
        """Run every timer that is due; call when :meth:`next_deadline` has passed."""
        now = self.clock.monotonic()
        actions: list[Action] = []
        for pending in self._pending_timers.pop_due(now):
            actions += self._wait_expired(pending)
        for bce in self._timers.pop_due(now):
            actions += self._bce_timer(bce, now)
        actions += self.heartbeat.on_timer(now)
        actions += self.revocation.on_timer()
        actions += self.reject_log.on_timer(now)
        return actions

    def next_deadline(self) -> float | None:
        due = [
            d
            for d in (
                self._timers.next_deadline(),
                self._pending_timers.next_deadline(),
                self.heartbeat.next_deadline(),
                self.revocation.next_deadline(),
                self.reject_log.next_deadline(),
            )
            if d is not None
        ]
        return min(due, default=None)

    # ------------------------------------------------------------------ checks

    def _admissible(self, r: _Request) -> bool:
        """Every check of ADMISSION_CHECKS holds, written out (the common case, fast)."""
        pbu = r.pbu
        profile = r.profile
        return (
            pbu.flags & BU_FLAG_P != 0
            and pbu.mn_id is not None
            and r.src in self.policy.accepted_mags
            and profile is not None
            and profile.lma == self.address
            and profile.enabled
            and (profile.mags is None or r.src in profile.mags)
            and self._timestamp_in_window(pbu, r.received_at)
            and len(pbu.home_network_prefixes) > 0
            and pbu.handoff_indicator is not None
            and pbu.access_technology_type is not None
        )

    def _timestamp_in_window(
        self, pbu: ProxyBindingUpdate, received_at: float | None = None
    ) -> bool:
        if not self._use_timestamps:
            return True
        if pbu.timestamp is None:
            return False
        now = self.clock.time() if received_at is None else received_at
        return abs(pbu.timestamp - ts.from_unix(now)) <= self._window

    def _check_order(self, src: str, pbu: ProxyBindingUpdate, bce: BindingCacheEntry) -> None:
        """RFC 5213 §5.5: a PBU older than the last accepted one for the entry is refused.

        A de-registration's timestamp only orders later messages of the same MAG:
        when the old MAG's de-registration overtakes the new MAG's PBU (sent
        earlier, but delayed by neighbour discovery, say), that PBU is still the
        handover and must not fail as "older".
        """
        if self._use_timestamps:
            stamp = pbu.timestamp
            if stamp is not None and (
                (bce.timestamp is not None and stamp < bce.timestamp)
                or (
                    bce.state is BceState.DEREGISTERING
                    and src == bce.proxy_coa
                    and bce.deregistered_timestamp is not None
                    and stamp < bce.deregistered_timestamp
                )
            ):
                raise Reject(Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
        elif pbu.sequence != bce.sequence and not _sequence_newer(pbu.sequence, bce.sequence):
            # The PBA carries the last accepted sequence number so the MAG can resynchronize.
            raise Reject(Status.SEQUENCE_NUMBER_OUT_OF_WINDOW, sequence=bce.sequence)

    def _lookup(self, r: _Request) -> tuple[_Lookup, BindingCacheEntry | None]:
        """RFC 5213 §5.4.1: which binding cache entry, if any, this PBU is about."""
        pbu = r.pbu
        mn_id = pbu.mn_id
        requested = [p for p in pbu.home_network_prefixes if not p.is_zero]
        if requested:  # §5.4.1.1
            found: BindingCacheEntry | None = None
            for prefix in requested:
                bce = self.cache.by_prefix(prefix)
                if bce is None:
                    continue
                if bce.mn_id != mn_id:
                    raise Reject(
                        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                        why=f"{prefix} is bound to another MN",
                    )
                if found is not None and found is not bce:
                    raise Reject(
                        Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH, why="prefixes span two bindings"
                    )
                found = bce
            if found is None:
                return _Lookup.NEW, None
            if set(requested) != set(found.prefixes):
                raise Reject(Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH)
            return _Lookup.EXISTING, found
        att = pbu.access_technology_type
        if pbu.mn_link_layer_id is not None:  # §5.4.1.2
            bce = self.cache.by_link(mn_id, att, pbu.mn_link_layer_id)
            if bce is not None:
                return _Lookup.EXISTING, bce
        candidates = self.cache.by_mn(mn_id)
        situation = _Candidates.SOME if candidates else _Candidates.NONE
        hi = pbu.handoff_indicator
        rule = HANDOFF_LOOKUP.get((situation, hi), _UNLISTED_HANDOFF_INDICATOR)
        return rule(self, r, candidates)

    # §5.4.1.3, one per Handoff Indicator value: which of the MN's entries, if any.

    def _new_session(self, r: _Request, candidates: list[BindingCacheEntry]) -> _Found:
        return _Lookup.NEW, None

    def _latest(self, r: _Request, candidates: list[BindingCacheEntry]) -> _Found:
        # HI 2: the MN moved its session to another interface; the newest entry is it.
        return _Lookup.EXISTING, _newest(candidates)

    def _latest_same_interface(self, r: _Request, candidates: list[BindingCacheEntry]) -> _Found:
        # HI 3: the same interface moved to this MAG; prefer entries of its technology.
        att = r.pbu.access_technology_type
        same = [b for b in candidates if b.access_technology_type == att] or candidates
        return _Lookup.EXISTING, _newest(same)

    def _latest_or_wait(self, r: _Request, candidates: list[BindingCacheEntry]) -> _Found:
        # HI 4: handoff or new interface, nobody knows; if the newest entry is another
        # MAG's and still active, wait MaxDelayBeforeNewBCEAssign for its de-registration.
        latest = _newest(candidates)
        if latest.proxy_coa != r.src and latest.state is BceState.ACTIVE:
            return _Lookup.WAIT, latest
        return _Lookup.EXISTING, latest

    def _same_mag(self, r: _Request, candidates: list[BindingCacheEntry]) -> _Found:
        # HI 5: a re-registration; only this MAG's entry can be meant.
        for bce in candidates:
            if bce.proxy_coa == r.src:
                return _Lookup.EXISTING, bce
        return _Lookup.NEW, None

    def _nothing_to_deregister(self, r: _Request, bce: BindingCacheEntry | None) -> list[Action]:
        # RFC 6275 §10.3.2, which RFC 5213 builds on: nothing to de-register.
        raise Reject(Status.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE, why="no binding")

    # ------------------------------------------------------------------ transitions

    def _shared(self, link_local: bytes) -> bytes:
        """One object per distinct MAG link-local address (RFC 5213 §6.8: usually one)."""
        if len(self._link_locals) >= 1024:
            return self._link_locals.get(link_local, link_local)
        return self._link_locals.setdefault(link_local, link_local)

    def _grant(self, pbu: ProxyBindingUpdate) -> int:
        return min(pbu.lifetime_units, self._max_units)

    def _assign_prefixes(self, r: _Request) -> tuple[tuple[Prefix, ...], bool]:
        """Prefixes for a new mobility session (§5.3.2), and whether they came from the pool."""
        profile = r.profile
        mn_id = r.pbu.mn_id
        requested = [p for p in r.pbu.home_network_prefixes if not p.is_zero]
        if requested:
            pool_claims = []
            for prefix in requested:
                if prefix in profile.hnps:
                    continue
                if self.pool is not None and not profile.hnps and prefix in self.pool:
                    if not reclaimable(self, prefix, mn_id):  # §5.3.2, see .reclaim
                        raise Reject(
                            Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                            why=f"{prefix} was never assigned to this MN",
                        )
                    pool_claims.append(prefix)
                    continue
                raise Reject(
                    Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    why=f"{prefix} not in the MN's profile",
                )
            for prefix in pool_claims:
                if not self.pool.claim(prefix, mn_id):
                    raise Reject(
                        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, why=f"{prefix} is taken"
                    )
            return tuple(requested), bool(pool_claims)
        if profile.hnps:
            free = tuple(p for p in profile.hnps if self.cache.by_prefix(p) is None)
            if free:
                return free, False
            # Every fixed prefix serves another interface of this MN (multihoming).
        if self.pool is None:
            raise Reject(Status.INSUFFICIENT_RESOURCES, why="no prefix pool configured")
        prefix = self.pool.allocate(mn_id)
        if prefix is None:
            raise Reject(Status.INSUFFICIENT_RESOURCES, why="prefix pool exhausted")
        return (prefix,), True

    def _create(self, r: _Request) -> list[Action]:
        pbu = r.pbu
        prefixes, from_pool = self._assign_prefixes(r)
        now = self.clock.monotonic()
        units = self._grant(pbu)
        lifetime = units * LIFETIME_UNIT
        link_local = pbu.link_local_address
        bce = BindingCacheEntry(
            mn_id=pbu.mn_id,
            prefixes=prefixes,
            proxy_coa=r.src,
            access_technology_type=pbu.access_technology_type,
            mn_link_layer_id=pbu.mn_link_layer_id,
            handoff_indicator=pbu.handoff_indicator,
            mag_link_local=self._shared(link_local) if link_local and any(link_local) else None,
            lifetime=lifetime,
            expires_at=now + lifetime,
            registered_at=now,
            refreshed_at=now,
            timestamp=pbu.timestamp,
            sequence=pbu.sequence,
            mn_id_subtype=pbu.mn_id_subtype,
            from_pool=from_pool,
        )
        self._install(bce)
        self.counters["registrations"] += 1
        return [
            RouteToMag(bce.mn_id, prefixes, r.src),
            self._accept(pbu, bce, units),
        ]

    def _install(self, bce: BindingCacheEntry) -> None:
        self.cache.add(bce)
        self._timers.set(bce, bce.expires_at)
        # Restored bindings too: after a restart with its state, the LMA heartbeats
        # their MAGs before any of them sends a PBU.
        self.heartbeat.track(bce.proxy_coa, self.clock.monotonic())
        self._changed(bce)

    def _changed(self, bce: BindingCacheEntry) -> None:
        if self.dirty is not None:
            self.dirty.add(bce)

    def _update(self, r: _Request, bce: BindingCacheEntry) -> list[Action]:
        """Lifetime extension (§5.3.3) or handoff (§5.3.4) of an existing entry."""
        pbu = r.pbu
        now = self.clock.monotonic()
        units = self._grant(pbu)
        previous = bce.proxy_coa
        previous_att = bce.access_technology_type
        handoff = previous != r.src
        revived = bce.state is BceState.DEREGISTERING
        bce.lifetime = units * LIFETIME_UNIT
        bce.expires_at = now + bce.lifetime
        bce.refreshed_at = now
        bce.timestamp = pbu.timestamp
        bce.sequence = pbu.sequence
        bce.handoff_indicator = pbu.handoff_indicator
        if pbu.link_local_address and any(pbu.link_local_address):
            bce.mag_link_local = self._shared(pbu.link_local_address)
        if pbu.access_technology_type != bce.access_technology_type or (
            pbu.mn_link_layer_id is not None and pbu.mn_link_layer_id != bce.mn_link_layer_id
        ):
            self.cache.relink(
                bce, pbu.access_technology_type, pbu.mn_link_layer_id or bce.mn_link_layer_id
            )
        bce.state = BceState.ACTIVE
        bce.deregistered_timestamp = None
        self._timers.set(bce, bce.expires_at)
        self._changed(bce)
        actions: list[Action] = []
        revocation: list[Action] = []
        if handoff:
            bce.proxy_coa = r.src
            bce.handoffs += 1
            self.counters["handoffs"] += 1
            actions.append(RouteToMag(bce.mn_id, bce.prefixes, r.src, previous))
            if not revived:
                # RFC 5846: the previous MAG still serves the MN; make it stop now.
                trigger = handover_trigger(previous_att, pbu.access_technology_type)
                revocation = self.revocation.revoke(previous, bce, trigger)
        elif revived:
            self.counters["revived"] += 1
            actions.append(RouteToMag(bce.mn_id, bce.prefixes, r.src))
        else:
            self.counters["refreshes"] += 1
        actions.append(self._accept(pbu, bce, units))
        # The PBA first: the new MAG's handover waits for it, the old MAG's BRI waits for nothing.
        actions += revocation
        return actions

    def _deregister(self, r: _Request, bce: BindingCacheEntry) -> list[Action]:
        """§5.3.5 de-registration."""
        pbu = r.pbu
        if bce.proxy_coa != r.src:
            # The MN has moved on and this is its previous MAG catching up: the
            # entry now belongs to the new MAG and must survive.
            self.counters["deregistrations_from_previous_mag"] += 1
            self.revocation.settled(r.src, bce.mn_id)
            return [Send(r.src, self._pba(pbu, Status.ACCEPTED, 0, pbu.home_network_prefixes))]
        if pbu.timestamp is not None:
            bce.deregistered_timestamp = pbu.timestamp
        bce.sequence = pbu.sequence
        pending = self._pending.get(bce.mn_id)
        if pending is not None and pending.awaited is bce:
            # The awaited de-registration: the waiting PBU was a handoff after all.
            self._drop_pending(pending)
            self.counters["deregistrations"] += 1
            bce.state = BceState.DEREGISTERING  # its MAG let go: no revocation to send
            ack = Send(r.src, self._pba(pbu, Status.ACCEPTED, 0, bce.prefixes))
            return [ack, *self._update(_Request(pending.src, pending.pbu, pending.profile), bce)]
        actions: list[Action] = []
        if bce.state is BceState.ACTIVE:
            self.counters["deregistrations"] += 1
            bce.state = BceState.DEREGISTERING
            self._timers.set(bce, self.clock.monotonic() + self._min_delay)
            self._changed(bce)
            actions.append(Unroute(bce.mn_id, bce.prefixes, bce.proxy_coa))
        actions.append(Send(r.src, self._pba(pbu, Status.ACCEPTED, 0, bce.prefixes)))
        return actions

    def _wait_for_deregistration(self, r: _Request, bce: BindingCacheEntry) -> list[Action]:
        pending = self._pending.get(bce.mn_id)
        if pending is not None and pending.awaited is bce:
            # A retransmission while we wait: answer the newest one later.
            pending.src, pending.pbu, pending.profile = r.src, r.pbu, r.profile
            self.counters["pbu_while_waiting"] += 1
            return []
        if pending is not None:
            self._drop_pending(pending)
        pending = PendingRegistration(r.src, r.pbu, r.profile, bce)
        self._pending[bce.mn_id] = pending
        self._pending_timers.set(pending, self.clock.monotonic() + self._max_wait)
        self.counters["waits_for_deregistration"] += 1
        return []

    def _wait_expired(self, pending: PendingRegistration) -> list[Action]:
        """MaxDelayBeforeNewBCEAssign passed with no de-registration: a new mobility session."""
        self._pending.pop(pending.awaited.mn_id, None)
        request = _Request(pending.src, pending.pbu, pending.profile)
        try:
            return self._create(request)
        except Reject as rej:
            return self._reject(request, rej.status, rej.sequence, rej.why)

    def _drop_pending(self, pending: PendingRegistration) -> None:
        self._pending.pop(pending.awaited.mn_id, None)
        self._pending_timers.cancel(pending)

    def _bce_timer(self, bce: BindingCacheEntry, now: float) -> list[Action]:
        actions: list[Action] = []
        if bce.state is BceState.ACTIVE:
            self.counters["expirations"] += 1
            actions.append(Unroute(bce.mn_id, bce.prefixes, bce.proxy_coa))
            actions.append(
                Notice(
                    "info",
                    f"binding of {bce.mn_id.decode(errors='replace')} expired at {bce.proxy_coa}",
                )
            )
        self._delete(bce)
        return actions

    def _delete(self, bce: BindingCacheEntry) -> None:
        self.cache.remove(bce)
        self._timers.cancel(bce)
        self._changed(bce)
        self.counters["deleted"] += 1
        if bce.from_pool and self.pool is not None:
            for prefix in bce.prefixes:
                self.pool.release(prefix)

    # ------------------------------------------------------------------ PBA (§5.3.6)

    def _pba(
        self,
        pbu: ProxyBindingUpdate,
        status: int,
        units: int,
        prefixes,
        *,
        sequence: int | None = None,
        link_local: bytes | None = None,
    ) -> ProxyBindingAck:
        self.counters["pba_sent"] += 1
        stamp = pbu.timestamp
        if status == Status.TIMESTAMP_MISMATCH or (stamp is None and self._use_timestamps):
            # Tell the MAG our time so the operator can see the clock offset.
            stamp = ts.from_unix(self.clock.time())
        # Positional, in the field order of ProxyBindingAck (status, sequence, lifetime,
        # flags, MN-ID, its subtype, HNPs, HI, ATT, LL-ID, link-local, timestamp): a
        # third of the cost of twelve keywords, once per PBU.
        return ProxyBindingAck(
            status,
            pbu.sequence if sequence is None else sequence,
            units,
            BA_FLAG_P,
            pbu.mn_id,
            pbu.mn_id_subtype,
            list(prefixes),
            pbu.handoff_indicator,
            pbu.access_technology_type,
            pbu.mn_link_layer_id,
            link_local if link_local is not None else pbu.link_local_address,
            stamp,
        )

    def _accept(self, pbu: ProxyBindingUpdate, bce: BindingCacheEntry, units: int) -> Send:
        link_local = None
        if pbu.link_local_address is not None and not any(pbu.link_local_address):
            # An all-zero Link-local Address option asks which address to use (§6.8).
            link_local = bce.mag_link_local or pbu.link_local_address
        return Send(
            bce.proxy_coa,
            self._pba(pbu, Status.ACCEPTED, units, bce.prefixes, link_local=link_local),
        )

    def _reject(
        self, r: _Request, status: Status, sequence: int | None = None, why: str = ""
    ) -> list[Action]:
        self.counters[f"rejected.{status_name(status)}"] += 1
        who = r.pbu.mn_id.decode(errors="replace") if r.pbu.mn_id is not None else "(no MN-ID)"
        detail = f" ({why})" if why else ""
        text = f"rejected PBU from {r.src} for {who}: {status_name(status)}{detail}"
        return [
            *self.reject_log.notice(self.clock.monotonic(), status, text),
            Send(
                r.src, self._pba(r.pbu, status, 0, r.pbu.home_network_prefixes, sequence=sequence)
            ),
        ]

    def routes_refused(self, withheld: list[tuple[str, ProxyBindingAck]]) -> list[Action]:
        """The shell withheld these accepting PBAs: the kernel refused their routes."""
        return refuse_unrouted(self, withheld)

    # ------------------------------------------------------------------ operator

    def revoke(self, mn_id: bytes) -> tuple[list[dict], list[Action]]:
        """Remove the MN's bindings and routes now; BRI to its MAG (RFC 5846, see .revocation)."""
        return revoke_mobile_node(self, mn_id)

    # ------------------------------------------------------------------ restart
    # The saved-state format lives in .persistence, which builds on this module;
    # these two keep the machine's interface whole for the shell and the tests.

    def snapshot(self) -> dict:
        """The binding cache as plain data, to survive a restart."""
        from .persistence import snapshot

        return snapshot(self)

    def restore(self, snapshot: dict) -> list[Action]:
        """Take back the saved bindings that are still valid and still allowed."""
        from .persistence import restore

        self.reclaim_until = None  # the saved state says which prefixes were given
        return restore(self, snapshot)

    # ------------------------------------------------------------------ views

    def binding_rows(self, limit: int | None = None, mn_id: bytes | None = None) -> list[dict]:
        """The binding cache as plain data (for pmipctl and the Ansible modules)."""
        now = self.clock.monotonic()
        entries = self.cache.by_mn(mn_id) if mn_id is not None else self.cache
        rows = []
        for bce in entries:
            rows.append(bce_row(bce, now))
            if limit is not None and len(rows) >= limit:
                break
        return rows

    def status(self) -> dict:
        return {
            "role": "lma",
            "address": self.address,
            "bindings": len(self.cache),
            "mobile_nodes": self.cache.mobile_nodes,
            "pending": len(self._pending),
            "revocations_pending": len(self.revocation),
            "pool": None
            if self.pool is None
            else {
                "prefix": str(self.pool.base),
                "length": self.pool.length,
                "size": self.pool.size,
                "in_use": self.pool.in_use,
            },
            "replay_protection": self.settings.replay_protection,
            "heartbeat": self.heartbeat.status(self.clock.monotonic()),
        }


_A = LocalMobilityAnchor

HANDOFF_LOOKUP: dict[tuple[_Candidates, int], Callable[..., _Found]] = {
    # With no entry for the MN, every Handoff Indicator means a new mobility session.
    **{(_Candidates.NONE, hi): _A._new_session for hi in HandoffIndicator},
    # §8.4 reserves 0; treated as "new", as a value RFC 5213 does not define is.
    (_Candidates.SOME, HandoffIndicator.RESERVED): _A._new_session,
    (_Candidates.SOME, HandoffIndicator.NEW_INTERFACE): _A._new_session,
    (_Candidates.SOME, HandoffIndicator.DIFFERENT_INTERFACE): _A._latest,
    (_Candidates.SOME, HandoffIndicator.SAME_INTERFACE): _A._latest_same_interface,
    (_Candidates.SOME, HandoffIndicator.UNKNOWN): _A._latest_or_wait,
    (_Candidates.SOME, HandoffIndicator.NOT_CHANGED): _A._same_mag,
}
"""RFC 5213 §5.4.1.3: (the MN's unmatched entries, Handoff Indicator) → which entry is meant."""

_UNLISTED_HANDOFF_INDICATOR = _A._new_session
"""Values 6-255, which RFC 5213 does not define: a new mobility session, never a takeover."""

ON_LOOKUP: dict[tuple[_Lookup, _Purpose], Callable[..., list[Action]]] = {
    (_Lookup.NEW, _Purpose.REGISTER): lambda lma, r, _bce: lma._create(r),
    (_Lookup.NEW, _Purpose.DEREGISTER): _A._nothing_to_deregister,
    (_Lookup.EXISTING, _Purpose.REGISTER): _A._update,
    (_Lookup.EXISTING, _Purpose.DEREGISTER): _A._deregister,
    (_Lookup.WAIT, _Purpose.REGISTER): _A._wait_for_deregistration,
    # The awaited MAG, or another, de-registering: §5.3.5 decides, waiting or not.
    (_Lookup.WAIT, _Purpose.DEREGISTER): _A._deregister,
}
"""What an admitted PBU does, by what §5.4.1 found and what the PBU asks for."""

# An incomplete table would fail at run time, on a PBU; fail at import instead.
if set(ON_LOOKUP) != {(k, p) for k in _Lookup for p in _Purpose} or set(HANDOFF_LOOKUP) != {
    (c, hi) for c in _Candidates for hi in HandoffIndicator
}:
    raise RuntimeError("lma.machine: ON_LOOKUP and HANDOFF_LOOKUP must list every pair")


def bce_row(bce: BindingCacheEntry, now: float) -> dict:
    return {
        "mn_id": bce.mn_id.decode(errors="replace"),
        "hnps": [str(p) for p in bce.prefixes],
        "proxy_coa": bce.proxy_coa,
        "state": bce.state.value,
        "access_technology_type": bce.access_technology_type,
        "mn_link_layer_id": bce.mn_link_layer_id.hex(":") if bce.mn_link_layer_id else None,
        "handoff_indicator": bce.handoff_indicator,
        "mag_link_local": address_text(bce.mag_link_local) if bce.mag_link_local else None,
        "lifetime": bce.lifetime,
        "lifetime_remaining": max(0.0, round(bce.expires_at - now, 3)),
        "registered_for": round(now - bce.registered_at, 3),
        "handoffs": bce.handoffs,
        "sequence": bce.sequence,
        "timestamp": ts.to_unix(bce.timestamp) if bce.timestamp is not None else None,
    }
