"""The RFC 5213 §8.8 timestamp: 48 bits of seconds since 1970-01-01 UTC and
16 bits of 1/65536 s fractions, in one 64-bit integer.

This is *not* the NTP format (whose epoch is 1900); Wireshark shows the value
as a date, which is a quick way to spot an epoch mistake.
"""

from __future__ import annotations

FRACTIONS_PER_SECOND = 1 << 16
MAX_TIMESTAMP = (1 << 64) - 1


def from_unix(seconds: float) -> int:
    """Unix time in seconds → 64-bit RFC 5213 timestamp."""
    return int(seconds * FRACTIONS_PER_SECOND) & MAX_TIMESTAMP


def to_unix(timestamp: int) -> float:
    """64-bit RFC 5213 timestamp → Unix time in seconds."""
    return timestamp / FRACTIONS_PER_SECOND


def from_milliseconds(ms: float) -> int:
    """A duration in milliseconds → the same duration in timestamp units."""
    return int(ms * FRACTIONS_PER_SECOND / 1000)
