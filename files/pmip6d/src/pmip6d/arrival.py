"""When the kernel received a datagram, from its ``SO_TIMESTAMPNS`` ancillary data.

The kernel stamps a datagram when it arrives (CLOCK_REALTIME), before it waits
in the socket for a busy agent. The LMA judges a PBU's timestamp against that
arrival (RFC 5213 §5.5); the MAG's handover timeline starts its phases there,
as a packet capture would, so the time a message waited for the agent is part of
the phase, not hidden. The timeline runs on the monotonic clock: :func:`on_clock`
moves an arrival onto it (the age of the datagram, taken now, subtracted from
the clock's now).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterable

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
"""The ancillary buffer size to pass to ``recvmsg`` for the timestamp."""

Ancillary = Iterable[tuple[int, int, bytes]]


def wall_arrival(ancillary: Ancillary) -> float | None:
    """Unix time the kernel received the datagram, or None if it gave no timestamp."""
    for level, kind, value in ancillary:
        if kind == SO_TIMESTAMPNS and level == socket.SOL_SOCKET and len(value) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(value)
            return seconds + nanoseconds * 1e-9
    return None


def on_clock(
    wall: float | None, clock: Callable[[], float], wall_clock: Callable[[], float] = time.time
) -> float:
    """An arrival in Unix time as a time of ``clock`` (now, if there is none)."""
    now = clock()
    if wall is None:
        return now
    return now - max(0.0, wall_clock() - wall)


def arrival(ancillary: Ancillary, clock: Callable[[], float]) -> float:
    """When the datagram arrived, on ``clock`` (now, without a kernel timestamp)."""
    return on_clock(wall_arrival(ancillary), clock)
