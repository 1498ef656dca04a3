"""Drop detaches that arrive after the station already attached elsewhere.

When a station moves between two APs of the *same* MAG, the new AP reports
``Reassociated`` and the old one ``Roamed`` (or a deauthentication); over UDP
the old AP's report may well arrive second. Passed on as is, it would detach a
station that is in fact still here. A station is associated with one AP at a
time, so a detach counts only if it comes from the AP (and radio) the station
was last seen attaching to, or if that is not known (e.g. after a restart).

This is a pure filter: put it between the sources and the MAG
(``sink = StationTracker().wrap(mag_sink)``), sharing one tracker among all
the sources of a MAG.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable

from .events import L2Event

Sink = Callable[[L2Event], None]


class StationTracker:
    def __init__(self, capacity: int = 65_536) -> None:
        self.capacity = capacity
        self.counters: Counter[str] = Counter()
        self._where: OrderedDict[bytes, tuple[str, str | None]] = OrderedDict()

    def accept(self, event: L2Event) -> bool:
        """Record the event; False if it is a stale detach that must not reach the MAG."""
        if event.kind == "attach":
            self._where[event.mac] = (event.source, event.radio)
            self._where.move_to_end(event.mac)
            while len(self._where) > self.capacity:
                self._where.popitem(last=False)
            return True
        where = self._where.get(event.mac)
        if where is not None:
            source, radio = where
            same_radio = event.radio is None or radio is None or event.radio == radio
            if event.source != source or not same_radio:
                self.counters["stale_detach"] += 1
                return False
            del self._where[event.mac]
        return True

    def wrap(self, sink: Sink) -> Sink:
        def filtered(event: L2Event) -> None:
            if self.accept(event):
                sink(event)

        return filtered

    def __len__(self) -> int:
        return len(self._where)
