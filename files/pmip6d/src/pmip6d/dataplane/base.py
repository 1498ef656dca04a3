"""What the LMA and MAG data planes share: start, close, tunnel peers and their linger."""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ..wire.prefix import canonical_address
from .backend import TunnelBackend, make_backend
from .channel import Channel
from .kernel import DataplaneError, Kernel, Ownership
from .peers import Peer, PeerTable
from .rtnl import NetlinkError

MODES = ("static", "dynamic")

# How often a peer whose identifier someone else holds is moved to another slot.
_RESLOT_ATTEMPTS = 8


class Dataplane:
    """Common part of :class:`~.lma.LmaDataplane` and :class:`~.mag.MagDataplane`.

    Life cycle: ``start()`` (remove leftovers of a crashed run, set up
    decapsulation and static tunnels) → actions via ``__call__`` → ``flush()``
    after each batch → ``close()`` (remove everything). ``expire()`` removes
    dynamic tunnels whose linger is over; ``flush()`` calls it too, and
    ``next_deadline()`` says when to call it next if nothing else happens.
    """

    role: ClassVar[str] = ""

    def __init__(
        self,
        backend: str | TunnelBackend,
        local_address: str,
        core_interface: str,
        *,
        mode: str = "dynamic",
        peers: Iterable[str] = (),
        linger: float = 30.0,
        netns: str | None = None,
        ownership: Ownership | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        channel: Channel | None = None,
    ) -> None:
        """``backend``: ``"auto"``, ``"seg6"``, ``"ip6tnl"`` or a :class:`TunnelBackend`.
        ``local_address``: LMAA or Proxy-CoA, the tunnel endpoint (must be configured on
        the host). ``core_interface``: where tunnel packets leave. ``mode``: ``static``
        (the tunnels to ``peers`` exist from start to close) or ``dynamic`` (a tunnel
        comes with its first binding and goes ``linger`` seconds after its last).
        ``netns``: run in this named namespace. ``channel``: an already open
        :class:`Channel` (or a test double) instead of opening one at start.
        """
        if mode not in MODES:
            raise DataplaneError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.own = ownership or Ownership()
        self.own.check()
        try:
            self.local_address = canonical_address(local_address)
            self.static_peers = [canonical_address(p) for p in peers]
        except (OSError, ValueError) as exc:
            raise DataplaneError(f"not an IPv6 address: {exc}") from None
        if mode == "dynamic" and self.static_peers:
            raise DataplaneError("peers are listed only in static mode")
        self.backend_choice = backend
        self.core_interface = core_interface
        self.mode = mode
        self.netns = netns
        self.clock = clock
        self.log = logger or logging.getLogger(f"pmip6d.dataplane.{self.role}")
        self.peers = PeerTable(linger, self.own.max_peers)
        self.counters: Counter[str] = Counter()
        self.backend: TunnelBackend | None = None
        self.kernel: Kernel | None = None
        self.core_index = 0
        self._warned_unlisted: set[str] = set()
        self._channel = channel

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        if self.kernel is not None:
            raise DataplaneError("the data plane is already started")
        channel = self._channel or Channel(self.netns)
        kernel = Kernel(channel, self.own)
        self.kernel = kernel
        prepared = False
        try:
            # Everything that can fail on configuration comes before any change.
            self.core_index = kernel.link_index(self.core_interface)
            self._start_role()
            self.backend = make_backend(self.backend_choice, kernel, self.core_index)
            removed = kernel.remove_owned()
            if removed:
                self.log.warning(
                    "removed leftovers of a previous run: %s",
                    ", ".join(f"{n} {what}" for what, n in sorted(removed.items())),
                )
            if kernel.forwarding() is False:
                self.log.warning(
                    "IPv6 forwarding is off (net.ipv6.conf.all.forwarding=0): "
                    "tunnelled traffic will be dropped"
                )
            prepared = True
            self.backend.prepare(kernel, self.local_address, self.core_index)
        except BaseException:
            try:
                if prepared:  # a half-done prepare leaves marked state: take it away
                    kernel.remove_owned()
                    self.backend.release(kernel, self.local_address)
            finally:
                self.kernel = None
                channel.close()
            raise
        for address in self.static_peers:
            self._install_peer(self.peers.add_static(address))
        self.log.info(
            "%s data plane up: backend %s, %s tunnels, local %s via %s",
            self.role.upper(),
            self.backend.name,
            self.mode,
            self.local_address,
            self.core_interface,
        )

    def close(self) -> None:
        """Remove everything this data plane put into the kernel (static tunnels included)."""
        kernel = self.kernel
        if kernel is None:
            return
        try:
            kernel.remove_owned()
            if self.backend is not None:
                self.backend.release(kernel, self.local_address)
        finally:
            kernel.ch.close()
            self.kernel = None
            self.peers = PeerTable(self.peers.linger, self.own.max_peers)
            self._close_role()

    def __enter__(self) -> Dataplane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def k(self) -> Kernel:
        """The kernel operations; only between start() and close()."""
        if self.kernel is None:
            raise DataplaneError(f"the {self.role.upper()} data plane is not started")
        return self.kernel

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """Monotonic time at which :meth:`expire` has something to do, or None."""
        return self.peers.next_deadline()

    def expire(self, now: float | None = None) -> float | None:
        """Tear down dynamic tunnels whose linger is over; return the next deadline."""
        if now is None:
            now = self.clock()
        for peer in self.peers.due(now):
            self._remove_peer(peer)
        return self.peers.next_deadline()

    # ------------------------------------------------------------------ peers

    def _note_unlisted(self, address: str) -> None:
        if self.mode == "static" and address not in self._warned_unlisted:
            self._warned_unlisted.add(address)
            self.counters["unlisted_peer"] += 1
            self.log.warning(
                "%s is not among the configured tunnel peers; building its tunnel on demand",
                address,
            )

    def _install_peer(self, peer: Peer) -> bool:
        """Create the kernel objects of ``peer``; False (logged, counted) if the kernel refuses."""
        if peer.installed:
            return True
        assert self.kernel is not None and self.backend is not None, "start() first"
        for _unused in range(_RESLOT_ATTEMPTS):
            try:
                self.backend.add_peer(self.kernel, peer, self.local_address, self.core_index)
                self._peer_added(peer)
            except NetlinkError as exc:
                if exc.errno == errno.EEXIST:
                    # Our id/name for this slot belongs to someone else: take another.
                    self.peers.reslot(peer.address)
                    continue
                self._peer_failed(peer, exc)
                return False
            except DataplaneError as exc:
                self._peer_failed(peer, exc)
                return False
            peer.installed = True
            self.counters["tunnels_created"] += 1
            self.log.info("tunnel to %s up (nexthop %d)", peer.address, self.own.nh_id(peer.slot))
            return True
        self._peer_failed(peer, DataplaneError("no free nexthop id"))
        return False

    def _peer_failed(self, peer: Peer, exc: Exception) -> None:
        self.counters["tunnel_errors"] += 1
        self.log.warning("cannot build the tunnel to %s: %s", peer.address, exc)
        if self.kernel is not None and self.backend is not None:
            # half-built objects (e.g. device made, nexthop refused)
            with contextlib.suppress(NetlinkError, DataplaneError):
                self.backend.remove_peer(self.kernel, peer)

    def _remove_peer(self, peer: Peer) -> None:
        if peer.installed and self.kernel is not None and self.backend is not None:
            try:
                self._peer_removing(peer)
                self.backend.remove_peer(self.kernel, peer)
                self.counters["tunnels_removed"] += 1
                self.log.info("tunnel to %s removed after its linger", peer.address)
            except (NetlinkError, DataplaneError) as exc:
                self.counters["tunnel_errors"] += 1
                self.log.warning("cannot remove the tunnel to %s: %s", peer.address, exc)
        self.peers.forget(peer.address)

    def peer_rows(self) -> list[dict[str, Any]]:
        received = self.backend.peer_stats() if self.backend is not None else {}
        rows = []
        for p in self.peers.peers.values():
            row = {
                "address": p.address,
                "nexthop": self.own.nh_id(p.slot),
                "refs": p.refs,
                "static": p.static,
                "installed": p.installed,
                "idle_deadline": p.idle_deadline,
            }
            if p.address in received:
                row["decapsulated"] = received[p.address]
            rows.append(row)
        return rows

    def all_counters(self) -> dict[str, int]:
        """The data plane's own counters and the backend's (``ebpf.decap_packets``...)."""
        out = dict(self.counters)
        if self.backend is not None and self.kernel is not None:
            out.update({f"{self.backend.name}.{k}": v for k, v in self.backend.counters().items()})
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ role hooks

    def _start_role(self) -> None:
        """Check role-specific configuration against the kernel, before anything changes."""

    def _close_role(self) -> None:
        """After the kernel state is gone: forget in-memory state."""

    def _peer_added(self, peer: Peer) -> None:
        """The backend made the peer's nexthop; add what the role needs on top (may raise)."""

    def _peer_removing(self, peer: Peer) -> None:
        """The peer's tunnel is about to go."""
