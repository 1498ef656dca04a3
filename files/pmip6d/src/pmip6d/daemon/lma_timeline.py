"""Handover timing at the LMA: where the PBU → PBA phase of Table II goes.

The MAG's timeline (:mod:`.timeline`) sees PBU→PBA as one span, from its PBU
leaving to the PBA arriving. Here the LMA splits its own part of it, for every
handover it accepts (a PBU that moves an MN's prefixes to another MAG):

* ``queued_ms``: the PBU waiting in the socket (kernel arrival → read), for the
  process to be woken or for a batch before it;
* ``decide_ms``: decode (and ESP) and the binding cache's decision;
* ``routes_ms``: the batch's route changes into the kernel;
* ``durable_ms``: the binding written to the state file and the fsync covering
  it (the PBA must not promise a binding a crash could lose), and the return to
  the event loop;
* ``send_ms``: encode (and seal) the PBA and send it;
* ``total_ms``: kernel arrival of the PBU → PBA sent.

Registrations and refreshes are not recorded: they are the bulk of the
signaling, and their cost is the benchmarks' subject, not this one's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..actions import Action, RouteToMag, Send
from ..wire.messages import Message, ProxyBindingAck
from ..wire.prefix import Prefix
from .timeline import PhaseHistogram, ms

OPEN_MAX = 4096
"""Handovers in flight that are tracked at once; beyond (a storm), the oldest are dropped."""


@dataclass(slots=True)
class LmaHandover:
    mn_id: str
    mag: str
    previous: str
    pbu_at: float
    read_at: float
    decided_at: float
    routed_at: float | None = None
    durable_at: float | None = None
    pba_at: float | None = None

    def row(self) -> dict:
        return {
            "mn_id": self.mn_id,
            "mag": self.mag,
            "previous": self.previous,
            "queued_ms": ms(self.pbu_at, self.read_at),
            "decide_ms": ms(self.read_at, self.decided_at),
            "routes_ms": ms(self.decided_at, self.routed_at),
            "durable_ms": ms(self.routed_at, self.durable_at),
            "send_ms": ms(self.durable_at, self.pba_at),
            "total_ms": ms(self.pbu_at, self.pba_at),
            "pbu_at": self.pbu_at,
        }


class LmaTimeline:
    """The shell's observer at the LMA (see :class:`~.shell.Observer`)."""

    PHASES = ("queued", "decide", "routes", "durable", "send", "total")
    """The LMA's share of PBU→PBA, as the metrics endpoint's histogram labels them."""

    def __init__(self, keep: int = 10_000, clock=time.monotonic) -> None:
        self.clock = clock
        self.histogram = PhaseHistogram(self.PHASES)
        self._open: dict[Prefix, LmaHandover] = {}
        self._batch: list[LmaHandover] = []
        self.done: deque[LmaHandover] = deque(maxlen=keep)

    def message_handled(
        self, actions: list[Action], received_at: float, read_at: float | None = None
    ) -> None:
        for action in actions:
            if isinstance(action, RouteToMag) and action.previous and action.prefixes:
                now = self.clock()
                record = LmaHandover(
                    action.mn_id.decode(errors="replace"),
                    action.proxy_coa,
                    action.previous,
                    received_at,
                    now if read_at is None else read_at,
                    now,
                )
                if len(self._open) >= OPEN_MAX:
                    del self._open[next(iter(self._open))]
                self._open[action.prefixes[0]] = record
                self._batch.append(record)

    def batch_flushed(self, at: float) -> None:
        """The batch's routes are in the kernel."""
        if not self._batch:  # a batch without a handover: most of them
            return
        for record in self._batch:
            record.routed_at = at
        self._batch.clear()

    def sending(self, sends: Iterable[Send], at: float) -> None:
        """A batch's messages are about to leave (its changes are durable)."""
        if not self._open:
            return
        for send in sends:
            record = self._record_of(send.message)
            if record is not None and record.durable_at is None:
                record.durable_at = at

    def message_sent(self, message: Message, at: float) -> None:
        if not self._open:  # no handover waits for its PBA: refreshes, registrations
            return
        record = self._record_of(message)
        if record is None:
            return
        del self._open[message.home_network_prefixes[0]]
        if message.status < 128:  # accepted; a refused route turns the PBA into a failure
            record.pba_at = at
            self.done.append(record)
            self.histogram.observe(record.row())

    def _record_of(self, message: Message) -> LmaHandover | None:
        if not isinstance(message, ProxyBindingAck) or not message.home_network_prefixes:
            return None
        return self._open.get(message.home_network_prefixes[0])

    def rows(self, limit: int | None = None) -> list[dict]:
        records = list(self.done)
        if limit is not None:
            records = records[-limit:]
        return [r.row() for r in records]
