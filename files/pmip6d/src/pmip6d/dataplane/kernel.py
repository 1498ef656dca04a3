"""What the data plane owns in the kernel, and the netlink operations on it.

Everything we install carries a mark, so that :meth:`Kernel.remove_owned`
finds it again after a crash without any state file:

=================  =========================================================
routes             ``rtm_protocol`` = ``Ownership.protocol`` (default 213)
nexthop objects    ``nh_protocol`` = the same number
rules              ``FRA_PROTOCOL`` = the same number
ip6tnl devices     kind ``ip6tnl`` and name ``Ownership.ifname_prefix`` + slot
seg6 tunnel source the namespace-wide ``tunsrc`` equal to our local address
tc filters (ebpf)  cls_bpf on a clsact ingress, named ``Ownership.filter_name()``;
                   a name ending in ``+clsact`` says we created the qdisc too
=================  =========================================================

BPF programs and maps need no mark: the kernel frees them with the last
nexthop or filter that uses them.

Rule priorities and table numbers are also dedicated (see :class:`Ownership`)
but cleanup does not rely on them: the protocol mark is exact.
"""

from __future__ import annotations

import errno
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import PmipError
from ..wire.prefix import Prefix
from . import rtnl, tc
from .channel import Channel
from .rtnl import LinkInfo, NetlinkError

log = logging.getLogger("pmip6d.dataplane")


class DataplaneError(PmipError):
    """The data plane cannot start or is misconfigured (missing interface, bad settings)."""


@dataclass(frozen=True, slots=True)
class Ownership:
    """Identifiers that mark kernel state as ours. Two agents in one namespace need two."""

    protocol: int = 213
    """Route/nexthop/rule protocol number (RFC 5213); /etc/iproute2/rt_protos has 0-192 taken."""
    decap_rule_priority: int = 50
    """seg6: ``to <local address> ipproto 41 lookup <decap_table>``; must come before local."""
    local_rule_priority: int = 100
    """seg6: where the ``lookup local`` rule moves from priority 0."""
    mn_rule_priority: int = 1000
    """MAG: ``from <HNP> iif <access> lookup <LMA table>``; after local, before main (32766)."""
    decap_table: int = 5213
    """seg6: holds the End.DT6 route for the local address."""
    peer_table_base: int = 5300
    """MAG: the tunnel default route toward LMA slot s lives in table base + s."""
    nh_id_base: int = 52130000
    """Nexthop object of peer slot s has id base + s."""
    ifname_prefix: str = "pmip6t"
    """ip6tnl devices are named prefix + slot."""
    route_table: int = rtnl.RT_TABLE_MAIN
    """LMA: table of the HNP routes. MAG: table of on-link HNP routes and of the End.DT6
    lookup after decapsulation."""
    filter_priority: int = 5213
    """ebpf: tc priority of the decapsulation filter on the core interface's clsact ingress."""
    max_peers: int = 4096

    def filter_name(self, created_clsact: bool = False) -> str:
        """The cls_bpf name that marks our decapsulation filter (and whether we made the qdisc)."""
        return f"pmip6d-decap-p{self.protocol}" + ("+clsact" if created_clsact else "")

    def is_our_filter(self, info: tc.FilterInfo) -> bool:
        return (
            info.kind == "bpf"
            and info.priority == self.filter_priority
            and info.name is not None
            and info.name.split("+")[0] == self.filter_name()
        )

    def check(self) -> None:
        problems = []
        if not 5 <= self.protocol <= 255:
            problems.append(f"protocol {self.protocol} must be 5..255 (0-4 belong to the kernel)")
        if not self.decap_rule_priority < self.local_rule_priority < self.mn_rule_priority:
            problems.append("rule priorities must satisfy decap < local < mn")
        if self.mn_rule_priority >= 32766:
            problems.append("mn_rule_priority must be below the main table rule (32766)")
        reserved = {0, 253, 254, 255}
        if self.decap_table in reserved:
            problems.append(f"decap_table {self.decap_table} is a reserved table")
        peer_tables = range(self.peer_table_base, self.peer_table_base + self.max_peers)
        if reserved & set(peer_tables) or self.decap_table in peer_tables:
            problems.append("peer tables overlap a reserved table or the decap table")
        if len(self.ifname_prefix) + len(str(self.max_peers - 1)) > 15:
            problems.append(f"ifname_prefix {self.ifname_prefix!r} is too long for IFNAMSIZ")
        if self.nh_id_base < 1 or self.nh_id_base + self.max_peers > 0xFFFFFFFF:
            problems.append("nh_id_base out of range")
        if not 1 <= self.filter_priority <= 0xFFFE:
            problems.append("filter_priority must be 1..65534")
        if problems:
            raise DataplaneError("; ".join(problems))

    def nh_id(self, slot: int) -> int:
        return self.nh_id_base + slot

    def peer_table(self, slot: int) -> int:
        return self.peer_table_base + slot

    def ifname(self, slot: int) -> str:
        return f"{self.ifname_prefix}{slot}"


HOST = 128


def host_prefix(address: str) -> Prefix:
    return Prefix(rtnl.packed(address), HOST)


class Kernel:
    """Netlink operations of the data plane on one channel (one namespace)."""

    def __init__(self, channel: Channel, own: Ownership) -> None:
        self.ch = channel
        self.own = own

    # ------------------------------------------------------------------ links

    def links(self) -> list[LinkInfo]:
        return [rtnl.parse_link(b) for h, b in self.ch.dump(rtnl.link_dump_request())]

    def link(self, name: str) -> LinkInfo | None:
        try:
            replies = self.ch.query(rtnl.link_get_request(name))
        except NetlinkError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        for header, body in replies:
            if header.kind == rtnl.RTM_NEWLINK:
                return rtnl.parse_link(body)
        return None

    def link_index(self, name: str) -> int:
        info = self.link(name)
        if info is None:
            raise DataplaneError(f"interface {name!r} does not exist")
        return info.index

    def forwarding(self) -> bool | None:
        """net.ipv6.conf.all.forwarding, read over netlink (None if the kernel won't say)."""
        try:
            for header, body in self.ch.query(rtnl.netconf_request()):
                if header.kind == rtnl.RTM_NEWNETCONF:
                    value = rtnl.parse_netconf_forwarding(body)
                    return None if value is None else bool(value)
        except NetlinkError:
            return None
        return None

    # ------------------------------------------------------------------ rules

    def add_rule(
        self, *, priority: int, table: int, protocol: int | None = None, **kw: Any
    ) -> None:
        """Add a rule of ours; an identical existing one is fine (EEXIST)."""
        protocol = self.own.protocol if protocol is None else protocol
        message = rtnl.rule_message(
            rtnl.RTM_NEWRULE, priority=priority, table=table, protocol=protocol, **kw
        )
        try:
            self.ch.request(message, "add rule")
        except NetlinkError as exc:
            if exc.errno != errno.EEXIST:
                raise

    def del_rule(
        self, *, priority: int, table: int, protocol: int | None = None, **kw: Any
    ) -> bool:
        """Delete a rule of ours; False if it was not there."""
        protocol = self.own.protocol if protocol is None else protocol
        message = rtnl.rule_message(
            rtnl.RTM_DELRULE, priority=priority, table=table, protocol=protocol, **kw
        )
        try:
            self.ch.request(message, "delete rule")
        except NetlinkError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return False
            raise
        return True

    def rules(self) -> list[rtnl.RuleInfo]:
        return [rtnl.parse_rule(b) for h, b in self.ch.dump(rtnl.rule_dump_request())]

    def move_local_rule(self) -> None:
        """``lookup local`` from priority 0 to ``local_rule_priority``, without a gap.

        Needed by the seg6 decapsulation rule: rules of equal priority are tried
        in insertion order, so nothing can go *before* the kernel's local rule
        at priority 0. The new rule is added first, so local delivery never
        stops; it carries our protocol so cleanup recognizes it.
        """
        self.add_rule(priority=self.own.local_rule_priority, table=rtnl.RT_TABLE_LOCAL)
        try:
            self.ch.request(
                rtnl.rule_message(
                    rtnl.RTM_DELRULE, priority=0, table=rtnl.RT_TABLE_LOCAL, protocol=0
                ),
                "move local rule",
            )
        except NetlinkError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESRCH):
                raise

    def restore_local_rule(self) -> None:
        """Put ``lookup local`` back at priority 0 (if missing), then drop our moved copy."""
        if not any(r.priority == 0 and r.table == rtnl.RT_TABLE_LOCAL for r in self.rules()):
            self.ch.request(
                rtnl.rule_message(
                    rtnl.RTM_NEWRULE,
                    priority=0,
                    table=rtnl.RT_TABLE_LOCAL,
                    protocol=rtnl.RTPROT_KERNEL,
                ),
                "restore local rule",
            )
        self.del_rule(priority=self.own.local_rule_priority, table=rtnl.RT_TABLE_LOCAL)

    # ------------------------------------------------------------------ routes

    def replace_route(self, dst: Prefix, table: int, **kw: Any) -> None:
        self.ch.request(
            rtnl.route_message(
                rtnl.RTM_NEWROUTE,
                dst,
                table=table,
                protocol=self.own.protocol,
                **kw,
            ),
            f"route {dst} table {table}",
        )

    def del_route(self, dst: Prefix, table: int, **kw: Any) -> bool:
        try:
            self.ch.request(
                rtnl.route_message(
                    rtnl.RTM_DELROUTE,
                    dst,
                    table=table,
                    protocol=self.own.protocol,
                    **kw,
                ),
                f"delete route {dst} table {table}",
            )
        except NetlinkError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                return False
            raise
        return True

    def routes(self) -> list[rtnl.RouteInfo]:
        return [
            rtnl.parse_route(b)
            for h, b in self.ch.dump(rtnl.route_dump_request())
            if h.kind == rtnl.RTM_NEWROUTE
        ]

    # ------------------------------------------------------------------ nexthops

    def add_nexthop(self, nh_id: int, **kw: Any) -> None:
        self.ch.request(
            rtnl.nexthop_message(
                rtnl.RTM_NEWNEXTHOP,
                nh_id,
                protocol=self.own.protocol,
                **kw,
            ),
            f"add nexthop {nh_id}",
        )

    def del_nexthop(self, nh_id: int) -> bool:
        try:
            self.ch.request(
                rtnl.nexthop_message(rtnl.RTM_DELNEXTHOP, nh_id, protocol=self.own.protocol),
                f"delete nexthop {nh_id}",
            )
        except NetlinkError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return False
            raise
        return True

    def nexthops(self) -> list[rtnl.NexthopInfo]:
        try:
            return [rtnl.parse_nexthop(b) for h, b in self.ch.dump(rtnl.nexthop_dump_request())]
        except NetlinkError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # kernel without nexthop objects
                return []
            raise

    # ------------------------------------------------------------------ tc (ebpf backend)

    def qdiscs(self) -> list[tc.QdiscInfo]:
        return [tc.parse_qdisc(b) for h, b in self.ch.dump(tc.qdisc_dump_request())]

    def add_clsact(self, ifindex: int) -> bool:
        """Give ``ifindex`` a clsact qdisc; False if it had one already (someone else's)."""
        try:
            self.ch.request(tc.clsact_message(tc.RTM_NEWQDISC, ifindex), "add clsact qdisc")
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def filters(self, ifindex: int, parent: int = tc.INGRESS) -> list[tc.FilterInfo]:
        try:
            return [
                tc.parse_filter(b)
                for h, b in self.ch.dump(tc.filter_dump_request(ifindex, parent))
                if h.kind == tc.RTM_NEWTFILTER
            ]
        except NetlinkError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT, errno.ENODEV):  # no such qdisc/link
                return []
            raise

    def add_bpf_filter(self, ifindex: int, prog_fd: int, name: str, priority: int) -> None:
        self.ch.request(
            tc.bpf_filter_message(ifindex, priority, prog_fd, name),
            f"attach {name} to the ingress of interface {ifindex}",
        )

    def del_filter(self, ifindex: int, priority: int) -> bool:
        err = self.ch.try_request(
            tc.filter_del_message(ifindex, priority),
            f"delete tc filter {priority} of interface {ifindex}",
            ok=(errno.ENOENT, errno.EINVAL, errno.ENODEV),
        )
        return err == 0

    def del_clsact(self, ifindex: int) -> bool:
        err = self.ch.try_request(
            tc.clsact_message(tc.RTM_DELQDISC, ifindex),
            f"delete clsact qdisc of interface {ifindex}",
            ok=(errno.ENOENT, errno.EINVAL, errno.ENODEV),
        )
        return err == 0

    def _remove_our_filters(self, removed: Counter[str]) -> None:
        """Our decapsulation filters, and the clsact qdiscs we created for them if now empty."""
        for qdisc in self.qdiscs():
            if qdisc.kind != "clsact":
                continue
            for info in self.filters(qdisc.ifindex):
                if not self.own.is_our_filter(info):
                    continue
                if self.del_filter(qdisc.ifindex, info.priority):
                    removed["tc filters"] += 1
                if info.name is not None and info.name.endswith("+clsact"):
                    others = self.filters(qdisc.ifindex) + self.filters(qdisc.ifindex, tc.EGRESS)
                    if not others and self.del_clsact(qdisc.ifindex):
                        removed["qdiscs"] += 1

    # ------------------------------------------------------------------ ownership

    def owned(self) -> dict[str, list]:
        """Everything of ours that is in the kernel now (for tests and ``status``)."""
        p = self.own.protocol
        return {
            "routes": [r for r in self.routes() if r.protocol == p],
            "rules": [r for r in self.rules() if r.protocol == p],
            "nexthops": [n for n in self.nexthops() if n.protocol == p],
            "links": [link for link in self.links() if self._is_our_link(link)],
            "filters": [
                f
                for q in self.qdiscs()
                if q.kind == "clsact"
                for f in self.filters(q.ifindex)
                if self.own.is_our_filter(f)
            ],
        }

    def _is_our_link(self, link: LinkInfo) -> bool:
        return link.kind == "ip6tnl" and link.name.startswith(self.own.ifname_prefix)

    def remove_owned(self) -> Counter[str]:
        """Remove every route, rule, nexthop, tunnel device and tc filter of ours; restore local.

        Order matters for speed: deleting a nexthop object makes the kernel drop
        every route using it in one go, so 100,000 leftover HNP routes cost one
        message per MAG, not one per route.
        """
        removed: Counter[str] = Counter()
        p = self.own.protocol
        for nh in self.nexthops():
            if nh.protocol == p and self.del_nexthop(nh.nh_id):
                removed["nexthops"] += 1
        leftovers = [r for r in self.routes() if r.protocol == p]
        removed["routes"] += self._delete_routes(leftovers)
        rules = [r for r in self.rules() if r.protocol == p]
        if any(r.table == rtnl.RT_TABLE_LOCAL for r in rules):
            self.restore_local_rule()
            removed["rules"] += 1
        for r in rules:
            if r.table == rtnl.RT_TABLE_LOCAL:
                continue
            if self.del_rule(
                priority=r.priority,
                table=r.table,
                src=r.src,
                dst=r.dst,
                iifname=r.iifname,
                ip_proto=r.ip_proto,
            ):
                removed["rules"] += 1
        for link in self.links():
            if self._is_our_link(link):
                err = self.ch.try_request(rtnl.link_del_message(link.index), f"delete {link.name}")
                if not err:
                    removed["links"] += 1
        self._remove_our_filters(removed)
        return +removed  # drop the zero counts

    def _delete_routes(self, routes: Iterable[rtnl.RouteInfo]) -> int:
        """Delete many routes in batched sends; the count that went."""
        messages = [
            rtnl.route_message(rtnl.RTM_DELROUTE, r.dst, table=r.table, protocol=r.protocol)
            for r in routes
        ]
        done = 0
        for start in range(0, len(messages), 512):
            chunk = messages[start : start + 512]
            first = self.ch.next_seq(len(chunk))
            buf = bytearray(b"".join(chunk))
            offset = 0
            for i, msg in enumerate(chunk):
                rtnl.set_seq(buf, first + i, offset)
                offset += len(msg)
            result = self.ch.send_batch(buf, first, len(chunk))
            done += result.acked
        return done
