"""One NETLINK_ROUTE socket: single requests, dumps and big pre-encoded batches.

The kernel processes every message of a ``sendmsg`` synchronously, before the
call returns, and queues one acknowledgement (or error) per message on our
socket. So a batch is: one ``sendmsg`` of up to ``batch_bytes``, then read the
acknowledgements that are already waiting. Two socket options keep this
cheap: ``NETLINK_CAP_ACK`` (an error does not echo the whole request back,
only its header) and ``NETLINK_EXT_ACK`` (the kernel says *why*, e.g. "Nexthop
id does not exist"). The receive buffer is raised with ``SO_RCVBUFFORCE`` so
the acknowledgements of one batch always fit; if some are lost anyway
(``ENOBUFS``) the batch reports them as unconfirmed instead of guessing.

``netns`` opens the socket inside a named network namespace (it stays bound to
it for its whole life), so one process can drive several namespaces — the
integration tests do exactly that.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from . import rtnl
from .rtnl import Header, NetlinkError

log = logging.getLogger("pmip6d.dataplane")

SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32

_RECV_SIZE = 1 << 20
_ACK = struct.Struct("=IHHIIi")  # nlmsghdr + the error field of an NLMSG_ERROR


def open_netlink_socket(
    netns: str | None = None, protocol: int = socket.NETLINK_ROUTE
) -> socket.socket:
    """A netlink socket in the current namespace or in ``/run/netns/<netns>``."""
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
    from pyroute2 import netns as pyroute2_netns

    # flags=0: never create the namespace (pyroute2's default O_CREAT would).
    return pyroute2_netns.create_socket(
        netns, socket.AF_NETLINK, socket.SOCK_RAW, protocol, flags=0
    )


@dataclass(slots=True)
class BatchResult:
    """Outcome of one batch: how many were confirmed, and what failed (by sequence number)."""

    sent: int = 0
    acked: int = 0
    failed: list[tuple[int, int, str]] = field(default_factory=list)
    """(seq, errno, extended-ack text) per refused message."""
    unconfirmed: int = 0
    """Messages whose acknowledgement never arrived (receive buffer overrun)."""


class Channel:
    """Route-netlink requests, synchronously, on one socket."""

    def __init__(
        self,
        netns: str | None = None,
        *,
        rcvbuf: int = 64 << 20,
        sndbuf: int = 4 << 20,
        protocol: int = socket.NETLINK_ROUTE,
        timeout: float = 10.0,
    ) -> None:
        self.netns = netns
        self.sock = open_netlink_socket(netns, protocol)
        self.sock.bind((0, 0))
        for option in (rtnl.NETLINK_CAP_ACK, rtnl.NETLINK_EXT_ACK):
            # old kernels lack them: plain acknowledgements still work
            with contextlib.suppress(OSError):
                self.sock.setsockopt(rtnl.SOL_NETLINK, option, 1)
        for force, plain, size in (
            (SO_RCVBUFFORCE, socket.SO_RCVBUF, rcvbuf),
            (SO_SNDBUFFORCE, socket.SO_SNDBUF, sndbuf),
        ):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, force, size)
            except OSError:  # without CAP_NET_ADMIN: capped by net.core.[rw]mem_max
                self.sock.setsockopt(socket.SOL_SOCKET, plain, size)
        # Non-blocking throughout: batch reads stop at EAGAIN, waits use poll().
        self.sock.setblocking(False)
        self.timeout = timeout
        self._poll = select.poll()
        self._poll.register(self.sock, select.POLLIN)
        self._seq = 0
        self._buffer = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buffer)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive sequence numbers; return the first."""
        first = self._seq + 1
        self._seq += count
        if self._seq > 0xFFFF_0000:  # wrap long before u32 overflows
            self._seq = 0
            return self.next_seq(count)
        return first

    # ------------------------------------------------------------------ requests

    def request(self, msg: bytes, what: str = "") -> None:
        """Send one message that asks for an acknowledgement; raise NetlinkError if refused."""
        buf = bytearray(msg)
        seq = self.next_seq()
        rtnl.set_seq(buf, seq)
        self.sock.send(buf)
        while True:
            for header, body in self._recv():
                if header.seq != seq or header.kind != rtnl.NLMSG_ERROR:
                    continue
                err, _unused, text = rtnl.parse_error(body, header.flags)
                if err:
                    raise NetlinkError(err, text, what)
                return

    def try_request(self, msg: bytes, what: str = "", ok: Sequence[int] = ()) -> int:
        """Like :meth:`request` but returns the errno (0 on success); ``ok`` errnos log nothing."""
        try:
            self.request(msg, what)
        except NetlinkError as exc:
            if exc.errno not in ok:
                log.warning("%s", exc)
            return exc.errno
        return 0

    def query(self, msg: bytes) -> list[tuple[Header, memoryview]]:
        """A request answered by one message (e.g. RTM_GETNETCONF)."""
        buf = bytearray(msg)
        seq = self.next_seq()
        rtnl.set_seq(buf, seq)
        self.sock.send(buf)
        while True:
            out = [(h, memoryview(bytes(b))) for h, b in self._recv() if h.seq == seq]
            for header, body in out:
                if header.kind == rtnl.NLMSG_ERROR:
                    err, _unused, text = rtnl.parse_error(body, header.flags)
                    if err:
                        raise NetlinkError(err, text)
            if out:
                return out

    def dump(self, msg: bytes) -> Iterator[tuple[Header, memoryview]]:
        """All messages of a dump. A dump interrupted by a concurrent change restarts."""
        for _attempt in range(5):
            buf = bytearray(msg)
            seq = self.next_seq()
            rtnl.set_seq(buf, seq)
            self.sock.send(buf)
            collected: list[tuple[Header, memoryview]] = []
            interrupted = False
            done = False
            while not done:
                for header, body in self._recv():
                    if header.seq != seq:
                        continue
                    if header.flags & rtnl.NLM_F_DUMP_INTR:
                        interrupted = True
                    if header.kind == rtnl.NLMSG_DONE:
                        done = True
                        break
                    if header.kind == rtnl.NLMSG_ERROR:
                        err, _unused, text = rtnl.parse_error(body, header.flags)
                        if err:
                            raise NetlinkError(err, text, "dump")
                        done = True
                        break
                    collected.append((header, memoryview(bytes(body))))
            if not interrupted:
                yield from collected
                return
        yield from collected

    # ------------------------------------------------------------------ batches

    def send_batch(
        self,
        buf: bytes | bytearray | memoryview,
        first_seq: int,
        count: int,
        expect_acks: bool = True,
    ) -> BatchResult:
        """Send ``count`` pre-encoded messages (sequence numbers ``first_seq``…) at once.

        With ``expect_acks`` every message carries NLM_F_ACK and one answer per
        message is read; without, only refusals come back (the kernel always
        reports errors) and the rest counts as done. Never raises for a refused
        message — only for a broken socket.
        """
        result = BatchResult(sent=count)
        if not count:
            return result
        last_seq = first_seq + count - 1
        self.sock.send(buf)
        # The kernel has processed the whole buffer when send() returns: every
        # answer is already queued, so reading until EAGAIN sees them all. The
        # loop reads headers with one unpack per answer (no objects): it runs
        # once per route.
        recv_into = self.sock.recv_into
        data = self._buffer
        unpack = _ACK.unpack_from
        failed = result.failed
        pending = count
        acked = 0
        while pending:
            try:
                n = recv_into(data)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                log.warning("netlink answers lost (receive buffer overrun)")
                continue
            offset = 0
            while offset + _ACK.size <= n:
                length, kind, flags, seq, _pid, error = unpack(data, offset)
                if length < rtnl.NLMSGHDR_LEN:
                    break
                if kind == rtnl.NLMSG_ERROR and first_seq <= seq <= last_seq:
                    if error:
                        body = self._view[offset + rtnl.NLMSGHDR_LEN : offset + length]
                        err, _unused, text = rtnl.parse_error(body, flags)
                        failed.append((seq, err, text))
                        pending -= 1
                    elif expect_acks:
                        acked += 1
                        pending -= 1
                offset += (length + 3) & ~3
        result.acked = acked
        if expect_acks:
            result.unconfirmed = pending
        else:
            result.acked = count - len(result.failed)
        return result

    # ------------------------------------------------------------------ internals

    def _recv(self, nonblocking: bool = False) -> list[tuple[Header, memoryview]]:
        """One datagram, split into messages. The views point into a reused buffer:
        valid until the next call (``recv(1 MiB)`` would allocate and shrink a
        megabyte per acknowledgement — 20 µs each, most of a batch's time)."""
        if not nonblocking and not self._poll.poll(self.timeout * 1000):
            raise TimeoutError(f"no netlink answer within {self.timeout} s")
        n = self.sock.recv_into(self._buffer)
        return list(rtnl.iter_messages(self._view[:n]))
