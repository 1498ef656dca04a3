"""Token buckets for what hostile input can make an agent do (sans-IO: the time is an
argument, so tests and the machines stay deterministic).

RFC 6275 §9.3.3 asks that Binding Error messages be rate limited the way ICMPv6 errors
are; RFC 4443 §2.4 (f) suggests a token bucket and gives no figure to copy, so the
limits are configuration (``rate_limits`` in the agent's file, defaults in
:class:`pmip6d.config.RateLimits`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per event."""

    __slots__ = ("_at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("a token bucket needs rate >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self._at = now

    def refill(self, now: float) -> None:
        """Add what ``rate`` earned since the last call (``now``: monotonic seconds)."""
        if now > self._at:
            self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
            self._at = now

    def allow(self, now: float) -> bool:
        """Take a token if there is one at ``now``."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class KeyedLimiter:
    """A bucket per key (a source address) under one global bucket.

    At most ``max_keys`` buckets are kept (least recently used dropped first), so a
    flood from many forged sources costs bounded memory; a dropped key starts again
    with a full burst, which the global bucket still bounds.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        global_rate: float,
        global_burst: float,
        max_keys: int = 4096,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.all = TokenBucket(global_rate, global_burst)
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()

    def allow(self, key: Hashable, now: float) -> bool:
        """One event from ``key`` at ``now``: within both its own and the global limit?"""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.refill(now)
        # The key's token is spent only when the global bucket has one too.
        if bucket.tokens < 1 or not self.all.allow(now):
            return False
        bucket.tokens -= 1
        return True
