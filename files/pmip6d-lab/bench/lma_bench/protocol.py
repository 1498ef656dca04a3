"""What the workers and the orchestrator share: addresses, MN identities, the phases, the raw
Mobility Header socket, the worker → orchestrator JSON lines."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmip6d.daemon.mhsocket import IPV6_CHECKSUM
from pmip6d.wire import (
    OptionType,
)
from pmip6d.wire.constants import IPPROTO_MH, MH_CHECKSUM_OFFSET

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SOCKET_BUFFER = 32 * 1024 * 1024

LINK_PREFIX = "fd00:5213::"
LMA_ADDRESS = "fd00:5213::1"
NULL_ADDRESS = "fd00:5213::2"
MAG_LINK_LOCAL = "fe80::1"
POOL_PREFIX = "2001:db8::/32"  # 2**32 /64 prefixes
POOL_LENGTH = 64
NULL_HNP = "2001:db8:ffff:ffff::"
MAX_LIFETIME_UNITS = 0xFFFF
MAX_BINDING_LIFETIME = MAX_LIFETIME_UNITS * 4  # ~72 h: nothing expires during a run
MN_ID_FORMAT = "mn-%08d@bench.pmip6d"
MN_ID_LENGTH = len(MN_ID_FORMAT % 0)
TS_FRACTIONS = 1 << 16

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    handoff_indicator: int
    mag_move: int | None
    """MN i is sent from MAG (i + shift) % mags: ``None`` keeps the shift of the MAG that
    registered it last, 0 resets it, 1 moves every MN to the next MAG (a handover)."""
    use_hnp: bool
    """Carry the HNP the target assigned at registration (else ::/0)."""
    record_hnp: bool


PHASES: dict[str, PhaseSpec] = {
    "register": PhaseSpec("register", 1, 0, use_hnp=False, record_hnp=True),
    "refresh": PhaseSpec("refresh", 5, None, use_hnp=True, record_hnp=False),
    "handover": PhaseSpec("handover", 3, 1, use_hnp=True, record_hnp=False),
    # Unloaded latency: refreshes of the first --probe MNs, one PBU outstanding at a time.
    "probe": PhaseSpec("probe", 5, None, use_hnp=True, record_hnp=False),
    # --storm: the first 10 % of the MNs move to the next MAG all at once (every PBU
    # outstanding together). Last, as it moves only some MNs.
    "storm": PhaseSpec("storm", 3, 1, use_hnp=True, record_hnp=False),
}
STORM_FRACTION = 10
"""--storm moves one MN in this many."""
DEFAULT_PHASES = ["register", "refresh", "handover"]


def mag_address(index: int) -> str:
    return f"{LINK_PREFIX}a:{index:x}"


def mn_id(index: int) -> bytes:
    return (MN_ID_FORMAT % index).encode()


def mn_mac(index: int) -> bytes:
    return b"\x02\x00" + index.to_bytes(4, "big")


def option_offsets(mh: bytes | bytearray, start: int = 12) -> dict[int, int]:
    """Offset of the Type octet of the first option of each type in a Mobility Header."""
    out: dict[int, int] = {}
    pos = start
    while pos < len(mh):
        otype = mh[pos]
        if otype == OptionType.PAD1:
            pos += 1
            continue
        out.setdefault(otype, pos)
        pos += 2 + mh[pos + 1]
    return out


def mh_socket(bind: str | None = None) -> socket.socket:
    """A raw Mobility Header socket set up like the daemon's, with big forced buffers."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    if bind:
        sock.bind((bind, 0))
    return sock


def raw6_drops(path: str, inode: int | None = None) -> int:
    """Datagrams the kernel dropped on raw IPv6 sockets (``/proc/.../net/raw6``)."""
    total = 0
    try:
        with open(path) as f:
            next(f)
            for line in f:
                cols = line.split()
                if len(cols) >= 13 and (inode is None or int(cols[9]) == inode):
                    total += int(cols[12])
    except (OSError, ValueError, StopIteration):
        return -1
    return total


def emit(obj: dict[str, Any]) -> None:
    """Worker → orchestrator: one JSON object per line on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
