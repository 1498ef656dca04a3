"""The MAG data plane: the home link of each served mobile node, and its tunnel to the LMA.

Per served mobile node, for each of its home network prefixes (HNP):

* ``HNP dev <access interface>`` in the main table (``Ownership.route_table``):
  the prefix is on-link at the access interface, so traffic decapsulated from
  the LMA reaches the MN by neighbour discovery;
* ``from HNP iif <access interface> lookup <LMA table>`` at
  ``Ownership.mn_rule_priority``: what the MN sends goes into the tunnel to its
  LMA — including traffic to another MN behind this MAG, which thus takes the
  trip via the LMA (RFC 5213 default, EnableMAGLocalRouting = 0).

Per LMA (a tunnel peer): its nexthop object from the backend and one table,
``peer_table_base + slot``, holding only ``default nhid <nexthop>``.

Why one table per LMA rather than a source-specific route per MN in one
table: a rule can only *select* a table, and a table per LMA keeps that table
to a single route however many MNs share the LMA; the per-MN state is the one
rule that the RFC 5213 semantics need anyway (source *and* incoming interface).
Rules are a linear list in the kernel, which is fine at MAG scale (hundreds of
MNs); an LMA never uses per-MN rules.

Rule priorities: seg6 decapsulation (50) < local table (100) < MN rules (1000)
< main (32766). MN rules must come after ``local``: a packet from an MN to the
MAG itself (its link-local address, router solicitations answered by unicast)
must be delivered locally, not tunnelled.

Unlike the LMA, the MAG applies actions at once: they are few, and the RA
emitter that runs next should find the routes in place. ``flush()`` only
expires lingering tunnels.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..actions import Action, MobileNodeBinding, ServeMobileNode, StopServing
from ..wire.prefix import ZERO_PREFIX, Prefix, canonical_address
from . import rtnl
from .backend import TunnelBackend
from .base import Dataplane
from .kernel import DataplaneError, Ownership
from .peers import Peer
from .rtnl import NetlinkError


@dataclass(slots=True, frozen=True)
class Served:
    """What the kernel holds for one mobile node (so it can be taken away exactly)."""

    lma: str
    interface: str
    table: int
    prefixes: tuple[Prefix, ...]


class MagDataplane(Dataplane):
    role = "mag"

    def __init__(
        self,
        backend: str | TunnelBackend,
        local_address: str,
        core_interface: str,
        access_interfaces: Iterable[str],
        *,
        table: int | None = None,
        **common: Any,
    ) -> None:
        """``local_address`` is the Proxy-CoA. ``peers`` (static mode) are LMA addresses.

        ``access_interfaces``: where MNs attach; a binding without an interface
        is served on the first. ``table``: first of the per-LMA tables
        (overrides ``Ownership.peer_table_base``).
        """
        if table is not None:
            own = common.get("ownership")
            common["ownership"] = dataclasses.replace(own or Ownership(), peer_table_base=table)
        super().__init__(backend, local_address, core_interface, **common)
        self.access_interfaces = list(access_interfaces)
        if not self.access_interfaces:
            raise DataplaneError("a MAG needs at least one access interface")
        self.served: dict[bytes, Served] = {}
        self._ifindex: dict[str, int] = {}

    def _start_role(self) -> None:
        for name in self.access_interfaces:
            info = self.k.link(name)
            if info is None:
                raise DataplaneError(f"access interface {name!r} does not exist")
            if not info.flags & rtnl.IFF_UP:
                # The kernel refuses routes via a device that is down.
                self.log.warning("access interface %s is down: MNs on it cannot be served", name)
            self._ifindex[name] = info.index

    def _close_role(self) -> None:
        self.served.clear()
        self._ifindex.clear()

    # ------------------------------------------------------------------ actions

    def __call__(self, action: Action) -> None:
        """Apply ServeMobileNode / StopServing now; other actions are not ours."""
        if isinstance(action, ServeMobileNode):
            self.serve(action.binding)
        elif isinstance(action, StopServing):
            self.stop(action.binding)

    def flush(self) -> None:
        """Nothing is buffered at the MAG; expire lingering tunnels."""
        if self.kernel is not None:
            self.expire()

    def serve(self, binding: MobileNodeBinding) -> bool:
        """Install (or update) the home link of one MN; False if the kernel refused something."""
        if self.kernel is None:
            return False
        interface = binding.interface or self.access_interfaces[0]
        prefixes = tuple(p for p in binding.prefixes if p != ZERO_PREFIX)
        try:
            lma = canonical_address(binding.lma)
            oif = self._index(interface)
        except (OSError, ValueError, DataplaneError) as exc:
            self.counters["serve_errors"] += 1
            self.log.warning("cannot serve %s: %s", binding.mn_id.decode(errors="replace"), exc)
            return False
        old = self.served.get(binding.mac)
        if old is None or old.lma != lma:
            if lma not in self.peers.peers:
                self._note_unlisted(lma)
            peer = self.peers.ref(lma)
        else:
            peer = self.peers.peers[lma]
        ok = self._install_peer(peer)
        table = self.own.peer_table(peer.slot)
        served = Served(lma, interface, table, prefixes)
        # Record before touching the kernel: StopServing must undo even a partial setup.
        self.served[binding.mac] = served
        if old is not None and old.lma != lma:
            self.peers.unref(old.lma, self.clock())
        if not ok:
            self.counters["serve_errors"] += 1
            return False
        try:
            try:
                self._install(served, oif)
            except NetlinkError as exc:
                if exc.errno != errno.ENODEV:
                    raise
                # The access interface was re-created (new index): look it up again.
                self._ifindex.pop(interface, None)
                self._install(served, self._index(interface))
            if old is not None:
                self._remove_leftover(old, served)
        except (NetlinkError, DataplaneError) as exc:
            self.counters["serve_errors"] += 1
            self.log.warning("cannot serve %s: %s", binding.mn_id.decode(errors="replace"), exc)
            return False
        self.counters["served"] += 1
        return True

    def stop(self, binding: MobileNodeBinding) -> bool:
        """Remove the MN's routes and rules; its LMA tunnel lingers if it was the last MN."""
        served = self.served.pop(binding.mac, None)
        if served is None:
            self.counters["stop_unknown"] += 1
            return False
        ok = True
        if self.kernel is not None:
            try:
                self._remove(served, served.prefixes)
            except NetlinkError as exc:
                ok = False
                self.counters["stop_errors"] += 1
                self.log.warning(
                    "cannot fully stop serving %s: %s", binding.mn_id.decode(errors="replace"), exc
                )
        self.peers.unref(served.lma, self.clock())
        self.counters["stopped"] += 1
        return ok

    # ------------------------------------------------------------------ internals

    def _install(self, served: Served, oif: int) -> None:
        for prefix in served.prefixes:
            self.k.replace_route(prefix, self.own.route_table, oif=oif)
            self.k.add_rule(
                priority=self.own.mn_rule_priority,
                table=served.table,
                src=prefix,
                iifname=served.interface,
            )

    def _remove_leftover(self, old: Served, new: Served) -> None:
        """After a re-serve: drop what the old setup had and the new one does not."""
        if (old.interface, old.table) != (new.interface, new.table):
            gone_rules = old.prefixes
        else:
            gone_rules = tuple(p for p in old.prefixes if p not in new.prefixes)
        for prefix in gone_rules:
            self.k.del_rule(
                priority=self.own.mn_rule_priority,
                table=old.table,
                src=prefix,
                iifname=old.interface,
            )
        for prefix in old.prefixes:
            if prefix not in new.prefixes:
                self.k.del_route(prefix, self.own.route_table)

    def _remove(self, served: Served, prefixes: Iterable[Prefix]) -> None:
        """Best effort: one refused deletion does not keep the others in place."""
        errors: list[NetlinkError] = []
        for prefix in prefixes:
            try:
                self.k.del_rule(
                    priority=self.own.mn_rule_priority,
                    table=served.table,
                    src=prefix,
                    iifname=served.interface,
                )
            except NetlinkError as exc:
                errors.append(exc)
            try:
                self.k.del_route(prefix, self.own.route_table)
            except NetlinkError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _index(self, name: str) -> int:
        index = self._ifindex.get(name)
        if index is None:
            index = self._ifindex[name] = self.k.link_index(name)
            if name not in self.access_interfaces:
                self.log.warning("%s is not a configured access interface", name)
        return index

    def _peer_added(self, peer: Peer) -> None:
        self.k.replace_route(
            ZERO_PREFIX, self.own.peer_table(peer.slot), nh_id=self.own.nh_id(peer.slot)
        )

    def _peer_removing(self, peer: Peer) -> None:
        # The default route would go with the nexthop anyway; deleting it first
        # keeps the table empty even if the nexthop removal were refused.
        self.k.del_route(ZERO_PREFIX, self.own.peer_table(peer.slot))

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.backend.name if self.backend else None,
            "mode": self.mode,
            "served": len(self.served),
            "tunnels": self.peer_rows(),
            "counters": self.all_counters(),
        }
