"""LMA and MAG data planes and both backends against a small simulated kernel (no root).

``FakeChannel`` speaks the same bytes as the real :class:`Channel`: it parses
every request with :mod:`pmip6d.dataplane.rtnl`, keeps routes, nexthops, rules
and links like the kernel would (deleting a nexthop takes its routes along,
``NLM_F_EXCL`` refuses duplicates, a route to a missing nexthop is refused with
EINVAL) and answers dumps with what it stored. What it cannot show — that the
real kernel agrees — the namespace tests show.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections import Counter

import pytest

from pmip6d.actions import MobileNodeBinding, RouteToMag, ServeMobileNode, StopServing, Unroute
from pmip6d.dataplane import (
    DataplaneError,
    Ip6tnlBackend,
    LmaDataplane,
    MagDataplane,
    Ownership,
    Seg6Backend,
    make_backend,
    rtnl,
    tc,
)
from pmip6d.dataplane.channel import BatchResult
from pmip6d.dataplane.kernel import Kernel
from pmip6d.dataplane.probe import UnsupportedKernel
from pmip6d.dataplane.rtnl import Header, NetlinkError
from pmip6d.wire.prefix import ZERO_PREFIX, Prefix

LMAA = "2001:db8:c::1"
MAG1, MAG2 = "2001:db8:c::11", "2001:db8:c::12"
OWN = Ownership()
NH1, NH2 = OWN.nh_id(0), OWN.nh_id(1)


def hnp(i: int) -> Prefix:
    return Prefix(bytes([0x20, 0x01, 0x0D, 0xB8, 0x01, 0x00]) + i.to_bytes(2, "big") + bytes(8), 64)


class FakeChannel:
    """A route-netlink peer that behaves enough like the kernel for the data-plane logic."""

    netns = None

    def __init__(
        self, ip6tnl: bool = False, fallback_device: bool = True, seg6: bool = True
    ) -> None:
        self._seq = 0
        self.requests: list[tuple[int, bytes]] = []  # (message type, body) in order
        self.routes: dict[tuple[int, Prefix], bytes] = {}
        self.nexthops: dict[int, bytes] = {}
        self.rules: list[bytes] = [
            rtnl.rule_message(rtnl.RTM_NEWRULE, priority=p, table=t, protocol=2)[16:]
            for p, t in ((0, 255), (32766, 254))
        ]
        self.links: dict[int, tuple[str, str | None, int]] = {
            1: ("lo", None, 1),
            2: ("core0", "veth", 1),
            3: ("acc0", "bridge", 1),
            4: ("acc1", "bridge", 1),
        }
        self.ip6tnl = ip6tnl
        self.encaps = {rtnl.LWTUNNEL_ENCAP_SEG6, rtnl.LWTUNNEL_ENCAP_SEG6_LOCAL} if seg6 else set()
        if ip6tnl and fallback_device:
            self.links[5] = ("ip6tnl0", "ip6tnl", 0)
        self.refuse: dict[Prefix, int] = {}
        self.sends = 0
        self.closed = False

    # ---------------------------------------------------------------- channel API

    def next_seq(self, count: int = 1) -> int:
        first = self._seq + 1
        self._seq += count
        return first

    def close(self) -> None:
        self.closed = True

    def request(self, msg: bytes, what: str = "") -> None:
        for header, body in rtnl.iter_messages(msg):
            err = self._apply(header, bytes(body))
            if err:
                raise NetlinkError(err, "", what)

    def try_request(self, msg: bytes, what: str = "", ok=()) -> int:
        try:
            self.request(msg, what)
        except NetlinkError as exc:
            return exc.errno
        return 0

    def query(self, msg: bytes):
        header, body = next(rtnl.iter_messages(msg))
        if header.kind == rtnl.RTM_GETLINK:
            name = rtnl.parse_link(body).name
            for index, (n, _kind, _flags) in self.links.items():
                if n == name:
                    return [(self._header(rtnl.RTM_NEWLINK), self._link_body(index))]
            raise NetlinkError(errno.ENODEV)
        if header.kind == rtnl.RTM_GETNETCONF:
            body = struct.pack("=Bxxx", socket.AF_INET6) + rtnl.attr(
                rtnl.NETCONFA_FORWARDING, struct.pack("=i", 1)
            )
            return [(self._header(rtnl.RTM_NEWNETCONF), memoryview(body))]
        raise AssertionError(f"unexpected query {header.kind}")

    def dump(self, msg: bytes):
        header, _unused = next(rtnl.iter_messages(msg))
        kind = header.kind
        if kind == rtnl.RTM_GETROUTE:
            bodies = list(self.routes.values())
        elif kind == rtnl.RTM_GETRULE:
            bodies = list(self.rules)
        elif kind == rtnl.RTM_GETNEXTHOP:
            bodies = list(self.nexthops.values())
        elif kind == rtnl.RTM_GETLINK:
            return [(self._header(rtnl.RTM_NEWLINK), self._link_body(i)) for i in self.links]
        elif kind == tc.RTM_GETQDISC:
            bodies = []  # no qdisc of interest: the ebpf backend runs in the namespace tests
        else:
            raise AssertionError(f"unexpected dump {kind}")
        return [(self._header(kind - 2), memoryview(b)) for b in bodies]

    def send_batch(self, buf, first_seq, count, expect_acks=True) -> BatchResult:
        self.sends += 1
        result = BatchResult(sent=count)
        n = 0
        for header, body in rtnl.iter_messages(bytes(buf)):
            n += 1
            assert first_seq <= header.seq < first_seq + count
            assert bool(header.flags & rtnl.NLM_F_ACK) == expect_acks
            err = self._apply(header, bytes(body))
            if err:
                result.failed.append((header.seq, err, "refused"))
            else:
                result.acked += 1
        assert n == count
        return result

    # ---------------------------------------------------------------- kernel model

    def _header(self, kind: int) -> Header:
        return Header(0, kind, 0, 0, 0)

    def _link_body(self, index: int) -> memoryview:
        name, kind, flags = self.links[index]
        body = struct.pack("=BxHiII", 0, 0, index, flags, 0) + rtnl.attr_str(rtnl.IFLA_IFNAME, name)
        if kind:
            body += rtnl.nested(rtnl.IFLA_LINKINFO, rtnl.attr_str(rtnl.IFLA_INFO_KIND, kind))
        return memoryview(body)

    def _apply(self, header: Header, body: bytes) -> int:
        self.requests.append((header.kind, body))
        kind = header.kind
        if kind == rtnl.RTM_NEWROUTE:
            r = rtnl.parse_route(body)
            if r.encap_type is not None and r.encap_type not in self.encaps:
                return errno.EOPNOTSUPP  # "lwt encapsulation type not supported"
            if r.dst in self.refuse:
                return self.refuse[r.dst]
            if r.nh_id is not None and r.nh_id not in self.nexthops:
                return errno.EINVAL
            key = (r.table, r.dst)
            if key in self.routes and not header.flags & rtnl.NLM_F_REPLACE:
                return errno.EEXIST
            self.routes[key] = body
            return 0
        if kind == rtnl.RTM_DELROUTE:
            r = rtnl.parse_route(body)
            have = self.routes.get((r.table, r.dst))
            if have is None:
                return errno.ESRCH
            h = rtnl.parse_route(have)
            if r.nh_id is not None and h.nh_id != r.nh_id:
                return errno.ESRCH
            if r.protocol and h.protocol != r.protocol:
                return errno.ESRCH
            del self.routes[(r.table, r.dst)]
            return 0
        if kind == rtnl.RTM_NEWNEXTHOP:
            nh = rtnl.parse_nexthop(body)
            if nh.nh_id in self.nexthops:
                return errno.EEXIST
            if nh.encap_type is not None and nh.encap_type not in self.encaps:
                return errno.EOPNOTSUPP
            blackhole = rtnl.NHA_BLACKHOLE in rtnl.parse_attrs(body, 8)
            if nh.oif not in self.links and not blackhole:
                return errno.ENODEV
            self.nexthops[nh.nh_id] = body
            return 0
        if kind == rtnl.RTM_DELNEXTHOP:
            assert body[:8] == bytes(8), "the kernel refuses a delete with header fields set"
            nh_id = rtnl.parse_nexthop(body).nh_id
            if self.nexthops.pop(nh_id, None) is None:
                return errno.ENOENT
            for key, route in list(self.routes.items()):
                if rtnl.parse_route(route).nh_id == nh_id:
                    del self.routes[key]
            return 0
        if kind == rtnl.RTM_NEWRULE:
            new = rtnl.parse_rule(body)
            if any(rtnl.parse_rule(r) == new for r in self.rules):
                return errno.EEXIST
            self.rules.append(body)
            return 0
        if kind == rtnl.RTM_DELRULE:
            want = rtnl.parse_rule(body)
            for i, have_body in enumerate(self.rules):
                have = rtnl.parse_rule(have_body)
                if (
                    have.priority == want.priority
                    and have.table == want.table
                    and (not want.protocol or have.protocol == want.protocol)
                    and (want.src is None or have.src == want.src)
                    and (want.dst is None or have.dst == want.dst)
                    and (want.iifname is None or have.iifname == want.iifname)
                    and (want.ip_proto is None or have.ip_proto == want.ip_proto)
                ):
                    del self.rules[i]
                    return 0
            return errno.ENOENT
        if kind == rtnl.RTM_NEWLINK:
            link = rtnl.parse_link(body)
            if link.kind == "ip6tnl" and not self.ip6tnl:
                return errno.EOPNOTSUPP
            if any(n == link.name for n, _unused, _unused in self.links.values()):
                return errno.EEXIST
            self.links[max(self.links) + 1] = (link.name, link.kind, link.flags)
            return 0
        if kind == rtnl.RTM_DELLINK:
            index = struct.unpack_from("=i", body, 4)[0]
            if self.links.pop(index, None) is None:
                return errno.ENODEV
            for nh_id, nh in list(self.nexthops.items()):
                if rtnl.parse_nexthop(nh).oif == index:
                    self._apply(self._header(rtnl.RTM_DELNEXTHOP), rtnl.nexthop_message(
                        rtnl.RTM_DELNEXTHOP, nh_id, protocol=0)[16:])  # fmt: skip
            return 0
        if kind in (tc.RTM_NEWQDISC, tc.RTM_NEWTFILTER):
            return errno.EOPNOTSUPP  # this kernel model has no tc: ebpf runs in namespaces
        raise AssertionError(f"unexpected request {kind}")

    # ---------------------------------------------------------------- views

    def route_to(self, prefix: Prefix, table: int = 254) -> int | None:
        body = self.routes.get((table, prefix))
        return None if body is None else rtnl.parse_route(body).nh_id

    def rule_list(self) -> list[rtnl.RuleInfo]:
        return [rtnl.parse_rule(b) for b in self.rules]

    def kinds(self) -> Counter[int]:
        return Counter(k for k, _unused in self.requests)

    def owned(self) -> dict[str, int]:
        return {
            "routes": sum(rtnl.parse_route(b).protocol == 213 for b in self.routes.values()),
            "rules": sum(r.protocol == 213 for r in self.rule_list()),
            "nexthops": len(self.nexthops),
            "links": sum(n.startswith("pmip6t") for n, _unused, _unused in self.links.values()),
        }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lma(fake: FakeChannel, clock: Clock, **kw) -> LmaDataplane:
    kw.setdefault("backend", Seg6Backend(set_tunnel_source=False))
    dp = LmaDataplane(local_address=LMAA, core_interface="core0", channel=fake, clock=clock, **kw)
    dp.start()
    return dp


def mag(fake: FakeChannel, clock: Clock, **kw) -> MagDataplane:
    kw.setdefault("backend", Seg6Backend(set_tunnel_source=False))
    kw.setdefault("access_interfaces", ["acc0", "acc1"])
    dp = MagDataplane(local_address=MAG1, core_interface="core0", channel=fake, clock=clock, **kw)
    dp.start()
    return dp


# =========================================================================== LMA


def test_seg6_start_moves_local_rule_and_decapsulates_only_from_peers(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="dynamic", linger=0)
    rules = {(r.priority, r.table, r.protocol, r.ip_proto) for r in fake.rule_list()}
    assert (0, 255, 2, None) not in rules, "local left priority 0"
    assert (100, 255, 213, None) in rules
    assert not any(r.priority == 50 for r in fake.rule_list()), "no peer yet, nobody decapsulated"
    decap = rtnl.parse_route(fake.routes[(5213, Prefix(rtnl.packed(LMAA), 128))])
    assert decap.encap_type == rtnl.LWTUNNEL_ENCAP_SEG6_LOCAL
    assert decap.oif == 2

    def decap_rules() -> set[tuple]:
        return {
            (str(r.src), str(r.dst), r.ip_proto, r.table, r.protocol)
            for r in fake.rule_list()
            if r.priority == 50
        }

    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp(RouteToMag(b"mn2", (hnp(2),), MAG2))
    dp.flush()
    assert decap_rules() == {
        (f"{MAG1}/128", f"{LMAA}/128", 41, 5213, 213),
        (f"{MAG2}/128", f"{LMAA}/128", 41, 5213, 213),
    }, "protocol 41 from each peer, and only from peers"
    dp(Unroute(b"mn2", (hnp(2),), MAG2))
    dp.flush()
    clock.now += 1
    dp.flush()
    assert decap_rules() == {(f"{MAG1}/128", f"{LMAA}/128", 41, 5213, 213)}, "gone with the tunnel"


def test_handover_is_one_replace_per_prefix(clock):
    fake = FakeChannel()
    dp = lma(fake, clock)
    dp(RouteToMag(b"mn", (hnp(1), hnp(2)), MAG1))
    dp.flush()
    before = len(fake.requests)
    dp(RouteToMag(b"mn", (hnp(1), hnp(2)), MAG2, MAG1))
    dp.flush()
    new = fake.requests[before:]
    kinds = [k for k, _unused in new]
    assert kinds == [rtnl.RTM_NEWNEXTHOP, rtnl.RTM_NEWRULE, rtnl.RTM_NEWROUTE, rtnl.RTM_NEWROUTE]
    assert rtnl.RTM_DELROUTE not in kinds, "never a moment without a route"
    assert fake.route_to(hnp(1)) == fake.route_to(hnp(2)) == NH2


def test_actions_on_one_prefix_within_a_batch_collapse(clock):
    fake = FakeChannel()
    dp = lma(fake, clock)
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp(RouteToMag(b"mn", (hnp(1),), MAG2, MAG1))
    dp(Unroute(b"mn", (hnp(1),), MAG2))
    before = len(fake.requests)
    assert dp.flush().messages == 0
    assert [k for k, _unused in fake.requests[before:]] == []


def test_unroute_of_a_moved_prefix_is_ignored(clock):
    fake = FakeChannel()
    dp = lma(fake, clock)
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp(RouteToMag(b"mn", (hnp(1),), MAG2, MAG1))
    dp.flush()
    dp(Unroute(b"mn", (hnp(1),), MAG1))
    assert dp.flush().messages == 0
    assert dp.counters["unroute_stale"] == 1
    assert fake.route_to(hnp(1)) == NH2


def test_unroute_deletes_the_route(clock):
    fake = FakeChannel()
    dp = lma(fake, clock)
    dp(RouteToMag(b"mn", (hnp(1), hnp(2)), MAG1))
    dp.flush()
    dp(Unroute(b"mn", (hnp(1),), MAG1))
    stats = dp.flush()
    assert (stats.deleted, stats.replaced) == (1, 0)
    assert fake.route_to(hnp(1)) is None
    assert fake.route_to(hnp(2)) == NH1


def test_refused_routes_are_matched_to_their_prefix_and_retried(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, batch_bytes=2048, retry_after=5)
    bad = {hnp(7): errno.EINVAL, hnp(900): errno.ENOMEM}
    fake.refuse.update(bad)
    for i in range(1000):
        dp(RouteToMag(b"mn", (hnp(i),), MAG1))
    stats = dp.flush()
    assert (stats.failed, stats.replaced) == (2, 998)
    assert set(dp.failed) == set(bad)
    assert dp.counters["route_errors"] == 2
    assert dp.counters["route_error.EINVAL"] == dp.counters["route_error.ENOMEM"] == 1
    assert hnp(7) not in dp.installed and hnp(8) in dp.installed
    fake.refuse.clear()
    clock.now += 4
    assert dp.flush().messages == 0, "not before retry_after"
    clock.now += 1
    stats = dp.flush()
    assert (stats.messages, stats.replaced) == (2, 2)
    assert not dp.failed
    assert fake.route_to(hnp(7)) == NH1


def test_many_refusals_are_logged_in_summary(clock, caplog):
    fake = FakeChannel()
    dp = lma(fake, clock)
    for i in range(25):
        fake.refuse[hnp(i)] = errno.EINVAL
        dp(RouteToMag(b"mn", (hnp(i),), MAG1))
    assert dp.flush().failed == 25
    refusals = [r for r in caplog.records if " refused: " in r.getMessage()]
    assert len(refusals) == 10
    assert "15 more refused routes" in caplog.text
    assert "route 2001:db8:100::/64 to 2001:db8:c::11 refused: Invalid argument" in caplog.text


def test_acks_off_still_reports_refusals(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, acks=False)
    fake.refuse[hnp(3)] = errno.EINVAL
    for i in range(10):
        dp(RouteToMag(b"mn", (hnp(i),), MAG1))
    stats = dp.flush()
    assert (stats.replaced, stats.failed) == (9, 1)
    assert set(dp.failed) == {hnp(3)}


def test_dynamic_tunnel_lingers_then_goes(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="dynamic", linger=30)
    assert not fake.nexthops, "dynamic: no tunnel before the first binding"
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    assert set(fake.nexthops) == {NH1}
    dp(Unroute(b"mn", (hnp(1),), MAG1))
    dp.flush()
    assert set(fake.nexthops) == {NH1}, "lingers"
    assert dp.next_deadline() == clock.now + 30
    clock.now += 29
    dp.flush()
    assert set(fake.nexthops) == {NH1}
    clock.now += 1
    assert dp.expire() is None
    assert not fake.nexthops
    assert dp.counters["tunnels_removed"] == 1
    assert not dp.peers.peers


def test_new_binding_during_linger_keeps_the_tunnel(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="dynamic", linger=30)
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    dp(Unroute(b"mn", (hnp(1),), MAG1))
    dp.flush()
    clock.now += 20
    dp(RouteToMag(b"mn2", (hnp(2),), MAG1))
    dp.flush()
    clock.now += 3600
    dp.flush()
    assert set(fake.nexthops) == {NH1}
    assert fake.kinds()[rtnl.RTM_NEWNEXTHOP] == 1, "never rebuilt"


def test_handover_away_starts_the_old_mags_linger(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="dynamic", linger=10)
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    dp(RouteToMag(b"mn", (hnp(1),), MAG2, MAG1))
    dp.flush()
    clock.now += 10
    dp.flush()
    assert set(fake.nexthops) == {NH2}
    assert fake.route_to(hnp(1)) == NH2


def test_static_tunnels_exist_from_start_and_stay(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="static", peers=[MAG1, MAG2], linger=0)
    assert set(fake.nexthops) == {NH1, NH2}
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    dp(Unroute(b"mn", (hnp(1),), MAG1))
    clock.now += 1e6
    dp.flush()
    assert set(fake.nexthops) == {NH1, NH2}


def test_static_mode_builds_unlisted_mag_on_demand_with_a_warning(clock, caplog):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="static", peers=[MAG1])
    dp(RouteToMag(b"mn", (hnp(1),), MAG2))
    dp.flush()
    assert fake.route_to(hnp(1)) == NH2
    assert dp.counters["unlisted_peer"] == 1
    assert "not among the configured tunnel peers" in caplog.text


def test_taken_nexthop_id_moves_the_peer_to_another_slot(clock):
    fake = FakeChannel()
    foreign = rtnl.nexthop_message(rtnl.RTM_NEWNEXTHOP, NH1, protocol=99, oif=2)
    fake.nexthops[NH1] = foreign[16:]
    dp = lma(fake, clock)
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    assert fake.route_to(hnp(1)) == NH2
    assert fake.nexthops[NH1] == foreign[16:], "someone else's nexthop untouched"


def test_close_removes_everything_and_restores_local(clock):
    fake = FakeChannel()
    dp = lma(fake, clock, mode="static", peers=[MAG1])
    dp(RouteToMag(b"mn", tuple(hnp(i) for i in range(100)), MAG1))
    dp.flush()
    dp.close()
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}
    assert {(r.priority, r.table) for r in fake.rule_list()} == {(0, 255), (32766, 254)}
    assert dp.kernel is None and not dp.installed


def test_start_removes_leftovers_of_a_crashed_run(clock, caplog):
    fake = FakeChannel()
    crashed = lma(fake, clock, mode="static", peers=[MAG1, MAG2])
    crashed(RouteToMag(b"mn", tuple(hnp(i) for i in range(50)), MAG2))
    crashed.flush()
    # no close(): the process died. A new one starts on the same kernel.
    dp = lma(fake, clock, mode="dynamic")
    assert "removed leftovers of a previous run" in caplog.text
    assert fake.owned() == {"routes": 1, "rules": 1, "nexthops": 0, "links": 0}, (
        "only the fresh decap route and the moved local rule (no peer yet)"
    )
    rules = [(r.priority, r.table) for r in fake.rule_list()]
    assert sorted(rules) == [(100, 255), (32766, 254)], "no duplicates, no stale peer rules"
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    assert fake.route_to(hnp(1)) == NH1


def test_actions_that_are_not_ours_are_ignored(clock):
    fake = FakeChannel()
    dp = lma(fake, clock)
    binding = MobileNodeBinding(b"mn", b"\x02" * 6, (hnp(1),), LMAA, None, 60, None)
    dp(ServeMobileNode(binding))
    assert dp.pending() == 0


def test_bad_settings_fail_at_construction():
    with pytest.raises(DataplaneError, match="mode"):
        LmaDataplane("seg6", LMAA, "core0", mode="sometimes")
    with pytest.raises(DataplaneError, match="static"):
        LmaDataplane("seg6", LMAA, "core0", mode="dynamic", peers=[MAG1])
    with pytest.raises(DataplaneError, match="IPv6"):
        LmaDataplane("seg6", "lma.example", "core0")
    with pytest.raises(DataplaneError, match="priorities"):
        LmaDataplane("seg6", LMAA, "core0", ownership=Ownership(local_rule_priority=10))


def test_missing_core_interface_fails_start_without_changes(clock):
    fake = FakeChannel()
    dp = LmaDataplane("seg6", LMAA, "eth9", channel=fake, clock=clock)
    with pytest.raises(DataplaneError, match="eth9"):
        dp.start()
    assert [k for k, _unused in fake.requests] == []


# =========================================================================== MAG


HNP1 = hnp(1)


def binding(prefixes=(HNP1,), interface="acc0", lma_address=LMAA, mac=b"\x02\0\0\0\1\1"):
    return MobileNodeBinding(b"mn1@lab", mac, tuple(prefixes), lma_address, None, 600, interface)


def test_mag_serve_installs_home_link_rule_and_tunnel(clock):
    fake = FakeChannel()
    dp = mag(fake, clock)
    dp(ServeMobileNode(binding()))
    table = OWN.peer_table(0)
    on_link = rtnl.parse_route(fake.routes[(254, hnp(1))])
    assert (on_link.oif, on_link.nh_id, on_link.protocol) == (3, None, 213)
    default = rtnl.parse_route(fake.routes[(table, ZERO_PREFIX)])
    assert default.nh_id == NH1
    nexthop = rtnl.parse_nexthop(fake.nexthops[NH1])
    assert nexthop.encap == rtnl.seg6_encap([LMAA]).body
    mn_rules = [r for r in fake.rule_list() if r.priority == 1000]
    assert [(r.src, r.iifname, r.table) for r in mn_rules] == [(hnp(1), "acc0", table)]
    decap = [r for r in fake.rule_list() if r.priority == 50]
    assert decap[0].dst == Prefix(rtnl.packed(MAG1), 128)


def test_mag_stop_removes_the_mns_state_and_lingers_the_tunnel(clock):
    fake = FakeChannel()
    dp = mag(fake, clock, linger=5)
    dp(ServeMobileNode(binding()))
    dp(StopServing(binding(), "detached"))
    assert (254, hnp(1)) not in fake.routes
    assert not [r for r in fake.rule_list() if r.priority == 1000]
    assert NH1 in fake.nexthops, "lingers"
    clock.now += 5
    dp.flush()
    assert not fake.nexthops
    assert (OWN.peer_table(0), ZERO_PREFIX) not in fake.routes


def test_mag_reserve_with_new_prefixes_and_interface_drops_the_old(clock):
    fake = FakeChannel()
    dp = mag(fake, clock)
    dp(ServeMobileNode(binding((hnp(1), hnp(2)))))
    dp(ServeMobileNode(binding((hnp(2), hnp(3)), interface="acc1")))
    assert (254, hnp(1)) not in fake.routes
    assert rtnl.parse_route(fake.routes[(254, hnp(2))]).oif == 4
    mn_rules = sorted((r.src, r.iifname) for r in fake.rule_list() if r.priority == 1000)
    assert mn_rules == [(hnp(2), "acc1"), (hnp(3), "acc1")]
    assert dp.peers.peers[LMAA].refs == 1, "same MN, one reference"


def test_mag_two_mns_share_one_tunnel_per_lma(clock):
    fake = FakeChannel()
    dp = mag(fake, clock)
    dp(ServeMobileNode(binding((hnp(1),))))
    dp(ServeMobileNode(binding((hnp(2),), mac=b"\x02\0\0\0\2\2")))
    dp(ServeMobileNode(binding((hnp(3),), mac=b"\x02\0\0\0\3\3", lma_address="2001:db8:c::2")))
    assert set(fake.nexthops) == {NH1, NH2}
    tables = {r.src: r.table for r in fake.rule_list() if r.priority == 1000}
    assert tables == {hnp(1): 5300, hnp(2): 5300, hnp(3): 5301}


def test_mag_binding_without_interface_uses_the_first_access_interface(clock):
    fake = FakeChannel()
    dp = mag(fake, clock)
    dp(ServeMobileNode(binding(interface=None)))
    assert rtnl.parse_route(fake.routes[(254, hnp(1))]).oif == 3


def test_mag_stop_of_unknown_mn_is_counted(clock):
    fake = FakeChannel()
    dp = mag(fake, clock)
    dp(StopServing(binding(), "expired"))
    assert dp.counters["stop_unknown"] == 1


def test_mag_refused_route_is_logged_not_raised(clock, caplog):
    fake = FakeChannel()
    dp = mag(fake, clock)
    fake.refuse[hnp(1)] = errno.ENETDOWN
    assert dp.serve(binding()) is False
    assert dp.counters["serve_errors"] == 1
    assert "cannot serve" in caplog.text
    dp(StopServing(binding(), "gone"))  # undoes the partial setup without raising


def test_mag_close_removes_all(clock):
    fake = FakeChannel()
    dp = mag(fake, clock, mode="static", peers=[LMAA])
    dp(ServeMobileNode(binding()))
    dp.close()
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}
    assert {(r.priority, r.table) for r in fake.rule_list()} == {(0, 255), (32766, 254)}


def test_mag_missing_access_interface_fails_start(clock):
    fake = FakeChannel()
    with pytest.raises(DataplaneError, match="wlan7"):
        mag(fake, clock, access_interfaces=["wlan7"])
    assert fake.owned()["rules"] == 0


def test_mag_table_option_moves_the_lma_tables(clock):
    fake = FakeChannel()
    dp = mag(fake, clock, table=7000)
    dp(ServeMobileNode(binding()))
    assert (7000, ZERO_PREFIX) in fake.routes


# =========================================================================== ip6tnl


def test_ip6tnl_backend_requests(clock):
    """What the ip6tnl backend asks of the kernel (it cannot run on the lab kernel)."""
    fake = FakeChannel(ip6tnl=True)
    dp = lma(fake, clock, backend="ip6tnl", mode="dynamic", linger=1)
    assert dp.backend.name == "ip6tnl"
    rules = {(r.priority, r.table) for r in fake.rule_list()}
    assert rules == {(0, 255), (32766, 254)}, "ip6tnl needs no rules"
    dp(RouteToMag(b"mn", (hnp(1),), MAG1))
    dp.flush()
    created = [b for k, b in fake.requests if k == rtnl.RTM_NEWLINK]
    assert len(created) == 1
    link = rtnl.parse_link(created[0])
    assert (link.name, link.kind, link.flags & rtnl.IFF_UP) == ("pmip6t0", "ip6tnl", 1)
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    parsed = ifinfmsg(rtnl.message(rtnl.RTM_NEWLINK, 0, created[0]))
    parsed.decode()
    data = parsed.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_IP6TNL_LOCAL") == LMAA
    assert data.get_attr("IFLA_IP6TNL_REMOTE") == MAG1
    assert data.get_attr("IFLA_IP6TNL_LINK") == 2
    tunnel_index = next(i for i, (n, _unused, _unused) in fake.links.items() if n == "pmip6t0")
    nexthop = rtnl.parse_nexthop(fake.nexthops[NH1])
    assert (nexthop.oif, nexthop.encap) == (tunnel_index, None), "dev <tunnel>, no encap"
    assert fake.route_to(hnp(1)) == NH1
    dp(RouteToMag(b"mn", (hnp(1),), MAG2, MAG1))
    dp.flush()
    assert fake.route_to(hnp(1)) == NH2
    clock.now += 1
    dp.flush()
    assert "pmip6t0" not in {n for n, _unused, _unused in fake.links.values()}, (
        "device gone after linger"
    )
    dp.close()
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}


def test_ip6tnl_backend_on_the_mag_uses_a_table_default_via_the_device(clock):
    fake = FakeChannel(ip6tnl=True)
    dp = mag(fake, clock, backend=Ip6tnlBackend())
    dp(ServeMobileNode(binding()))
    link = rtnl.parse_link(next(b for k, b in fake.requests if k == rtnl.RTM_NEWLINK))
    assert link.name == "pmip6t0"
    assert rtnl.parse_route(fake.routes[(5300, ZERO_PREFIX)]).nh_id == NH1


NEXTHOP_PROBE = [rtnl.RTM_NEWNEXTHOP, rtnl.RTM_DELNEXTHOP]


def test_auto_detect_picks_seg6_without_ip6tnl(clock):
    fake = FakeChannel(ip6tnl=False)
    backend = make_backend("auto", Kernel(fake, OWN), 2)
    assert backend.name == "seg6"
    assert [k for k, _unused in fake.requests] == [
        *NEXTHOP_PROBE,
        rtnl.RTM_NEWLINK,  # the refused ip6tnl probe
        rtnl.RTM_NEWROUTE,  # a seg6 route to the discard prefix, accepted...
        rtnl.RTM_DELROUTE,  # ...and gone again
    ]
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}


def test_auto_detect_sees_the_fallback_device(clock):
    fake = FakeChannel(ip6tnl=True)
    assert make_backend("auto", Kernel(fake, OWN), 2).name == "ip6tnl"
    assert [k for k, _unused in fake.requests] == NEXTHOP_PROBE, "ip6tnl0 is enough, no probe"


def test_auto_detect_probes_when_the_fallback_device_is_hidden(clock):
    fake = FakeChannel(ip6tnl=True, fallback_device=False)
    assert make_backend("auto", Kernel(fake, OWN), 2).name == "ip6tnl"
    assert [k for k, _unused in fake.requests] == [
        *NEXTHOP_PROBE,
        rtnl.RTM_NEWLINK,
        rtnl.RTM_DELLINK,
    ]
    assert "pmip6tprobe" not in {n for n, _unused, _unused in fake.links.values()}


def test_explicit_ip6tnl_on_a_kernel_without_it_fails_at_start(clock):
    fake = FakeChannel(ip6tnl=False)
    with pytest.raises(UnsupportedKernel, match=r"no ip6tnl tunnel devices \(CONFIG_IPV6_TUNNEL\)"):
        lma(fake, clock, backend="ip6tnl")
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}


def test_a_kernel_without_any_backend_is_named_in_one_message(clock):
    fake = FakeChannel(ip6tnl=False, seg6=False)  # nor lwt bpf, nor tc
    with pytest.raises(UnsupportedKernel) as info:
        lma(fake, clock, backend="auto")
    message = str(info.value)
    assert message.startswith("no tunnel backend works on this kernel: ip6tnl: no ip6tnl")
    assert "; seg6: no seg6 lightweight tunnels (CONFIG_IPV6_SEG6_LWTUNNEL)" in message
    # bpf(2) itself is the real one: its verdict depends on who runs the test
    assert "; ebpf: no " in message and "CONFIG_NET_SCH_INGRESS" in message
    assert "\n" not in message, "one line"
    assert fake.owned() == {"routes": 0, "rules": 0, "nexthops": 0, "links": 0}


def test_without_nexthop_objects_nothing_else_is_probed(clock):
    fake = FakeChannel(ip6tnl=True)
    refused = fake._apply

    def no_nexthops(header, body):
        if header.kind == rtnl.RTM_NEWNEXTHOP:
            return errno.EOPNOTSUPP
        return refused(header, body)

    fake._apply = no_nexthops
    with pytest.raises(UnsupportedKernel, match="no nexthop objects"):
        make_backend("auto", Kernel(fake, OWN), 2)
    assert fake.requests == [], "one refused nexthop probe, then nothing"


def test_unknown_backend_name():
    with pytest.raises(DataplaneError, match="unknown tunnel backend"):
        make_backend("gre")
