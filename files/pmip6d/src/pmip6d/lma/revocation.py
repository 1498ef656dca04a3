"""The LMA's side of RFC 5846 binding revocation, sans-IO.

Two things make the LMA revoke a mobile node's binding at a MAG:

* a handover (§8.1 with RFC 5213 §5.3.4): a PBU from a new MAG moved the binding
  away from a MAG that still believes it serves the MN; that MAG gets a Binding
  Revocation Indication with an "Inter-MAG Handover" trigger, so it stops its
  routes and Router Advertisements for the MN at once instead of when the
  access point reports the MN gone or the binding update list entry runs out;
* an operator (``pmipctl revoke MN-ID``): the MN's entries are removed with
  their routes at once and each MAG that served one gets a BRI with the trigger
  "Administrative Reason".

A BRI is retransmitted with back-off (MINDelayBRIs, doubled each time) up to
BRIMaxRetriesNumber times until the MAG answers with a Binding Revocation
Acknowledgement carrying the same sequence number and MN-Identifier. Nothing in
the binding cache waits for the BRA: the LMA has already moved or removed the
binding, the BRA only tells the operator (counters, log) that the MAG complied.

A BRI that arrives at the LMA (a MAG-initiated revocation, RFC 5846 §9.1) is
answered "Revocation Function NOT Supported" when it comes from a MAG this LMA
accepts, and dropped otherwise, so the LMA cannot be made to reflect traffic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import defaults
from ..actions import Action, Notice, Send, Unroute
from ..clock import Clock
from ..ratelimit import TokenBucket
from ..timers import TimerQueue
from ..wire.constants import (
    BR_FLAG_P,
    RevocationStatus,
    RevocationTrigger,
    revocation_status_name,
)
from ..wire.messages import BindingRevocationAck, BindingRevocationIndication
from .cache import BceState, BindingCacheEntry

if TYPE_CHECKING:
    from .machine import LocalMobilityAnchor


GAVE_UP_LOG_BURST = 10
GAVE_UP_LOG_RATE = 1.0
"""Warnings about unanswered revocations: 10 at once, then one a second."""


@dataclass(slots=True, frozen=True)
class RevocationSettings:
    """RFC 5846 §11 configuration variables of the initiator."""

    min_delay_bris_ms: int = defaults.MIN_DELAY_BRIS_MS
    bri_max_retries_number: int = defaults.BRI_MAX_RETRIES_NUMBER


@dataclass(slots=True, eq=False)
class PendingRevocation:
    """A BRI sent and not yet acknowledged."""

    mag: str
    bri: BindingRevocationIndication
    retries: int = 0
    timeout: float = 0.0
    timer_id: int = 0
    timer_due: float = 0.0


def handover_trigger(old_att: int | None, new_att: int | None) -> RevocationTrigger:
    """RFC 5846 §6.1: the handover trigger says whether the access technology changed."""
    if old_att is None or new_att is None:
        return RevocationTrigger.INTER_MAG_HANDOVER_UNKNOWN
    if old_att == new_att:
        return RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE
    return RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE


class Revoker:
    """Outstanding BRIs of one LMA: send, retransmit, match the acknowledgements."""

    def __init__(
        self,
        clock: Clock,
        counters: Counter[str],
        settings: RevocationSettings | None = None,
        first_sequence: int = 0,
    ) -> None:
        self.clock = clock
        self.counters = counters
        self.settings = settings or RevocationSettings()
        self._first_timeout = self.settings.min_delay_bris_ms / 1000
        self._next_sequence = first_sequence & 0xFFFF
        # (MAG, sequence) is what a BRA is matched on; one BRI per MN and MAG at a
        # time, so a newer revocation supersedes an older one still in flight.
        self._by_sequence: dict[tuple[str, int], PendingRevocation] = {}
        self._by_mn: dict[tuple[str, bytes], PendingRevocation] = {}
        self._timers: TimerQueue[PendingRevocation] = TimerQueue()
        # A MAG that went away with many MNs leaves every one of its revocations
        # unanswered: one warning each would flood the journal.
        self._gave_up_log = TokenBucket(GAVE_UP_LOG_RATE, GAVE_UP_LOG_BURST, clock.monotonic())
        self._gave_up_quiet = 0

    def __len__(self) -> int:
        return len(self._by_sequence)

    # ------------------------------------------------------------------ out

    def revoke(self, mag: str, bce: BindingCacheEntry, trigger: RevocationTrigger) -> list[Action]:
        """Tell ``mag`` to stop serving the MN of ``bce``: one BRI, retransmitted until a BRA."""
        key = (mag, bce.mn_id)
        old = self._by_mn.pop(key, None)
        if old is not None:
            self._drop(old)
            self.counters["bri_superseded"] += 1
        bri = BindingRevocationIndication(
            trigger=trigger,
            sequence=self._next_sequence,
            flags=BR_FLAG_P,
            mn_id=bce.mn_id,
            mn_id_subtype=bce.mn_id_subtype,
            home_network_prefixes=list(bce.prefixes),
            mn_link_layer_id=bce.mn_link_layer_id,
        )
        self._next_sequence = (self._next_sequence + 1) & 0xFFFF
        pending = PendingRevocation(mag, bri, timeout=self._first_timeout)
        self._by_sequence[mag, bri.sequence] = pending
        self._by_mn[key] = pending
        self._timers.set(pending, self.clock.monotonic() + pending.timeout)
        self.counters["bri_sent"] += 1
        self.counters[f"bri_sent.{trigger.name}"] += 1
        return [Send(mag, bri)]

    def on_timer(self) -> list[Action]:
        actions: list[Action] = []
        for pending in self._timers.pop_due(self.clock.monotonic()):
            actions += self._unanswered(pending)
        return actions

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def _unanswered(self, pending: PendingRevocation) -> list[Action]:
        if pending.retries >= self.settings.bri_max_retries_number:
            self._forget(pending)
            self.counters["bri_gave_up"] += 1
            if not self._gave_up_log.allow(self.clock.monotonic()):
                self._gave_up_quiet += 1
                self.counters["bri_gave_up_log_suppressed"] += 1
                return []
            who = pending.bri.mn_id.decode(errors="replace") if pending.bri.mn_id else "?"
            quiet, self._gave_up_quiet = self._gave_up_quiet, 0
            more = f" ({quiet} more unanswered since the last such line)" if quiet else ""
            return [
                Notice("warning", f"no BRA from MAG {pending.mag} for revocation of {who}{more}")
            ]
        pending.retries += 1
        pending.timeout *= 2
        self._timers.set(pending, self.clock.monotonic() + pending.timeout)
        self.counters["bri_retransmitted"] += 1
        self.counters["bri_sent"] += 1
        return [Send(pending.mag, pending.bri)]

    # ------------------------------------------------------------------ in

    def handle_bra(self, src: str, bra: BindingRevocationAck) -> list[Action]:
        self.counters["bra_received"] += 1
        pending = self._by_sequence.get((src, bra.sequence))
        if pending is None or bra.mn_id != pending.bri.mn_id or not bra.proxy:
            # A duplicate, an answer to a superseded BRI, or not ours at all.
            self.counters["bra_unmatched"] += 1
            return []
        self._forget(pending)
        who = bra.mn_id.decode(errors="replace") if bra.mn_id else "?"
        if bra.accepted:
            self.counters["revocations_acknowledged"] += 1
            return [Notice("info", f"MAG {src} revoked {who}")]
        name = revocation_status_name(bra.status)
        self.counters[f"bra_rejected.{name}"] += 1
        if bra.status == RevocationStatus.BINDING_DOES_NOT_EXIST:
            # The MAG had already let the MN go (its de-registration crossed our BRI).
            return [Notice("debug", f"MAG {src} had no binding of {who} to revoke")]
        return [Notice("warning", f"MAG {src} did not revoke {who}: {name} ({bra.status})")]

    def handle_bri(
        self, src: str, bri: BindingRevocationIndication, accepted_mags: frozenset[str]
    ) -> list[Action]:
        """A MAG-initiated revocation (RFC 5846 §9.1), which this LMA does not offer."""
        self.counters["bri_received"] += 1
        if src not in accepted_mags:
            self.counters["bri_from_unknown_peer"] += 1
            return []
        status = RevocationStatus.REVOCATION_FUNCTION_NOT_SUPPORTED
        self.counters[f"bra_sent.{status.name}"] += 1
        return [
            Send(src, BindingRevocationAck(status, bri.sequence, bri.flags & BR_FLAG_P, bri.mn_id))
        ]

    def settled(self, mag: str, mn_id: bytes) -> None:
        """``mag`` de-registered the MN itself: a BRI still in flight there is moot."""
        pending = self._by_mn.get((mag, mn_id))
        if pending is not None:
            self._forget(pending)
            self.counters["bri_settled_by_deregistration"] += 1

    # ------------------------------------------------------------------ helpers

    def _forget(self, pending: PendingRevocation) -> None:
        self._drop(pending)
        key = (pending.mag, pending.bri.mn_id)
        if self._by_mn.get(key) is pending:
            del self._by_mn[key]

    def _drop(self, pending: PendingRevocation) -> None:
        self._timers.cancel(pending)
        self._by_sequence.pop((pending.mag, pending.bri.sequence), None)

    def rows(self) -> list[dict]:
        now = self.clock.monotonic()
        return [
            {
                "mn_id": p.bri.mn_id.decode(errors="replace") if p.bri.mn_id else None,
                "mag": p.mag,
                "sequence": p.bri.sequence,
                "trigger": RevocationTrigger(p.bri.trigger).name,
                "retries": p.retries,
                "next_retry_in": max(0.0, round(p.timer_due - now, 3)) if p.timer_id else None,
            }
            for p in self._by_sequence.values()
        ]


def revoke_mobile_node(lma: LocalMobilityAnchor, mn_id: bytes) -> tuple[list[dict], list[Action]]:
    """Operator revocation: remove every entry of ``mn_id`` with its route, BRI to its MAG.

    Returns the rows of the entries removed (empty: the MN had no binding, nothing
    changed) and the actions to carry out.
    """
    from .machine import bce_row

    now = lma.clock.monotonic()
    pending = lma._pending.get(mn_id)
    if pending is not None:
        # A PBU waiting for the MN's previous MAG to let go: revoked as well.
        lma._drop_pending(pending)
    rows: list[dict] = []
    actions: list[Action] = []
    for bce in list(lma.cache.by_mn(mn_id)):
        rows.append(bce_row(bce, now))
        if bce.state is BceState.ACTIVE:
            actions.append(Unroute(bce.mn_id, bce.prefixes, bce.proxy_coa))
            actions += lma.revocation.revoke(
                bce.proxy_coa, bce, RevocationTrigger.ADMINISTRATIVE_REASON
            )
        # A de-registering entry's MAG has already let the MN go: no BRI needed.
        lma._delete(bce)
        lma.counters["revoked"] += 1
    if rows:
        who = mn_id.decode(errors="replace")
        actions.append(Notice("info", f"binding of {who} revoked by the operator"))
    return rows, actions
