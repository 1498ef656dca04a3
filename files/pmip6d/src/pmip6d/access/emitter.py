"""The asyncio Router Advertisement emitter of one MAG access interface.

It owns what :class:`~.scheduler.RaScheduler` must not: an AF_PACKET socket
bound to the interface, which sends the per-MN RA frames and receives Router
Solicitations, and one asyncio timer for the scheduler's next deadline.

The socket only ever sees ICMPv6 Router Solicitations: a classic BPF filter
(IPv6, next header ICMPv6, type 133) is attached before the socket is bound,
so no other frame is queued to it, not even briefly. Should the kernel refuse
the filter, every IPv6 frame comes up and :func:`~.ra.parse_rs` sorts them out
(``kernel_filter`` is then False). The socket also asks the interface to accept
33:33:00:00:00:02 (all-routers), which RSs are sent to, in case its
multicast filter would drop them.

``serve`` sends the MN's first RA before it returns: no timer, no task switch
between the PBA and the RA. ``on_sent`` is called after each RA left the
socket, with the RA and the monotonic time it was sent.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import logging
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterable

from ..actions import Action, MobileNodeBinding, ServeMobileNode, StopServing
from ..clock import Clock, SystemClock
from ..rules import is_multicast_mac, mac_text, parse_mac
from .ra import ALL_ROUTERS_MAC, ETH_P_IPV6, RaSettings, build_ra_frame, parse_rs
from .scheduler import RaScheduler, SendRa

log = logging.getLogger("pmip6d.access")

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_MULTICAST = 0
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SIOCGIFINDEX = 0x8933
_RECV_BATCH = 64
_FRAME_MAX = 2048

# Classic BPF: accept IPv6 / next header 58 / ICMPv6 type 133 (offsets in the frame).
_RS_FILTER = (
    (0x28, 0, 0, 12),  # ldh [12]          ethertype
    (0x15, 0, 5, ETH_P_IPV6),  # jeq #0x86dd
    (0x30, 0, 0, 20),  # ldb [20]          IPv6 next header
    (0x15, 0, 3, 58),  # jeq #58           ICMPv6
    (0x30, 0, 0, 54),  # ldb [54]          ICMPv6 type
    (0x15, 0, 1, 133),  # jeq #133         Router Solicitation
    (0x06, 0, 0, 0x40000),  # ret #262144  accept
    (0x06, 0, 0, 0),  # ret #0             drop
)

OnSent = Callable[[SendRa, float], None]


def attach_rs_filter(sock: socket.socket) -> bool:
    """Attach the Router Solicitation BPF filter to ``sock``; False if the kernel refused."""
    program = b"".join(struct.pack("HBBI", *insn) for insn in _RS_FILTER)
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HP", len(_RS_FILTER), ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def open_packet_socket(interface: str, netns: str | None = None) -> tuple[socket.socket, bool]:
    """An AF_PACKET socket on ``interface`` that receives Router Solicitations.

    Returns the socket (non-blocking) and whether the kernel filters for it.
    ``netns`` opens it in that named network namespace (through pyroute2); the
    interface name is resolved there too.
    """
    if netns is None:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    else:
        from pyroute2 import netns as pyroute2_netns

        sock = pyroute2_netns.create_socket(netns, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        # Protocol 0 receives nothing: filter first, then bind to IPv6 on the interface.
        filtered = attach_rs_filter(sock)
        sock.bind((interface, ETH_P_IPV6))
        ifindex = socket_ifindex(sock)
        mreq = struct.pack("iHH8s", ifindex, PACKET_MR_MULTICAST, 6, ALL_ROUTERS_MAC)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as exc:  # not fatal: RSs still come if the NIC passes multicast
            log.warning("%s: cannot join the all-routers MAC address: %s", interface, exc)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, filtered


def socket_ifindex(sock: socket.socket) -> int:
    """Interface index of a bound AF_PACKET socket (resolved in the socket's namespace)."""
    name = sock.getsockname()[0]
    # if_nametoindex would look in *our* namespace; the socket may live in another.
    ifreq = struct.pack("16si", name.encode(), 0)
    return struct.unpack("16si", fcntl.ioctl(sock.fileno(), SIOCGIFINDEX, ifreq))[1]


def _is_link_local(address: bytes) -> bool:
    return len(address) == 16 and address[0] == 0xFE and address[1] & 0xC0 == 0x80


class RaEmitter:
    """Unicast RAs to the mobile nodes served on one access interface.

    ``link_local`` is the RA source address (text or 16 bytes); None takes it
    from each binding (``MobileNodeBinding.link_local``). ``mac`` is the source
    MAC and the SLLA option; None reads the interface's address when the
    socket opens (so configure the link, :mod:`.link`, before ``start``).
    """

    def __init__(
        self,
        interface: str,
        settings: RaSettings | None = None,
        *,
        link_local: str | bytes | None = None,
        mac: str | bytes | None = None,
        netns: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_sent: OnSent | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.interface = interface
        self.settings = settings if settings is not None else RaSettings()
        self.netns = netns
        self.clock = clock if clock is not None else SystemClock()
        self.scheduler = RaScheduler(self.settings, self.clock, rng)
        self.counters: Counter[str] = self.scheduler.counters
        self.on_sent = on_sent
        self.log = logger if logger is not None else log
        if isinstance(link_local, str):
            link_local = socket.inet_pton(socket.AF_INET6, link_local)
        if link_local is not None and not _is_link_local(link_local):
            raise ValueError("the RA source address must be a link-local (fe80::/10) address")
        self.link_local: bytes | None = link_local
        if isinstance(mac, str):
            mac = parse_mac(mac)
        if mac is not None and (len(mac) != 6 or is_multicast_mac(mac)):
            raise ValueError("the access-link MAC must be a 6-byte unicast address")
        self.mac: bytes | None = mac
        self.kernel_filter = False
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._failing = False

    # ------------------------------------------------------------------ lifecycle

    def start(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """Open the socket (or adopt ``sock``, already bound) and start reading RSs."""
        if self._loop is not None:
            raise RuntimeError("the RA emitter is already started")
        loop = loop if loop is not None else asyncio.get_running_loop()
        if sock is None:
            sock, self.kernel_filter = open_packet_socket(self.interface, self.netns)
        self._sock = sock
        if self.mac is None:
            self.mac = sock.getsockname()[4]
            if len(self.mac) != 6:
                sock.close()
                self._sock = None
                raise OSError(f"{self.interface} has no Ethernet address")
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)
        self._rearm()
        self.log.info(
            "RA emitter on %s: MAC %s, source %s, RS filter in %s",
            self.interface,
            mac_text(self.mac),
            socket.inet_ntop(socket.AF_INET6, self.link_local) if self.link_local else "binding",
            "kernel" if self.kernel_filter else "Python",
        )

    def close(self) -> None:
        """Stop reading and sending; served MNs get nothing more. Idempotent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._armed_for = None
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._loop = None

    # ------------------------------------------------------------------ MAG interface

    def serve(self, binding: MobileNodeBinding) -> None:
        """Serve (again) the MN of ``binding``; its first RA is sent before this returns."""
        if self._sock is None:
            raise RuntimeError("the RA emitter is not started")
        if self.link_local is None and binding.link_local is None:
            raise ValueError("no RA source address: neither the emitter nor the binding has one")
        self._execute(self.scheduler.serve(binding))
        self._rearm()

    def stop(self, mac: bytes) -> None:
        """Send nothing more to ``mac`` (until it is served again)."""
        self.scheduler.stop(mac)
        # The armed timer may now fire for nothing; it re-arms for the next deadline.

    def handle(self, action: Action) -> bool:
        """Carry out a ServeMobileNode / StopServing action; False for any other action."""
        if isinstance(action, ServeMobileNode):
            self.serve(action.binding)
            return True
        if isinstance(action, StopServing):
            self.stop(action.binding.mac)
            return True
        return False

    def status(self) -> dict:
        return {
            "interface": self.interface,
            "mac": mac_text(self.mac) if self.mac else None,
            "link_local": socket.inet_ntop(socket.AF_INET6, self.link_local)
            if self.link_local
            else None,
            "kernel_filter": self.kernel_filter,
            "served": len(self.scheduler),
            "settings": self.settings.radvd(),
        }

    # ------------------------------------------------------------------ internals

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _unused in range(_RECV_BATCH):
            try:
                frame, address = sock.recvfrom(_FRAME_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.counters["recv_error"] += 1
                self.log.warning("%s: receive error: %s", self.interface, exc)
                break
            if address[2] == PACKET_OUTGOING:
                continue
            rs = parse_rs(frame)
            if rs is None:
                self.counters["frames_ignored"] += 1
                continue
            try:
                self._execute(self.scheduler.solicited(rs.src_mac, rs.src_ip, rs.slla))
            except Exception:  # one bad frame or bug must not stop the emitter
                self.counters["internal_error"] += 1
                self.log.exception("error while answering an RS on %s", self.interface)
        self._rearm()

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        try:
            self._execute(self.scheduler.on_timer())
        except Exception:
            self.counters["internal_error"] += 1
            self.log.exception("error while sending periodic RAs on %s", self.interface)
        self._rearm()

    def _rearm(self) -> None:
        if self._loop is None:
            return
        deadline = self.scheduler.next_deadline()
        if deadline is None or (self._armed_for is not None and self._armed_for <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _execute(self, sends: Iterable[SendRa]) -> None:
        sock = self._sock
        if sock is None:
            return
        assert self.mac is not None
        for send in sends:
            binding = send.binding
            source = self.link_local if self.link_local is not None else binding.link_local
            if source is None:
                self.counters["no_source_address"] += 1
                continue
            frame = build_ra_frame(
                self.settings,
                binding.prefixes,
                src_mac=self.mac,
                dst_mac=binding.mac,
                src_ip=source,
                dst_ip=send.destination,
                deprecated=send.deprecated,
            )
            try:
                sock.send(frame)
            except OSError as exc:
                self.counters["send_error"] += 1
                # Warn when sending starts failing (link down, interface gone), not for
                # every periodic RA to every MN while it keeps failing.
                self.log.log(
                    logging.DEBUG if self._failing else logging.WARNING,
                    "%s: cannot send an RA to %s: %s",
                    self.interface,
                    mac_text(binding.mac),
                    exc.strerror or exc,
                )
                self._failing = True
                continue
            if self._failing:
                self._failing = False
                self.log.info("%s: sending RAs again", self.interface)
            sent_at = self.clock.monotonic()
            self.counters["ra_sent"] += 1
            if self.on_sent is not None:
                try:
                    self.on_sent(send, sent_at)
                except Exception:
                    self.counters["on_sent_error"] += 1
                    self.log.exception("the on_sent hook failed")


__all__ = ["OnSent", "RaEmitter", "attach_rs_filter", "open_packet_socket", "socket_ifindex"]
