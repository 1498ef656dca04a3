"""The Mobile Access Gateway as a sans-IO state machine (RFC 5213 §6).

Rules of this file:

* It decides when to send which PBU and what a PBA means for a mobile node;
  it never touches a socket, netlink, the RA emitter or the system clock.
  Layer-2 events and PBAs come in as method calls, actions go out.
* One binding update list (BUL) entry per attached mobile node, found by MAC
  (layer-2 events) or by MN-Identifier (PBAs, which echo it).
* Every PBU transmission, retransmissions included, carries a fresh sequence
  number and timestamp; a PBA counts only if it answers the newest one.

Theory of operation. An attach event looks the MAC up in the policy store,
creates a BUL entry and sends a PBU (REGISTERING). A matching accepting PBA
makes the entry ACTIVE: the shell is told to serve the MN (routes, unicast
RAs) and a refresh is scheduled before the granted lifetime runs out.
Unanswered PBUs are retransmitted with exponential back-off from
InitialBindackTimeoutFirstReg up to MaxBindackTimeout, then the registration
is given up. A detach stops service at once and sends a de-registration
(DEREGISTERING) whose acknowledgement removes the entry. A rejecting PBA
leaves the MN without service and says why.
"""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from .. import defaults
from ..actions import Action, MobileNodeBinding, Notice, Send, ServeMobileNode, StopServing
from ..clock import Clock
from ..config import mac_text
from ..policy import MagView
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
from ..wire.messages import Malformed, Message, ProxyBindingAck, ProxyBindingUpdate
from ..wire.prefix import ZERO_PREFIX, Prefix, address_text


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


class BulState(Enum):
    REGISTERING = "registering"
    ACTIVE = "active"
    DEREGISTERING = "deregistering"


class _Txn(Enum):
    """The PBU exchange in flight for an entry, if any."""

    NONE = "none"
    REGISTER = "register"
    REFRESH = "refresh"
    DEREGISTER = "deregister"


@dataclass(slots=True, eq=False)
class BulEntry:
    mac: bytes
    mn_id: bytes
    lma: str
    interface: str | None
    handoff_indicator: int
    access_technology_type: int
    state: BulState = BulState.REGISTERING
    prefixes: tuple[Prefix, ...] = ()
    lifetime: int = 0
    """Granted lifetime in seconds."""
    expires_at: float = 0.0
    attached_at: float = 0.0
    registered_at: float = 0.0
    sequence: int = 0
    """Sequence number of the newest PBU sent for this entry."""
    txn: _Txn = _Txn.NONE
    txn_timeout: float = 0.0
    """Current retransmission timeout of the exchange in flight (doubles each time)."""
    detached: bool = False
    """The MN left while its registration was in flight: de-register once it is accepted."""
    resyncs: int = 0
    timer_id: int = 0
    timer_due: float = 0.0

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
        self._next_sequence = first_sequence & 0xFFFF
        self._use_timestamps = settings.replay_protection == "timestamp"
        self._link_local = socket.inet_pton(socket.AF_INET6, settings.link_local_address)
        self._first_timeout = settings.initial_bindack_timeout_first_reg_ms / 1000
        self._retry_timeout = settings.initial_bindack_timeout_ms / 1000
        self._max_timeout = settings.max_bindack_timeout_ms / 1000
        self._requested_units = min(0xFFFF, settings.requested_lifetime // LIFETIME_UNIT)

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
            return self._reattach(entry, interface)
        profile = self.policy.profile_for_mac(mac)
        if profile is None:
            self.counters["attach_unknown_mn"] += 1
            return [Notice("warning", f"no policy profile for MAC {mac_text(mac)}: not served")]
        if profile.mags is not None and self.address not in profile.mags:
            self.counters["attach_not_allowed_here"] += 1
            return [Notice("warning", f"{profile.mn_id.decode()} may not be served by this MAG")]
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
        self._by_mac[mac] = entry
        self._by_mn_id[entry.mn_id] = entry
        return self._start(entry, _Txn.REGISTER)

    def detach(self, mac: bytes) -> list[Action]:
        """Layer 2 says the MN left (disassociated, roamed away, timed out)."""
        self.counters["detach"] += 1
        entry = self._by_mac.get(mac)
        if entry is None:
            self.counters["detach_unknown"] += 1
            return []
        if entry.state is BulState.REGISTERING:
            if entry.txn is _Txn.REGISTER:
                # A PBA may still come; de-register then, or give up quietly at timeout.
                entry.detached = True
                return []
            self._forget(entry)
            return []
        if entry.state is BulState.DEREGISTERING:
            return []
        actions: list[Action] = [StopServing(entry.snapshot(self._link_local), "detached")]
        entry.state = BulState.DEREGISTERING
        return actions + self._start(entry, _Txn.DEREGISTER)

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
        self.counters[f"unexpected.{type(msg).__name__}"] += 1
        return []

    def handle_pba(self, src: str, pba: ProxyBindingAck) -> list[Action]:
        self.counters["pba_received"] += 1
        entry = self._by_mn_id.get(pba.mn_id) if pba.mn_id is not None else None
        if (
            entry is None
            or entry.txn is _Txn.NONE
            or src != entry.lma
            # A 135 reject carries the LMA's last accepted sequence number, not ours.
            or (
                pba.sequence != entry.sequence
                and pba.status != Status.SEQUENCE_NUMBER_OUT_OF_WINDOW
            )
        ):
            # Late answer to a retransmitted PBU, a duplicate, or not ours at all.
            self.counters["pba_unmatched"] += 1
            return []
        txn = entry.txn
        entry.txn = _Txn.NONE
        self._timers.cancel(entry)
        if pba.accepted:
            return self._accepted(entry, txn, pba)
        return self._rejected(entry, txn, pba)

    def on_timer(self) -> list[Action]:
        now = self.clock.monotonic()
        actions: list[Action] = []
        for entry in self._timers.pop_due(now):
            actions += self._timer(entry, now)
        return actions

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    # ------------------------------------------------------------------ transitions

    def _reattach(self, entry: BulEntry, interface: str | None) -> list[Action]:
        if interface is not None:
            entry.interface = interface
        if entry.state is BulState.ACTIVE:
            # Re-association while the binding holds: serve again (a fresh RA burst).
            self.counters["reattach_active"] += 1
            return [ServeMobileNode(entry.snapshot(self._link_local))]
        if entry.state is BulState.REGISTERING:
            entry.detached = False
            return []
        # DEREGISTERING: the MN came back before the LMA answered; register again.
        entry.state = BulState.REGISTERING
        entry.detached = False
        entry.handoff_indicator = (
            HandoffIndicator.NOT_CHANGED if entry.prefixes else entry.handoff_indicator
        )
        return self._start(entry, _Txn.REGISTER)

    def _start(self, entry: BulEntry, txn: _Txn) -> list[Action]:
        entry.txn = txn
        entry.txn_timeout = self._first_timeout if txn is _Txn.REGISTER else self._retry_timeout
        entry.resyncs = 0
        return [self._transmit(entry)]

    def _transmit(self, entry: BulEntry) -> Send:
        """Send (or resend) the PBU of the exchange in flight, with a new sequence number."""
        now = self.clock.monotonic()
        entry.sequence = self._next_sequence
        self._next_sequence = (self._next_sequence + 1) & 0xFFFF
        txn = entry.txn
        if txn is _Txn.DEREGISTER:
            units = 0
            hi = entry.handoff_indicator
        elif txn is _Txn.REFRESH:
            units = self._requested_units
            hi = HandoffIndicator.NOT_CHANGED
        else:
            units = self._requested_units
            hi = entry.handoff_indicator
        deadline = now + entry.txn_timeout
        if txn is _Txn.REFRESH:
            deadline = min(deadline, entry.expires_at)
        self._timers.set(entry, deadline)
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

    def _accepted(self, entry: BulEntry, txn: _Txn, pba: ProxyBindingAck) -> list[Action]:
        now = self.clock.monotonic()
        if txn is _Txn.DEREGISTER:
            self.counters["deregistered"] += 1
            self._forget(entry)
            return []
        prefixes = tuple(p for p in pba.home_network_prefixes if not p.is_zero)
        if not prefixes or pba.lifetime_units == 0:
            self.counters["pba_accept_unusable"] += 1
            return self._fail(entry, "LMA accepted the PBU but granted no prefix or no lifetime")
        first = txn is _Txn.REGISTER
        changed = prefixes != entry.prefixes
        entry.prefixes = prefixes
        entry.lifetime = pba.lifetime
        entry.expires_at = now + pba.lifetime
        if entry.detached:
            # The MN left while we registered it: undo at the LMA straight away.
            entry.state = BulState.DEREGISTERING
            return self._start(entry, _Txn.DEREGISTER)
        entry.state = BulState.ACTIVE
        self._timers.set(entry, now + pba.lifetime * self.settings.refresh_fraction)
        if first:
            entry.registered_at = now
            self.counters["registered"] += 1
            return [ServeMobileNode(entry.snapshot(self._link_local))]
        self.counters["refreshed"] += 1
        if changed:
            return [ServeMobileNode(entry.snapshot(self._link_local))]
        return []

    def _rejected(self, entry: BulEntry, txn: _Txn, pba: ProxyBindingAck) -> list[Action]:
        status = pba.status
        self.counters[f"rejected.{status_name(status)}"] += 1
        if (
            status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW
            and entry.resyncs < self.settings.max_sequence_resyncs
        ):
            # RFC 5213 §5.5: the PBA carries the last sequence number the LMA accepted
            # (perhaps from another MAG); continue above it.
            self._next_sequence = (pba.sequence + 1) & 0xFFFF
            entry.txn = txn
            entry.resyncs += 1
            return [self._transmit(entry)]
        if (
            status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
            and txn is not _Txn.DEREGISTER
            and entry.resyncs < self.settings.max_sequence_resyncs
        ):
            # Another MAG's message with a later timestamp got there first (clock
            # skew or a race); a retransmission carries a fresh timestamp.
            entry.txn = txn
            entry.resyncs += 1
            return [self._transmit(entry)]
        if txn is _Txn.DEREGISTER:
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

    def _fail(self, entry: BulEntry, why: str) -> list[Action]:
        actions: list[Action] = [Notice("warning", f"{why}; {mac_text(entry.mac)} gets no service")]
        if entry.state is BulState.ACTIVE:
            actions.append(StopServing(entry.snapshot(self._link_local), why))
        self._forget(entry)
        return actions

    def _timer(self, entry: BulEntry, now: float) -> list[Action]:
        if entry.txn is _Txn.NONE:
            if entry.state is BulState.ACTIVE:
                entry.txn = _Txn.REFRESH
                entry.txn_timeout = self._retry_timeout
                return [self._transmit(entry)]
            return []
        if entry.txn is _Txn.REGISTER and entry.detached:
            # The MN left before the LMA answered; make sure no binding is left behind.
            entry.state = BulState.DEREGISTERING
            return self._start(entry, _Txn.DEREGISTER)
        if entry.txn is _Txn.REFRESH and now >= entry.expires_at:
            self.counters["expired"] += 1
            return self._fail(
                entry, f"binding of {entry.mn_id.decode()} expired: no PBA from {entry.lma}"
            )
        next_timeout = entry.txn_timeout * 2
        if next_timeout > self._max_timeout:
            self.counters[f"gave_up.{entry.txn.value}"] += 1
            if entry.txn is _Txn.DEREGISTER or entry.detached:
                self._forget(entry)
                return [Notice("info", f"no answer to de-registration of {entry.mn_id.decode()}")]
            if entry.txn is _Txn.REFRESH:
                # Keep trying at the longest interval until the binding runs out.
                next_timeout = self._max_timeout
            else:
                return self._fail(entry, f"no PBA from LMA {entry.lma} for {entry.mn_id.decode()}")
        entry.txn_timeout = next_timeout
        self.counters["pbu_retransmitted"] += 1
        return [self._transmit(entry)]

    def _forget(self, entry: BulEntry) -> None:
        self._timers.cancel(entry)
        self._by_mac.pop(entry.mac, None)
        if self._by_mn_id.get(entry.mn_id) is entry:
            del self._by_mn_id[entry.mn_id]

    # ------------------------------------------------------------------ restart

    def snapshot(self) -> dict:
        """Active bindings as plain data, with wall-clock expiry, to survive a restart."""
        now, wall = self.clock.monotonic(), self.clock.time()
        entries = [
            {
                "mac": e.mac.hex(),
                "mn_id": e.mn_id.hex(),
                "lma": e.lma,
                "interface": e.interface,
                "hi": e.handoff_indicator,
                "att": e.access_technology_type,
                "prefixes": [str(p) for p in e.prefixes],
                "lifetime": e.lifetime,
                "expires_wall": wall + (e.expires_at - now),
            }
            for e in self._by_mac.values()
            if e.state is BulState.ACTIVE
        ]
        return {"version": 1, "role": "mag", "address": self.address, "bindings": entries}

    def restore(self, snapshot: dict) -> list[Action]:
        """Serve again the MNs that were bound at the last shutdown, and refresh them at once.

        The refresh re-validates each binding with its LMA (which may have lost it);
        expired or no longer known MNs are dropped.
        """
        if snapshot.get("version") != 1 or snapshot.get("role") != "mag":
            return [Notice("warning", "ignored a saved state of another format or role")]
        now, wall = self.clock.monotonic(), self.clock.time()
        actions: list[Action] = []
        for item in snapshot.get("bindings", []):
            try:
                mac = bytes.fromhex(item["mac"])
                prefixes = tuple(Prefix.parse(p) for p in item["prefixes"])
                left = float(item["expires_wall"]) - wall
            except (KeyError, TypeError, ValueError) as exc:
                actions.append(Notice("warning", f"ignored a malformed saved binding: {exc}"))
                continue
            profile = self.policy.profile_for_mac(mac)
            if left <= 0 or profile is None or mac in self._by_mac:
                continue
            entry = BulEntry(
                mac=mac,
                mn_id=profile.mn_id,
                lma=profile.lma,
                interface=item.get("interface"),
                handoff_indicator=int(item.get("hi", HandoffIndicator.NEW_INTERFACE)),
                access_technology_type=int(item.get("att", self.settings.access_technology_type)),
                state=BulState.ACTIVE,
                prefixes=prefixes,
                lifetime=int(item.get("lifetime", 0)),
                expires_at=now + left,
                attached_at=now,
                registered_at=now,
            )
            self._by_mac[mac] = entry
            self._by_mn_id[entry.mn_id] = entry
            self.counters["restored"] += 1
            actions.append(ServeMobileNode(entry.snapshot(self._link_local)))
            entry.txn = _Txn.REFRESH
            entry.txn_timeout = self._retry_timeout
            actions.append(self._transmit(entry))
        return actions

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
        }
