"""Handover timing at the MAG, the way the paper's Table II splits it.

For each layer-2 attach: when the event arrived (L2), when the PBU left (PBU),
when the accepting PBA came in (PBA) and when the first RA to the MN left
(RA), all on the monotonic clock. Table II's phases are L2→PBU, PBU→PBA and
PBA→RA; their sum is the PMIPv6 part of the handover latency.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from ..actions import Action, ServeMobileNode
from ..rules import mac_text
from ..wire.messages import Message, ProxyBindingUpdate

log = logging.getLogger("pmip6d.timeline")


@dataclass(slots=True)
class HandoverRecord:
    mac: bytes
    reason: str
    l2_at: float
    pbu_at: float | None = None
    pba_at: float | None = None
    ra_at: float | None = None
    mn_id: str = ""

    def row(self) -> dict:
        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 3)

        return {
            "mac": mac_text(self.mac),
            "mn_id": self.mn_id,
            "reason": self.reason,
            "l2_to_pbu_ms": ms(self.l2_at, self.pbu_at),
            "pbu_to_pba_ms": ms(self.pbu_at, self.pba_at),
            "pba_to_ra_ms": ms(self.pba_at, self.ra_at),
            "total_ms": ms(self.l2_at, self.ra_at),
            "l2_at": self.l2_at,
        }


class Timeline:
    def __init__(self, keep: int = 10_000) -> None:
        self._open: dict[bytes, HandoverRecord] = {}
        self.done: deque[HandoverRecord] = deque(maxlen=keep)

    def layer2(self, mac: bytes, at: float, reason: str) -> None:
        """An attach event for ``mac`` arrived at ``at``; a new record starts."""
        self._open[mac] = HandoverRecord(mac, reason, at)

    def message_sent(self, message: Message, at: float) -> None:
        if not isinstance(message, ProxyBindingUpdate) or message.lifetime_units == 0:
            return
        record = self._open.get(message.mn_link_layer_id or b"")
        if record is not None and record.pbu_at is None:
            record.pbu_at = at
            record.mn_id = (message.mn_id or b"").decode(errors="replace")

    def message_handled(self, actions: list[Action], received_at: float) -> None:
        for action in actions:
            if isinstance(action, ServeMobileNode):
                record = self._open.get(action.binding.mac)
                if record is not None and record.pbu_at is not None and record.pba_at is None:
                    record.pba_at = received_at

    def ra_sent(self, mac: bytes, at: float) -> None:
        record = self._open.get(mac)
        if record is None or record.pba_at is None:
            return
        record.ra_at = at
        del self._open[mac]
        self.done.append(record)
        row = record.row()
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
