"""The raw IPv6 socket that carries Mobility Header messages (protocol 135).

The kernel fills in and verifies the MH checksum (``IPV6_CHECKSUM`` at offset
4), so datagrams with a bad checksum never reach us, and what we read is the
Mobility Header alone, with the sender's address beside it, and the time the
kernel received it (``SO_TIMESTAMPNS``), so that a timestamp is judged against
the arrival of its message, not against when a busy agent got round to it.
"""

from __future__ import annotations

import contextlib
import socket

from ..arrival import ANCILLARY, SO_TIMESTAMPNS, wall_arrival
from ..defaults import SOCKET_BUFFER
from ..wire.constants import IPPROTO_MH, MH_CHECKSUM_OFFSET

IPV6_CHECKSUM = 7
IPV6_FREEBIND = 78
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def set_buffers(sock: socket.socket, size: int) -> None:
    """Receive and send buffers of ``size`` bytes: forced where this process may
    (CAP_NET_ADMIN: past net.core.rmem_max/wmem_max), else as large as the host allows."""
    for forced, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, forced, size)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, size)


def raw_socket(
    protocol: int,
    address: str | None,
    checksum_offset: int | None = None,
    buffer: int = SOCKET_BUFFER,
) -> socket.socket:
    """A non-blocking raw IPv6 socket for ``protocol``, bound to ``address`` if given, with
    ``buffer`` bytes of buffers and kernel receive timestamps; the kernel fills in and
    verifies the checksum at ``checksum_offset`` when one is given."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, protocol)
    try:
        if checksum_offset is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, checksum_offset)
        # Start even if the address is not configured yet (interface still coming up).
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        set_buffers(sock, buffer)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if address:
            sock.bind((address, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class MobilityHeaderSocket:
    def __init__(self, address: str | None = None, buffer: int = SOCKET_BUFFER) -> None:
        sock = raw_socket(IPPROTO_MH, address, MH_CHECKSUM_OFFSET, buffer)
        self.sock = sock
        self.address = address

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_batch(self, limit: int = 512) -> list[tuple[str, bytes, float | None]]:
        """Everything waiting on the socket (up to ``limit``).

        Each as (source, MH bytes, Unix time of arrival or None if the kernel gave none).
        """
        out = []
        recvmsg = self.sock.recvmsg
        for _unused in range(limit):
            try:
                data, ancillary, _flags, addr = recvmsg(65535, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                break
            out.append((addr[0].split("%", 1)[0], data, wall_arrival(ancillary)))
        return out

    def send(self, destination: str, data: bytes) -> None:
        self.sock.sendto(data, (destination, 0))

    def close(self) -> None:
        self.sock.close()
