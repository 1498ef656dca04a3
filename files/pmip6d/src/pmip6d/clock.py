"""Clocks for the state machines.

The machines never read the time themselves: they are handed a clock, so tests
drive them through hours of protocol time in microseconds. Two readings are
needed: a monotonic one for timers, and wall-clock Unix time for the RFC 5213
timestamp option, which compares the clocks of different hosts.
"""

from __future__ import annotations

import time as _system_time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; used for every timer."""

    def time(self) -> float:
        """Seconds since 1970-01-01 UTC; used for timestamps on the wire."""


class SystemClock:
    monotonic = staticmethod(_system_time.monotonic)
    time = staticmethod(_system_time.time)


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self.wall_offset = wall_offset

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self._now += seconds
