"""Logging of rejected PBUs that a flood cannot turn into a log flood.

Each rejected PBU used to be one info line. Now the first ``lines`` rejects of an
interval are logged one by one, the rest are only counted, and at the end of an
interval in which something was rejected one summary line says how many, by status:
"12 PBUs rejected in the last 60 s: 155 x9, 153 x3 (2 not logged one by one)".
Sans-IO: the machine passes the time and asks for the next deadline.
"""

from __future__ import annotations

from collections import Counter

from ..actions import Action, Notice


class RejectLog:
    def __init__(self, lines: int, interval: float, counters: Counter[str]) -> None:
        self.lines = lines
        self.interval = interval
        self.counters = counters
        self._by_status: Counter[int] = Counter()
        self._logged = 0
        self._window_end: float | None = None

    def notice(self, now: float, status: int, text: str) -> list[Action]:
        """One rejected PBU: its log line, if this interval still has room for it."""
        if self._window_end is None:
            self._window_end = now + self.interval
        self._by_status[status] += 1
        if self._logged < self.lines:
            self._logged += 1
            return [Notice("info", text)]
        self.counters["reject_log_suppressed"] += 1
        return []

    def next_deadline(self) -> float | None:
        return self._window_end

    def on_timer(self, now: float) -> list[Action]:
        """The summary line once the interval is over (nothing when nothing was rejected)."""
        if self._window_end is None or now < self._window_end:
            return []
        total = sum(self._by_status.values())
        parts = ", ".join(f"{status} x{n}" for status, n in self._by_status.most_common())
        quiet = total - self._logged
        detail = f" ({quiet} not logged one by one)" if quiet else ""
        self._by_status.clear()
        self._logged = 0
        self._window_end = None
        return [
            Notice(
                "info",
                f"{total} PBUs rejected in the last {self.interval:g} s: {parts}{detail}",
            )
        ]
