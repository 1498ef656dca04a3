"""Bounds on what a syslog sender can make the MAG parse (issue 12).

A trusted AP address can still be forged or a broken AP can babble: each source gets
a token bucket of lines per second, and a datagram longer than ``max_line`` is
dropped before parsing (RFC 5426 §3.2 asks receivers to take 2048 octets; Cisco IOS
stays under 1024). What is dropped is counted by reason. Sans-IO: the listener
passes the time.
"""

from __future__ import annotations

from ..ratelimit import KeyedLimiter


class SyslogGuard:
    def __init__(self, lines_per_second: float, burst: int, max_line: int) -> None:
        self.max_line = max_line
        # Keys are configured AP addresses only (untrusted senders are dropped first),
        # so the total needs no bucket of its own: it is the sum of the APs'.
        self._limiter = KeyedLimiter(lines_per_second, burst, float("inf"), float("inf"))

    def admit(self, source: str, length: int, now: float) -> str | None:
        """None if the datagram may be parsed, else why it is dropped (a counter name)."""
        if length > self.max_line:
            return "too_long"
        if not self._limiter.allow(source, now):
            return "rate_limited"
        return None


def guard_sources(sources: list, limits) -> None:
    """Give every source that parses datagrams (``guard`` attribute) the configured bounds."""
    for source in sources:
        if hasattr(source, "guard"):
            source.guard = SyslogGuard(
                limits.syslog_lines_per_source, limits.syslog_line_burst, limits.syslog_max_line
            )
