"""Handover timing at the MAG, the way the paper's Table II splits it.

For each layer-2 attach: when the event arrived (L2), when the PBU left (PBU),
when the accepting PBA came in (PBA) and when the first RA to the MN left
(RA), all on the monotonic clock. Table II's phases are L2→PBU, PBU→PBA and
PBA→RA; their sum is the PMIPv6 part of the handover latency.

L2 and PBA are the kernel's arrival times of the syslog datagram and of the
PBA (``pmip6d.arrival``), as a packet capture sees them; the agent read them a
little later (``l2_queued_ms``, ``pba_queued_ms``: waiting in the socket, for
the process to be woken or for an agent busy with something else). The rest of
L2→PBU and PBA→RA is the agent's own work, split so that what dominates shows:

* L2→PBU = ``l2_queued_ms`` + ``l2_decide_ms`` (parse the line, the machine's
  decision) + ``pbu_out_ms`` (save the entry, encode and send the PBU);
* PBA→RA = ``pba_queued_ms`` + ``pba_decide_ms`` (decode, the machine's
  decision) + ``routes_ms`` (the MN's routes and rules into the kernel) +
  ``ra_out_ms`` (build and send the RA).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from ..actions import Action, ServeMobileNode
from ..rules import mac_text
from ..wire.messages import Message, ProxyBindingUpdate

log = logging.getLogger("pmip6d.timeline")


def ms(a: float | None, b: float | None) -> float | None:
    """Milliseconds from ``a`` to ``b`` (seconds), to the microsecond; None if either is."""
    return None if a is None or b is None else round((b - a) * 1000, 3)


BUCKETS_MS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
"""Upper bounds of the handover-phase histogram's buckets, ms (the +Inf bucket is implied)."""


class PhaseHistogram:
    """Cumulative distribution of each phase of every handover since the start, for
    the metrics endpoint: unlike the timeline's rows, nothing is forgotten."""

    def __init__(self, phases: tuple[str, ...]) -> None:
        self.phases = phases
        self.buckets = {p: [0] * len(BUCKETS_MS) for p in phases}
        self.count = dict.fromkeys(phases, 0)
        self.sum_ms = dict.fromkeys(phases, 0.0)

    def observe(self, row: dict) -> None:
        """Add a finished handover's row (``<phase>_ms`` values; None: not measured)."""
        for phase in self.phases:
            value = row.get(f"{phase}_ms")
            if value is None:
                continue
            self.count[phase] += 1
            self.sum_ms[phase] += value
            counts = self.buckets[phase]
            for i, bound in enumerate(BUCKETS_MS):
                if value <= bound:
                    counts[i] += 1


@dataclass(slots=True)
class HandoverRecord:
    mac: bytes
    reason: str
    l2_at: float
    pbu_at: float | None = None
    pba_at: float | None = None
    ra_at: float | None = None
    mn_id: str = ""
    l2_read_at: float | None = None
    l2_decided_at: float | None = None
    pba_read_at: float | None = None
    pba_decided_at: float | None = None
    routed_at: float | None = None

    def row(self) -> dict:
        return {
            "mac": mac_text(self.mac),
            "mn_id": self.mn_id,
            "reason": self.reason,
            "l2_to_pbu_ms": ms(self.l2_at, self.pbu_at),
            "pbu_to_pba_ms": ms(self.pbu_at, self.pba_at),
            "pba_to_ra_ms": ms(self.pba_at, self.ra_at),
            "total_ms": ms(self.l2_at, self.ra_at),
            "l2_queued_ms": ms(self.l2_at, self.l2_read_at),
            "l2_decide_ms": ms(self.l2_read_at, self.l2_decided_at),
            "pbu_out_ms": ms(self.l2_decided_at, self.pbu_at),
            "pba_queued_ms": ms(self.pba_at, self.pba_read_at),
            "pba_decide_ms": ms(self.pba_read_at, self.pba_decided_at),
            "routes_ms": ms(self.pba_decided_at, self.routed_at),
            "ra_out_ms": ms(self.routed_at, self.ra_at),
            "l2_at": self.l2_at,
        }


class Timeline:
    PHASES = ("l2_to_pbu", "pbu_to_pba", "pba_to_ra", "total")
    """Table II's phases, as the metrics endpoint's histogram labels them."""

    def __init__(self, keep: int = 10_000) -> None:
        self._open: dict[bytes, HandoverRecord] = {}
        self.done: deque[HandoverRecord] = deque(maxlen=keep)
        self.histogram = PhaseHistogram(self.PHASES)

    def layer2(self, mac: bytes, at: float, reason: str, read_at: float | None = None) -> None:
        """An attach event for ``mac`` arrived at ``at`` (read at ``read_at``); a record starts."""
        self._open[mac] = HandoverRecord(mac, reason, at, l2_read_at=read_at)

    def layer2_decided(self, mac: bytes, at: float) -> None:
        """The machine answered the attach event of ``mac`` (its PBU is about to leave)."""
        record = self._open.get(mac)
        if record is not None and record.l2_decided_at is None:
            record.l2_decided_at = at

    def routed(self, mac: bytes, at: float) -> None:
        """The MN's routes are in the kernel (its RA comes next)."""
        record = self._open.get(mac)
        if record is not None and record.pba_at is not None and record.routed_at is None:
            record.routed_at = at

    def message_sent(self, message: Message, at: float) -> None:
        if not isinstance(message, ProxyBindingUpdate) or message.lifetime_units == 0:
            return
        record = self._open.get(message.mn_link_layer_id or b"")
        if record is not None and record.pbu_at is None:
            record.pbu_at = at
            record.mn_id = (message.mn_id or b"").decode(errors="replace")

    def message_handled(
        self, actions: list[Action], received_at: float, read_at: float | None = None
    ) -> None:
        for action in actions:
            if isinstance(action, ServeMobileNode):
                record = self._open.get(action.binding.mac)
                if record is not None and record.pbu_at is not None and record.pba_at is None:
                    record.pba_at = received_at
                    record.pba_read_at = read_at
                    record.pba_decided_at = time.monotonic()

    def batch_flushed(self, at: float) -> None:
        """Not used at the MAG: its routes go in at once (``routed``)."""

    def sending(self, sends: list, at: float) -> None:
        """Not used at the MAG: ``message_sent`` is when the PBU left."""

    def ra_sent(self, mac: bytes, at: float) -> None:
        record = self._open.get(mac)
        if record is None or record.pba_at is None:
            return
        record.ra_at = at
        del self._open[mac]
        self.done.append(record)
        row = record.row()
        self.histogram.observe(row)
        log.info(
            "attach of %s (%s): L2→PBU %.3f ms, PBU→PBA %.3f ms, PBA→RA %.3f ms, total %.3f ms",
            record.mn_id,
            row["mac"],
            row["l2_to_pbu_ms"],
            row["pbu_to_pba_ms"],
            row["pba_to_ra_ms"],
            row["total_ms"],
        )

    def rows(self, limit: int | None = None) -> list[dict]:
        records = list(self.done)
        if limit is not None:
            records = records[-limit:]
        return [r.row() for r in records]
