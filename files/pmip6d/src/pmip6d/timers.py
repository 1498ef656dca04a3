"""One pending deadline per object, for many objects.

The state machines keep their timers as data: each binding has at most one
deadline (its expiry, a retransmission, a delayed delete) and this queue
answers "what is due now" and "when is the next one". Moving a deadline later
(a binding refresh, the common case) only records it on the object: the heap
entry stays, and when it surfaces early it is pushed again at the recorded
deadline. Moving it earlier pushes a new entry and leaves the old one to be
skipped when it surfaces. So setting is O(1) or O(log n), cancelling O(1), the
heap holds about one entry per object instead of one per refresh, and nothing
searches, even with a million bindings.
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    timer_id: int
    """Identifier of the object's live heap entry; 0 when no deadline is pending."""
    timer_due: float
    """The object's deadline; its live heap entry may be earlier (a postponed deadline)."""


T = TypeVar("T", bound=Timed)


class TimerQueue(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._ids = count(1)
        self._live = 0

    def set(self, obj: T, when: float) -> None:
        """Give ``obj`` the single deadline ``when``, replacing any earlier one."""
        if obj.timer_id:
            if when >= obj.timer_due:
                # Postponed: the live entry surfaces early and is pushed again then.
                obj.timer_due = when
                return
        else:
            self._live += 1
        timer_id = next(self._ids)
        obj.timer_id = timer_id
        obj.timer_due = when
        heapq.heappush(self._heap, (when, timer_id, obj))
        if len(self._heap) > 64 and len(self._heap) > 3 * self._live:
            self._compact()

    def cancel(self, obj: T) -> None:
        if obj.timer_id:
            obj.timer_id = 0
            self._live -= 1

    def pop_due(self, now: float) -> list[T]:
        """Objects due at or before ``now``, earliest first; their timers are cleared."""
        due: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _when, timer_id, obj = heapq.heappop(heap)
            if obj.timer_id == timer_id:
                if obj.timer_due > now:  # postponed since this entry was pushed
                    heapq.heappush(heap, (obj.timer_due, timer_id, obj))
                    continue
                obj.timer_id = 0
                self._live -= 1
                due.append(obj)
        return due

    def next_deadline(self) -> float | None:
        """When to call :meth:`pop_due` next; may be early (a postponed deadline), never late."""
        heap = self._heap
        while heap and heap[0][2].timer_id != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return self._live

    def _compact(self) -> None:
        # Stale entries pile up when bindings are refreshed often; drop them in one pass.
        self._heap = [e for e in self._heap if e[2].timer_id == e[1]]
        heapq.heapify(self._heap)
