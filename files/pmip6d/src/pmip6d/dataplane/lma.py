"""The LMA data plane: every home network prefix routed into the tunnel to its MAG.

Theory of operation. The LMA machine emits ``RouteToMag``/``Unroute``; this
object is the shell's *effect* for them. ``__call__`` only updates two dicts
(pure bookkeeping, microseconds): ``desired`` (prefix → MAG the control plane
wants) and the *dirty* set. ``flush()`` — called by the shell after each batch
of messages — turns the dirty set into kernel messages:

* tunnels first: a nexthop object (and, with ip6tnl, a device) per MAG that
  needs one and has none yet;
* then one route message per dirty prefix, rendered from a per-MAG
  :class:`~.rtnl.RouteTemplate` (patch 17 bytes instead of encoding), packed
  into ``batch_bytes`` buffers and sent with one ``sendmsg`` each; the
  acknowledgements are matched back to prefixes by sequence number.

A prefix that moves is one ``RTM_NEWROUTE`` with ``NLM_F_REPLACE`` and the new
MAG's ``nhid``: the kernel swaps the nexthop of the existing route atomically,
so no packet finds the prefix unrouted during a handover. Several actions on
one prefix within a batch collapse into the last one.

A prefix the kernel refuses is logged and counted, stays in ``failed`` and
is retried after ``retry_after`` seconds; nothing here raises out of
``__call__`` or ``flush()`` for a refused route.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..actions import Action, RouteToMag, Unroute
from ..wire.prefix import Prefix, canonical_address
from . import rtnl
from .backend import TunnelBackend
from .base import Dataplane
from .peers import Peer
from .rtnl import RouteTemplate

# Errors logged one by one per flush; the rest only counted and summarized.
_LOGGED_ERRORS = 10


@dataclass(slots=True)
class FlushStats:
    """What one :meth:`LmaDataplane.flush` did."""

    messages: int = 0
    replaced: int = 0
    deleted: int = 0
    failed: int = 0
    unconfirmed: int = 0
    sends: int = 0
    seconds: float = 0.0
    refused: list[Prefix] = field(default_factory=list)
    """Prefixes whose route (not its deletion) the kernel refused in this flush."""


class LmaDataplane(Dataplane):
    role = "lma"

    def __init__(
        self,
        backend: str | TunnelBackend,
        local_address: str,
        core_interface: str,
        *,
        batch_bytes: int = 64 * 1024,
        acks: bool = True,
        retry_after: float = 5.0,
        **common: Any,
    ) -> None:
        """See :class:`~.base.Dataplane` for ``mode``, ``peers``, ``linger``, ``netns``,
        ``ownership``, ``clock`` and ``logger``.

        ``batch_bytes``: size of one ``sendmsg`` (about 64 bytes per route).
        ``acks``: ask for a positive acknowledgement per route (``NLM_F_ACK``);
        without, only refusals come back — fewer syscalls, same error reporting.
        """
        super().__init__(backend, local_address, core_interface, **common)
        if batch_bytes < 1024:
            raise ValueError("batch_bytes must be at least 1024")
        self.batch_bytes = batch_bytes
        self.acks = acks
        self.retry_after = retry_after
        self.desired: dict[Prefix, str] = {}
        self.installed: dict[Prefix, str] = {}
        self.failed: dict[Prefix, None] = {}
        self._dirty: dict[Prefix, None] = {}
        self._retry_at = 0.0
        self._errors_logged = 0
        self._templates: dict[str, tuple[RouteTemplate, RouteTemplate]] = {}
        self._canonical: dict[str, str] = {}

    # ------------------------------------------------------------------ actions

    def __call__(self, action: Action) -> None:
        """Buffer a data-plane action; other actions are not ours and are ignored."""
        if isinstance(action, RouteToMag):
            self.route(action.prefixes, action.proxy_coa)
        elif isinstance(action, Unroute):
            self.unroute(action.prefixes, action.proxy_coa)

    def route(self, prefixes: Iterable[Prefix], proxy_coa: str) -> None:
        """Point ``prefixes`` at the tunnel to ``proxy_coa`` (at the next flush)."""
        mag = self._address(proxy_coa)
        now = self.clock()
        for prefix in prefixes:
            old = self.desired.get(prefix)
            if old != mag:
                self.desired[prefix] = mag
                if mag not in self.peers.peers:
                    self._note_unlisted(mag)
                self.peers.ref(mag)
                if old is not None:
                    self.peers.unref(old, now)
            # Even an unchanged target is re-sent: a re-registration then also
            # repairs a route someone removed by hand.
            self._dirty[prefix] = None
            self.failed.pop(prefix, None)

    def unroute(self, prefixes: Iterable[Prefix], proxy_coa: str) -> None:
        """Remove the routes of ``prefixes`` if (and only if) they still point at ``proxy_coa``."""
        mag = self._address(proxy_coa)
        now = self.clock()
        for prefix in prefixes:
            if self.desired.get(prefix) != mag:
                # Already moved to another MAG (or never routed): a late action
                # about the old binding must not take the new route away.
                self.counters["unroute_stale"] += 1
                continue
            del self.desired[prefix]
            self.peers.unref(mag, now)
            self._dirty[prefix] = None
            self.failed.pop(prefix, None)

    def pending(self) -> int:
        return len(self._dirty)

    # ------------------------------------------------------------------ flush

    def flush(self) -> FlushStats:
        """Apply buffered actions to the kernel in batches; then expire lingering tunnels."""
        started = time.perf_counter()
        stats = FlushStats()
        if self.kernel is None:
            return stats
        now = self.clock()
        self._errors_logged = 0
        if self.failed and now >= self._retry_at:
            self._dirty.update(self.failed)
            self.failed.clear()
        if self._dirty:
            for peer in self.peers.wanted():
                self._install_peer(peer)
            dirty, self._dirty = self._dirty, {}
            self._send(dirty, stats)
            self.counters["routes_replaced"] += stats.replaced
            self.counters["routes_deleted"] += stats.deleted
            if stats.failed > _LOGGED_ERRORS:
                self.log.warning(
                    "%d more refused routes not logged one by one (%d pending a retry)",
                    stats.failed - _LOGGED_ERRORS,
                    len(self.failed),
                )
        self.expire(now)
        stats.seconds = time.perf_counter() - started
        return stats

    def _send(self, dirty: dict[Prefix, None], stats: FlushStats) -> None:
        channel = self.k.ch
        limit = self.batch_bytes
        buf = bytearray(limit)
        peers = self.peers.peers
        desired = self.desired
        installed = self.installed
        templates = self._templates
        # Sequence numbers are reserved per buffer for the most messages it can hold.
        per_buffer = limit // 32 + 1
        items: list[tuple[Prefix, str | None]] = []
        first_seq = channel.next_seq(per_buffer)
        offset = 0
        for prefix in dirty:
            want = desired.get(prefix)
            if want is not None:
                peer = peers.get(want)
                if peer is None or not peer.installed:
                    self._refuse(prefix, want, errno.ENETUNREACH, "no tunnel")
                    stats.failed += 1
                    stats.refused.append(prefix)
                    continue
                template = (templates.get(want) or self._make_templates(peer))[0]
            else:
                have = installed.get(prefix)
                if have is None:
                    continue
                peer = peers.get(have)
                if peer is None or not peer.installed:
                    # Its nexthop is gone, and the kernel took the route with it.
                    del installed[prefix]
                    continue
                template = (templates.get(have) or self._make_templates(peer))[1]
            if offset + template.size > limit:
                self._complete(buf, offset, first_seq, items, stats)
                items = []
                offset = 0
                first_seq = channel.next_seq(per_buffer)
            offset = template.render_into(buf, offset, prefix, first_seq + len(items))
            items.append((prefix, want))
        if items:
            self._complete(buf, offset, first_seq, items, stats)

    def _complete(
        self,
        buf: bytearray,
        size: int,
        first_seq: int,
        items: list[tuple[Prefix, str | None]],
        stats: FlushStats,
    ) -> None:
        """Send one buffer, then book the outcome of each of its messages."""
        channel = self.k.ch
        result = channel.send_batch(
            memoryview(buf)[:size], first_seq, len(items), expect_acks=self.acks
        )
        stats.sends += 1
        stats.messages += len(items)
        refused: dict[int, tuple[int, str]] = {}
        for seq, err, text in result.failed:
            index = seq - first_seq
            prefix, want = items[index]
            if want is None and err in (errno.ESRCH, errno.ENOENT):
                continue  # deleting what is already gone is success
            refused[index] = (err, text)
        installed = self.installed
        for index, (prefix, want) in enumerate(items):
            if index in refused:
                err, text = refused[index]
                self._refuse(prefix, want, err, text)
                stats.failed += 1
                if want is not None:
                    stats.refused.append(prefix)
            elif want is None:
                installed.pop(prefix, None)
                stats.deleted += 1
            else:
                installed[prefix] = want
                stats.replaced += 1
        if result.unconfirmed:
            # The kernel processed them, but we could not read every answer; the
            # bookkeeping above assumed success.
            stats.unconfirmed += result.unconfirmed
            self.counters["acks_lost"] += result.unconfirmed
            self.log.warning("%d route acknowledgements lost", result.unconfirmed)

    def _refuse(self, prefix: Prefix, want: str | None, err: int, text: str) -> None:
        """Book one refused route: counted, kept for a retry, logged (the first few)."""
        self.counters["route_errors"] += 1
        self.counters[f"route_error.{errno.errorcode.get(err, err)}"] += 1
        self.failed[prefix] = None
        self._retry_at = self.clock() + self.retry_after
        self._errors_logged += 1
        if self._errors_logged <= _LOGGED_ERRORS:
            what = f"route {prefix} to {want}" if want else f"delete route {prefix}"
            self.log.warning(
                "%s refused: %s%s", what, rtnl.os_strerror(err), f" ({text})" if text else ""
            )

    # ------------------------------------------------------------------ helpers

    def _address(self, text: str) -> str:
        canonical = self._canonical.get(text)
        if canonical is None:
            canonical = self._canonical[text] = canonical_address(text)
        return canonical

    def _make_templates(self, peer: Peer) -> tuple[RouteTemplate, RouteTemplate]:
        nh_id = self.own.nh_id(peer.slot)
        ack = rtnl.NLM_F_ACK if self.acks else 0
        new = RouteTemplate(
            rtnl.RTM_NEWROUTE,
            table=self.own.route_table,
            protocol=self.own.protocol,
            nh_id=nh_id,
            flags=(rtnl.REPLACE_FLAGS & ~rtnl.NLM_F_ACK) | ack,
        )
        delete = RouteTemplate(
            rtnl.RTM_DELROUTE,
            table=self.own.route_table,
            protocol=self.own.protocol,
            nh_id=nh_id,
            flags=(rtnl.DEL_FLAGS & ~rtnl.NLM_F_ACK) | ack,
        )
        self._templates[peer.address] = (new, delete)
        return new, delete

    def _peer_removing(self, peer: Peer) -> None:
        self._templates.pop(peer.address, None)
        # Routes still pointing at it (only after refused deletions) vanish with the nexthop.
        stale = [p for p, mag in self.installed.items() if mag == peer.address]
        for prefix in stale:
            del self.installed[prefix]

    def _close_role(self) -> None:
        self.desired.clear()
        self.installed.clear()
        self.failed.clear()
        self._dirty.clear()
        self._templates.clear()

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.backend.name if self.backend else None,
            "mode": self.mode,
            "routes_desired": len(self.desired),
            "routes_installed": len(self.installed),
            "pending": len(self._dirty),
            "failed": len(self.failed),
            "tunnels": self.peer_rows(),
            "counters": self.all_counters(),
        }
