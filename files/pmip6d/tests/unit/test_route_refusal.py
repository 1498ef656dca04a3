"""A binding whose route the kernel refused: the accepting PBA is withheld, the binding
removed and 130 answered (lma/route_failure.py, daemon/refusals.py)."""

from __future__ import annotations

from conftest import MAG1, MAG2, MN1
from test_lma import pbu, register

from pmip6d.actions import Notice, RouteToMag, Send, Unroute
from pmip6d.daemon.refusals import withhold_unrouted
from pmip6d.wire import HandoffIndicator, Prefix, ProxyBindingAck, Status


def accepted_sends(lma, clock, src=MAG1, **kw) -> list[Send]:
    actions = lma.handle_pbu(src, pbu(clock, **kw))
    return [a for a in actions if isinstance(a, Send)]


def test_withhold_takes_only_accepting_pbas_of_refused_prefixes(lma, clock):
    [mine] = accepted_sends(lma, clock)
    [theirs] = accepted_sends(lma, clock, mn=b"mn2@lab.example", ll=None)
    refused = set(mine.message.home_network_prefixes)
    kept, withheld = withhold_unrouted([mine, theirs], refused)
    assert kept == [theirs] and withheld == [(MAG1, mine.message)]
    assert withhold_unrouted([mine], ()) == ([mine], [])


def test_reject_pbas_and_deregistrations_are_never_withheld():
    prefix = Prefix.parse("2001:db8:100:1::/64")
    reject = Send(
        MAG1,
        ProxyBindingAck(status=130, sequence=1, lifetime_units=0, home_network_prefixes=[prefix]),
    )
    dereg = Send(
        MAG1,
        ProxyBindingAck(status=0, sequence=2, lifetime_units=0, home_network_prefixes=[prefix]),
    )
    assert withhold_unrouted([reject, dereg], {prefix}) == ([reject, dereg], [])


def test_new_binding_with_refused_route_is_removed_and_refused(lma, clock):
    [accept] = accepted_sends(lma, clock)
    prefix = accept.message.home_network_prefixes[0]
    assert lma.pool.owner(prefix) == MN1
    actions = lma.routes_refused([(MAG1, accept.message)])
    [send] = [a for a in actions if isinstance(a, Send)]
    assert send.destination == MAG1
    assert send.message.status == Status.INSUFFICIENT_RESOURCES
    assert send.message.lifetime_units == 0
    assert send.message.sequence == accept.message.sequence  # the MAG matches it
    assert [a for a in actions if isinstance(a, Unroute)] == [Unroute(MN1, (prefix,), MAG1)]
    assert any(isinstance(a, Notice) and a.level == "warning" for a in actions)
    assert len(lma.cache) == 0 and lma.pool.owner(prefix) is None
    assert lma.counters["route_failed"] == 1
    assert lma.counters["rejected.INSUFFICIENT_RESOURCES"] == 1


def test_refused_handover_route_leaves_no_binding_at_either_mag(lma, clock):
    hnp = register(lma, clock, seq=1).home_network_prefixes
    actions = lma.handle_pbu(MAG2, pbu(clock, seq=2, hnps=hnp, hi=HandoffIndicator.SAME_INTERFACE))
    assert any(isinstance(a, RouteToMag) and a.previous == MAG1 for a in actions)
    [accept] = [a for a in actions if isinstance(a, Send) and a.destination == MAG2]
    out = lma.routes_refused([(MAG2, accept.message)])
    assert [a for a in out if isinstance(a, Unroute)] == [Unroute(MN1, tuple(hnp), MAG2)]
    assert len(lma.cache) == 0


def test_removal_is_marked_for_the_durable_store(lma, clock):
    lma.dirty = set()
    [accept] = accepted_sends(lma, clock)
    [bce] = lma.dirty
    lma.dirty.clear()
    lma.routes_refused([(MAG1, accept.message)])
    assert lma.dirty == {bce}
