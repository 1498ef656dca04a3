"""When to send which mobile node a Router Advertisement: a sans-IO machine.

Rules of this file:

* Pure: events in (serve, stop, a Router Solicitation, the timer), "send this
  MN an RA" values out. It never touches a socket or reads the time itself;
  the clock and the random source are injected.
* One state per served MN, found by MAC. Everything sent to an MN carries that
  MN's home network prefixes and nothing else.

Theory of operation. ``serve`` is on the handover critical path (PBA received
→ RA sent), so it returns the first RA at once instead of arming a timer. A
short initial burst follows (``initial_ras`` RAs in all, ``initial_ra_interval``
apart) in case the first one met an MN whose IPv6 stack was not ready yet, then
periodic unsolicited RAs, each after a fresh uniform random interval in
[MinRtrAdvInterval, MaxRtrAdvInterval] (RFC 4861 §6.2.4). A Router Solicitation
from a served MN is answered at once if no solicited answer went to that MN in
the last MinDelayBetweenRAs seconds (the first RS after ``serve`` always is);
otherwise one answer is scheduled for when that delay has passed, and further
RSs until then join it (RFC 4861 §6.2.6). An RA of the burst or a periodic one
sent in between answers the pending RS too. ``stop`` forgets the MN: nothing
is sent to it again until it is served again. RSs from MACs nobody serves are
counted and dropped.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from ..actions import MobileNodeBinding
from ..clock import Clock
from ..timers import TimerQueue
from ..wire.prefix import Prefix
from .ra import ALL_NODES, UNSPECIFIED, RaSettings

SERVE = "serve"
INITIAL = "initial"
PERIODIC = "periodic"
SOLICITED = "solicited"


@dataclass(slots=True, frozen=True)
class SendRa:
    """Send one RA to ``binding.mac`` advertising ``binding.prefixes``.

    ``deprecated`` are prefixes the MN had before this binding (a renumbering),
    to be advertised with zero lifetimes. ``reason`` is ``serve`` (the RA sent
    in the serve call itself), ``initial`` (the rest of the burst), ``periodic``
    or ``solicited``.
    """

    binding: MobileNodeBinding
    destination: bytes
    """IPv6 destination, 16 bytes: ff02::1, or the unicast source of the RS answered."""
    reason: str
    deprecated: tuple[Prefix, ...] = ()

    @property
    def mac(self) -> bytes:
        return self.binding.mac

    @property
    def prefixes(self) -> tuple[Prefix, ...]:
        return self.binding.prefixes


@dataclass(slots=True, eq=False)
class _Served:
    binding: MobileNodeBinding
    deprecated: tuple[Prefix, ...]
    initial_left: int
    """RAs of the initial burst still to send (not counting the one sent by serve)."""
    next_unsolicited: float
    answer_at: float | None = None
    """When the pending (rate-limited) answer to an RS is due; None: no RS pending."""
    answer_to: bytes = ALL_NODES
    last_answer: float | None = None
    """When the last solicited RA went to this MN since it was (re)served."""
    served_at: float = 0.0
    sent: int = 0
    timer_id: int = 0
    timer_due: float = 0.0

    def deadline(self) -> float:
        if self.answer_at is None:
            return self.next_unsolicited
        return min(self.next_unsolicited, self.answer_at)


class RaScheduler:
    def __init__(
        self, settings: RaSettings, clock: Clock, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.counters: Counter[str] = Counter()
        self._served: dict[bytes, _Served] = {}
        self._timers: TimerQueue[_Served] = TimerQueue()
        assert settings.min_rtr_adv_interval is not None
        self._min_interval = settings.min_rtr_adv_interval
        self._max_interval = settings.max_rtr_adv_interval

    # ------------------------------------------------------------------ events in

    def serve(self, binding: MobileNodeBinding) -> list[SendRa]:
        """Start (or restart, with a fresh burst) serving ``binding.mac``; its first RA now."""
        now = self.clock.monotonic()
        old = self._served.get(binding.mac)
        deprecated: tuple[Prefix, ...] = ()
        if old is not None:
            self.counters["reserved"] += 1
            gone = old.binding.prefixes + old.deprecated
            deprecated = tuple(dict.fromkeys(p for p in gone if p not in binding.prefixes))
            self._timers.cancel(old)
        else:
            self.counters["served"] += 1
        initial_left = self.settings.initial_ras - 1
        mn = _Served(
            binding=binding,
            deprecated=deprecated,
            initial_left=initial_left,
            next_unsolicited=now + self._unsolicited_interval(initial_left),
            served_at=now,
        )
        self._served[binding.mac] = mn
        send = self._send(mn, ALL_NODES, SERVE)
        self._timers.set(mn, mn.deadline())
        return [send]

    def stop(self, mac: bytes) -> list[SendRa]:
        """Stop serving ``mac``: no RA goes to it any more, even for its RSs."""
        mn = self._served.pop(mac, None)
        if mn is None:
            self.counters["stop_unknown"] += 1
            return []
        self.counters["stopped"] += 1
        self._timers.cancel(mn)
        return []

    def solicited(
        self, mac: bytes, source: bytes = UNSPECIFIED, slla: bytes | None = None
    ) -> list[SendRa]:
        """A Router Solicitation came from L2 address ``mac`` (IPv6 ``source``)."""
        self.counters["rs_received"] += 1
        mn = self._served.get(mac)
        if mn is None and slla is not None:
            mn = self._served.get(slla)
        if mn is None:
            self.counters["rs_unknown"] += 1
            return []
        now = self.clock.monotonic()
        to = ALL_NODES if source == UNSPECIFIED else source
        min_delay = self.settings.min_delay_between_ras
        if mn.last_answer is None or now - mn.last_answer >= min_delay:
            self.counters["rs_answered"] += 1
            send = self._send(mn, to, SOLICITED)
            mn.last_answer = now
            self._timers.set(mn, mn.deadline())
            return [send]
        self.counters["rs_delayed"] += 1
        if mn.answer_at is None:
            mn.answer_at = mn.last_answer + min_delay
            mn.answer_to = to
            self._timers.set(mn, mn.deadline())
        elif mn.answer_to != to:
            mn.answer_to = ALL_NODES  # several sources asked: one answer reaches them all
        return []

    def on_timer(self, now: float | None = None) -> list[SendRa]:
        """RAs due at ``now`` (default: the clock's time)."""
        if now is None:
            now = self.clock.monotonic()
        out: list[SendRa] = []
        for mn in self._timers.pop_due(now):
            out.append(self._due(mn, now))
            self._timers.set(mn, mn.deadline())
        return out

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    # ------------------------------------------------------------------ internals

    def _due(self, mn: _Served, now: float) -> SendRa:
        if mn.next_unsolicited <= now:
            if mn.initial_left > 0:
                mn.initial_left -= 1
                reason = INITIAL
            else:
                reason = PERIODIC
            send = self._send(mn, ALL_NODES, reason)
            mn.next_unsolicited = now + self._unsolicited_interval(mn.initial_left)
            return send
        # The pending answer to an RS (answer_at <= now, or we would not be here).
        self.counters["rs_answered"] += 1
        send = self._send(mn, mn.answer_to, SOLICITED)
        mn.last_answer = now
        return send

    def _unsolicited_interval(self, initial_left: int) -> float:
        if initial_left > 0:
            return self.settings.initial_ra_interval
        return self.rng.uniform(self._min_interval, self._max_interval)

    def _send(self, mn: _Served, destination: bytes, reason: str) -> SendRa:
        # Any RA reaching the MN answers an RS it may have pending.
        mn.answer_at = None
        mn.answer_to = ALL_NODES
        deprecated = mn.deprecated
        if reason == PERIODIC and deprecated:
            # The burst told the MN its old prefixes are gone; stop repeating it.
            mn.deprecated = deprecated = ()
        mn.sent += 1
        self.counters[f"ra_{reason}"] += 1
        return SendRa(mn.binding, destination, reason, deprecated)

    # ------------------------------------------------------------------ views

    def __contains__(self, mac: object) -> bool:
        return mac in self._served

    def __len__(self) -> int:
        return len(self._served)

    def binding(self, mac: bytes) -> MobileNodeBinding | None:
        mn = self._served.get(mac)
        return mn.binding if mn is not None else None

    def rows(self) -> list[dict]:
        now = self.clock.monotonic()
        return [
            {
                "mac": ":".join(f"{b:02x}" for b in mn.binding.mac),
                "mn_id": mn.binding.mn_id.decode(errors="replace"),
                "prefixes": [str(p) for p in mn.binding.prefixes],
                "deprecated": [str(p) for p in mn.deprecated],
                "ras_sent": mn.sent,
                "served_for": round(now - mn.served_at, 3),
                "next_ra_in": round(max(0.0, mn.deadline() - now), 3),
            }
            for mn in self._served.values()
        ]


__all__ = ["INITIAL", "PERIODIC", "SERVE", "SOLICITED", "RaScheduler", "SendRa"]
