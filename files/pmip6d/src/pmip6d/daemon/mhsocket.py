"""The raw IPv6 socket that carries Mobility Header messages (protocol 135).

The kernel fills in and verifies the MH checksum (``IPV6_CHECKSUM`` at offset
4), so datagrams with a bad checksum never reach us, and what we read is the
Mobility Header alone, with the sender's address beside it.
"""

from __future__ import annotations

import contextlib
import socket

from ..wire.constants import IPPROTO_MH, MH_CHECKSUM_OFFSET

IPV6_CHECKSUM = 7
IPV6_FREEBIND = 78
_BUFFER = 8 * 1024 * 1024


class MobilityHeaderSocket:
    def __init__(self, address: str | None = None) -> None:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
            # Start even if the address is not configured yet (interface still coming up).
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, _BUFFER)
            if address:
                sock.bind((address, 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.address = address

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_batch(self, limit: int = 512) -> list[tuple[str, bytes]]:
        """Everything waiting on the socket (up to ``limit``), as (source, MH bytes)."""
        out = []
        recvfrom = self.sock.recvfrom
        for _ in range(limit):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            out.append((addr[0].split("%", 1)[0], data))
        return out

    def send(self, destination: str, data: bytes) -> None:
        self.sock.sendto(data, (destination, 0))

    def close(self) -> None:
        self.sock.close()
