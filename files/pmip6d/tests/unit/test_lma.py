"""LMA state machine: every RFC 5213 §5 path and every reject status it can answer."""

from __future__ import annotations

import pytest
from conftest import FIXED, LMA, MAC1, MAC2, MAG1, MAG2, MN1, MN2, ROGUE, make_lma

from pmip6d.actions import Notice, RouteToMag, Send, Unroute
from pmip6d.lma import ADMISSION_CHECKS, BceState
from pmip6d.wire import (
    ZERO_PREFIX,
    BindingError,
    BindingRevocationIndication,
    HandoffIndicator,
    Prefix,
    ProxyBindingAck,
    ProxyBindingUpdate,
    Status,
    UnsupportedMessage,
    encode,
)
from pmip6d.wire import timestamp as ts
from pmip6d.wire.constants import BU_FLAG_A, BU_FLAG_P

LL = bytes.fromhex("fe800000000000000000000000000001")
_UNSET = object()


def pbu(
    clock,
    seq=1,
    mn=MN1,
    hnps=(ZERO_PREFIX,),
    hi=HandoffIndicator.NEW_INTERFACE,
    att=4,
    ll=MAC1,
    lla=LL,
    stamp=_UNSET,
    life=150,
    flags=BU_FLAG_A | BU_FLAG_P,
) -> ProxyBindingUpdate:
    return ProxyBindingUpdate(
        sequence=seq,
        lifetime_units=life,
        flags=flags,
        mn_id=mn,
        home_network_prefixes=list(hnps),
        handoff_indicator=hi,
        access_technology_type=att,
        mn_link_layer_id=ll,
        link_local_address=lla,
        timestamp=ts.from_unix(clock.time()) if stamp is _UNSET else stamp,
    )


def sends(actions) -> list[Send]:
    # The BRI a handover sends to the previous MAG is tested in test_lma_revocation.py.
    return [
        a
        for a in actions
        if isinstance(a, Send) and not isinstance(a.message, BindingRevocationIndication)
    ]


def only_pba(actions, to: str | None = None) -> ProxyBindingAck:
    out = sends(actions)
    assert len(out) == 1, actions
    if to is not None:
        assert out[0].destination == to
    assert isinstance(out[0].message, ProxyBindingAck)
    return out[0].message


def register(lma, clock, src=MAG1, **kw) -> ProxyBindingAck:
    pba = only_pba(lma.handle_pbu(src, pbu(clock, **kw)), src)
    assert pba.status == Status.ACCEPTED, Status(pba.status).name
    return pba


# ------------------------------------------------------------------ new mobility session


def test_initial_registration_from_pool(lma, clock):
    request = pbu(clock, seq=7)
    actions = lma.handle_pbu(MAG1, request)
    route = [a for a in actions if isinstance(a, RouteToMag)]
    pba = only_pba(actions, MAG1)
    assert pba.status == Status.ACCEPTED and pba.proxy
    assert pba.sequence == 7 and pba.lifetime_units == 150
    assert len(pba.home_network_prefixes) == 1
    hnp = pba.home_network_prefixes[0]
    assert hnp.length == 64 and hnp in lma.pool
    # §5.3.6: the PBA echoes the MN's options and the timestamp.
    assert pba.mn_id == MN1 and pba.handoff_indicator == 1 and pba.access_technology_type == 4
    assert pba.mn_link_layer_id == MAC1 and pba.link_local_address == LL
    assert pba.timestamp == request.timestamp
    assert route == [RouteToMag(MN1, (hnp,), MAG1, None)]
    [row] = lma.binding_rows()
    assert row["proxy_coa"] == MAG1 and row["hnps"] == [str(hnp)] and row["state"] == "active"


def test_fixed_prefix_from_profile(lma, clock):
    pba = register(lma, clock, mn=b"fixed@lab.example", ll=bytes.fromhex("020000000303"))
    assert pba.home_network_prefixes == [FIXED]
    assert lma.pool.in_use == 0


def test_requested_prefix_in_profile_is_granted(lma, clock):
    pba = register(lma, clock, mn=b"fixed@lab.example", hnps=[FIXED])
    assert pba.home_network_prefixes == [FIXED]


def test_lifetime_is_capped(clock):
    lma = make_lma(clock, max_binding_lifetime=100)
    pba = register(lma, clock, life=1000)
    assert pba.lifetime_units == 25 and pba.lifetime == 100


def test_different_mns_get_different_prefixes(lma, clock):
    a = register(lma, clock).home_network_prefixes
    b = register(lma, clock, mn=MN2, ll=MAC2).home_network_prefixes
    assert a != b


# ------------------------------------------------------------------ refresh and handoff


def test_refresh_from_same_mag_extends_lifetime(lma, clock):
    hnp = register(lma, clock, seq=1).home_network_prefixes
    clock.advance(400)
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, hi=HandoffIndicator.NOT_CHANGED))
    assert not [a for a in actions if isinstance(a, (RouteToMag, Unroute))]
    assert only_pba(actions).home_network_prefixes == hnp
    assert lma.binding_rows()[0]["lifetime_remaining"] == 600
    assert lma.counters["refreshes"] == 1


def test_handoff_by_link_layer_id_keeps_prefix_and_moves_route(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1).home_network_prefixes
    clock.advance(5)
    actions = lma.handle_pbu(MAG2, pbu(clock, seq=900, hi=HandoffIndicator.SAME_INTERFACE))
    assert RouteToMag(MN1, tuple(hnp), MAG2, MAG1) in actions
    pba = only_pba(actions, MAG2)
    assert pba.status == 0 and pba.home_network_prefixes == hnp
    [row] = lma.binding_rows()
    assert row["proxy_coa"] == MAG2 and row["handoffs"] == 1
    assert len(lma.cache) == 1


def test_handoff_with_new_interface_indicator_but_same_link_id(lma, clock):
    # A MAG that cannot tell a handoff from a first attach sends HI=1; the
    # link-layer identifier still finds the session (§5.4.1.2).
    hnp = register(lma, clock, src=MAG1).home_network_prefixes
    clock.advance(1)
    pba = register(lma, clock, src=MAG2, seq=2, hi=HandoffIndicator.NEW_INTERFACE)
    assert pba.home_network_prefixes == hnp


def test_late_deregistration_from_previous_mag_keeps_binding(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1).home_network_prefixes
    clock.advance(1)
    register(lma, clock, src=MAG2, seq=2)
    clock.advance(0.01)
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=3, hnps=hnp, life=0))
    pba = only_pba(actions, MAG1)
    assert pba.status == Status.ACCEPTED and pba.lifetime_units == 0
    assert not [a for a in actions if isinstance(a, (RouteToMag, Unroute))]
    [row] = lma.binding_rows()
    assert row["proxy_coa"] == MAG2 and row["state"] == "active"
    assert lma.counters["deregistrations_from_previous_mag"] == 1
    clock.advance(60)
    assert lma.on_timer() == []
    assert len(lma.cache) == 1


def test_deregistration_then_new_mag_within_min_delay(clock):
    lma = make_lma(clock, min_delay_before_bce_delete_ms=10_000)
    hnp = register(lma, clock, src=MAG1, seq=1).home_network_prefixes
    clock.advance(1)
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, life=0))
    assert Unroute(MN1, tuple(hnp), MAG1) in actions
    assert only_pba(actions).lifetime_units == 0
    assert lma.binding_rows()[0]["state"] == "deregistering"
    clock.advance(2)
    assert lma.on_timer() == []
    actions = lma.handle_pbu(MAG2, pbu(clock, seq=10))
    assert RouteToMag(MN1, tuple(hnp), MAG2, MAG1) in actions
    assert only_pba(actions, MAG2).home_network_prefixes == hnp
    clock.advance(20)
    lma.on_timer()
    assert lma.binding_rows()[0]["state"] == "active"


def test_deregistration_deletes_after_min_delay_and_prefix_is_sticky(clock):
    lma = make_lma(clock, min_delay_before_bce_delete_ms=500)
    hnp = register(lma, clock, seq=1).home_network_prefixes
    register(lma, clock, mn=MN2, ll=MAC2)
    lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, life=0))
    clock.advance(0.4)
    lma.on_timer()
    assert len(lma.cache) == 2
    clock.advance(0.2)
    assert lma.on_timer() == []  # routes went at de-registration; nothing more to undo
    assert len(lma.cache) == 1 and lma.counters["deleted"] == 1
    assert lma.pool.in_use == 1
    clock.advance(30)
    assert register(lma, clock, seq=3).home_network_prefixes == hnp


def test_retransmitted_deregistration_is_acknowledged_again(lma, clock):
    hnp = register(lma, clock, seq=1).home_network_prefixes
    lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, life=0))
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=3, hnps=hnp, life=0))
    assert only_pba(actions).status == 0
    assert not [a for a in actions if isinstance(a, Unroute)]


def test_expiry_removes_binding_and_route(lma, clock):
    hnp = register(lma, clock, life=2).home_network_prefixes
    assert lma.next_deadline() == pytest.approx(clock.monotonic() + 8)
    clock.advance(7.9)
    assert lma.on_timer() == []
    clock.advance(0.2)
    actions = lma.on_timer()
    assert Unroute(MN1, tuple(hnp), MAG1) in actions
    assert any(isinstance(a, Notice) and "expired" in a.text for a in actions)
    assert len(lma.cache) == 0 and lma.pool.in_use == 0
    assert lma.next_deadline() is None


def test_refresh_postpones_expiry(lma, clock):
    hnp = register(lma, clock, life=2, seq=1).home_network_prefixes
    clock.advance(6)
    register(lma, clock, seq=2, life=2, hnps=hnp, hi=HandoffIndicator.NOT_CHANGED)
    clock.advance(6)
    assert lma.on_timer() == []
    assert len(lma.cache) == 1


# ------------------------------------------------------------------ handoff indicator


def test_unknown_handoff_waits_for_deregistration(lma, clock):
    # No link-layer identifier: §5.4.1.3 cannot tell a handoff from a second interface.
    hnp = register(lma, clock, src=MAG1, seq=1, ll=None).home_network_prefixes
    clock.advance(1)
    assert lma.handle_pbu(MAG2, pbu(clock, seq=50, ll=None, hi=HandoffIndicator.UNKNOWN)) == []
    assert lma.counters["waits_for_deregistration"] == 1
    # A retransmission while waiting is absorbed; the newest one is answered.
    assert lma.handle_pbu(MAG2, pbu(clock, seq=51, ll=None, hi=HandoffIndicator.UNKNOWN)) == []
    clock.advance(0.5)
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, ll=None, life=0))
    acks = {s.destination: s.message for s in sends(actions)}
    assert acks[MAG1].lifetime_units == 0
    assert acks[MAG2].status == 0 and acks[MAG2].sequence == 51
    assert acks[MAG2].home_network_prefixes == hnp
    assert RouteToMag(MN1, tuple(hnp), MAG2, MAG1) in actions
    clock.advance(5)
    assert lma.on_timer() == []


def test_unknown_handoff_without_deregistration_creates_new_session(clock):
    lma = make_lma(clock, max_delay_before_new_bce_assign_ms=1500)
    hnp = register(lma, clock, src=MAG1, seq=1, ll=None).home_network_prefixes
    assert lma.handle_pbu(MAG2, pbu(clock, seq=50, ll=None, hi=HandoffIndicator.UNKNOWN)) == []
    assert lma.next_deadline() == pytest.approx(clock.monotonic() + 1.5)
    clock.advance(1.6)
    actions = lma.on_timer()
    pba = only_pba(actions, MAG2)
    assert pba.status == 0 and pba.home_network_prefixes != hnp
    assert len(lma.cache) == 2 and lma.cache.mobile_nodes == 1


def test_unknown_handoff_after_deregistration_is_immediate(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1, ll=None).home_network_prefixes
    lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, ll=None, life=0))
    pba = register(lma, clock, src=MAG2, seq=3, ll=None, hi=HandoffIndicator.UNKNOWN)
    assert pba.home_network_prefixes == hnp


def test_handoff_between_interfaces_moves_session_to_new_interface(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1, ll=MAC1).home_network_prefixes
    new_ll = bytes.fromhex("0200000001ff")
    pba = register(
        lma, clock, src=MAG2, seq=2, ll=new_ll, att=3, hi=HandoffIndicator.DIFFERENT_INTERFACE
    )
    assert pba.home_network_prefixes == hnp
    [row] = lma.binding_rows()
    assert row["mn_link_layer_id"] == new_ll.hex(":") and row["access_technology_type"] == 3
    # The old interface key no longer finds it; the new one does.
    assert lma.cache.by_link(MN1, 4, MAC1) is None
    assert lma.cache.by_link(MN1, 3, new_ll) is not None


def test_new_interface_without_link_id_creates_second_session(lma, clock):
    first = register(lma, clock, src=MAG1, seq=1, ll=None).home_network_prefixes
    second = register(lma, clock, src=MAG2, seq=2, ll=None, hi=HandoffIndicator.NEW_INTERFACE)
    assert second.home_network_prefixes != first
    assert len(lma.cache) == 2


def test_reregistration_indicator_without_prefix_refreshes(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1, ll=None).home_network_prefixes
    pba = register(lma, clock, src=MAG1, seq=2, ll=None, hi=HandoffIndicator.NOT_CHANGED)
    assert pba.home_network_prefixes == hnp and lma.counters["refreshes"] == 1


# ------------------------------------------------------------------ rejects, one per status


def reject_status(lma, clock, src=MAG1, **kw) -> ProxyBindingAck:
    actions = lma.handle_pbu(src, pbu(clock, **kw))
    pba = only_pba(actions, src)
    assert pba.status >= 128
    assert pba.lifetime_units == 0
    assert any(isinstance(a, Notice) for a in actions)
    assert not [a for a in actions if isinstance(a, (RouteToMag, Unroute))]
    return pba


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"flags": BU_FLAG_A}, Status.HOME_REGISTRATION_NOT_SUPPORTED),
        ({"mn": None}, Status.MISSING_MN_IDENTIFIER_OPTION),
        ({"src": ROGUE}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),
        ({"mn": b"only2@lab.example"}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),
        ({"mn": b"stranger@lab.example"}, Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
        ({"mn": b"elsewhere@lab.example"}, Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
        ({"mn": b"off@lab.example"}, Status.PROXY_REG_NOT_ENABLED),
        ({"stamp": None}, Status.TIMESTAMP_MISMATCH),
        ({"hnps": ()}, Status.MISSING_HOME_NETWORK_PREFIX_OPTION),
        ({"hi": None}, Status.MISSING_HANDOFF_INDICATOR_OPTION),
        ({"att": None}, Status.MISSING_ACCESS_TECH_TYPE_OPTION),
        (
            {"hnps": [Prefix.parse("2001:db8:7777::/64")]},
            Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        ),
        ({"hnps": [ZERO_PREFIX], "life": 0}, Status.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE),
    ],
    ids=lambda v: v.name if isinstance(v, Status) else None,
)
def test_admission_rejects(lma, clock, kwargs, status):
    pba = reject_status(lma, clock, **kwargs)
    assert pba.status == status
    assert lma.counters[f"rejected.{status.name}"] == 1
    assert len(lma.cache) == 0


def test_every_admission_status_is_exercised():
    # Keeps the table and the test above in step: a new check needs a new case.
    assert {s for _unused, _unused, s in ADMISSION_CHECKS} <= {
        Status.HOME_REGISTRATION_NOT_SUPPORTED,
        Status.MISSING_MN_IDENTIFIER_OPTION,
        Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
        Status.NOT_LMA_FOR_THIS_MOBILE_NODE,
        Status.PROXY_REG_NOT_ENABLED,
        Status.TIMESTAMP_MISMATCH,
        Status.MISSING_HOME_NETWORK_PREFIX_OPTION,
        Status.MISSING_HANDOFF_INDICATOR_OPTION,
        Status.MISSING_ACCESS_TECH_TYPE_OPTION,
    }


def test_timestamp_outside_window_reports_lma_time(lma, clock):
    stale = ts.from_unix(clock.time() - 0.301)
    pba = reject_status(lma, clock, stamp=stale)
    assert pba.status == Status.TIMESTAMP_MISMATCH
    assert pba.timestamp == ts.from_unix(clock.time())
    fresh = ts.from_unix(clock.time() - 0.29)
    assert only_pba(lma.handle_pbu(MAG1, pbu(clock, stamp=fresh))).status == 0


def test_timestamp_lower_than_previous(lma, clock):
    hnp = register(lma, clock, seq=1).home_network_prefixes
    older = ts.from_unix(clock.time() - 0.1)
    pba = reject_status(lma, clock, seq=2, hnps=hnp, stamp=older, hi=5)
    assert pba.status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    assert pba.timestamp == older  # echoed, so the MAG can match it


def test_prefix_set_mismatch(lma, clock):
    hnp = register(lma, clock).home_network_prefixes
    extra = Prefix.parse("2001:db8:100:ffff::/64")
    pba = reject_status(lma, clock, seq=2, hnps=[*hnp, extra])
    assert pba.status == Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH


def test_prefix_of_another_mobile_node(lma, clock):
    theirs = register(lma, clock, mn=MN2, ll=MAC2).home_network_prefixes
    pba = reject_status(lma, clock, seq=2, hnps=theirs)
    assert pba.status == Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX


def test_pool_exhausted(clock):
    lma = make_lma(clock, pool_size_bits=0)
    register(lma, clock)
    pba = reject_status(lma, clock, mn=MN2, ll=MAC2)
    assert pba.status == Status.INSUFFICIENT_RESOURCES


def test_no_pool_and_no_fixed_prefix(clock):
    lma = make_lma(clock, pool_size_bits=-1)
    assert reject_status(lma, clock).status == Status.INSUFFICIENT_RESOURCES
    assert register(lma, clock, mn=b"fixed@lab.example", ll=None).home_network_prefixes == [FIXED]


def test_pool_prefix_can_be_reclaimed_after_restart(lma, clock):
    # A MAG that still knows the MN's pool prefix re-registers it with a fresh LMA.
    wanted = Prefix.parse("2001:db8:100:42::/64")
    assert register(lma, clock, hnps=[wanted]).home_network_prefixes == [wanted]
    assert lma.pool.owner(wanted) == MN1


# ------------------------------------------------------------------ sequence-number mode


def test_sequence_number_replay_protection(clock):
    lma = make_lma(clock, replay_protection="sequence")
    hnp = register(lma, clock, seq=100, stamp=None).home_network_prefixes
    pba = reject_status(lma, clock, seq=99, hnps=hnp, stamp=None)
    assert pba.status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW
    assert pba.sequence == 100  # the last accepted one, for the MAG to resynchronize
    assert register(lma, clock, seq=101, hnps=hnp, stamp=None).sequence == 101


def test_sequence_numbers_wrap(clock):
    lma = make_lma(clock, replay_protection="sequence")
    hnp = register(lma, clock, seq=65535, stamp=None).home_network_prefixes
    assert register(lma, clock, seq=0, hnps=hnp, stamp=None).status == 0
    assert reject_status(lma, clock, seq=40000, hnps=hnp, stamp=None).status == 135


# ------------------------------------------------------------------ other messages


def test_unknown_mobility_header_type_gets_binding_error(lma):
    actions = lma.handle(MAG1, UnsupportedMessage(42, b"\x00\x00"))
    [send] = sends(actions)
    assert isinstance(send.message, BindingError) and send.message.status == 2
    assert send.destination == MAG1


def test_malformed_bytes_are_counted_not_raised(lma):
    actions = lma.receive(MAG1, b"\x3b\x05\x05")
    assert sends(actions) == []
    assert lma.counters["malformed.too-short"] == 1


def test_receive_bytes_end_to_end(lma, clock):
    actions = lma.receive(MAG1, encode(pbu(clock)))
    assert only_pba(actions).status == 0


def test_pba_sent_to_lma_is_ignored(lma):
    assert lma.handle(MAG1, ProxyBindingAck(0, 1, 1)) == []
    assert lma.counters["unexpected.ProxyBindingAck"] == 1


def test_deregistering_state_shown(lma, clock):
    hnp = register(lma, clock).home_network_prefixes
    lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, life=0))
    assert lma.cache.by_prefix(hnp[0]).state is BceState.DEREGISTERING
    assert lma.status()["bindings"] == 1


def test_binding_rows_filters(lma, clock):
    register(lma, clock)
    register(lma, clock, mn=MN2, ll=MAC2)
    assert len(lma.binding_rows()) == 2
    assert len(lma.binding_rows(limit=1)) == 1
    assert [r["mn_id"] for r in lma.binding_rows(mn_id=MN2)] == [MN2.decode()]
    assert lma.status()["address"] == LMA


# ------------------------------------------------------------------ restart


def test_snapshot_and_restore_keep_bindings_across_a_restart(clock):
    lma = make_lma(clock)
    a = register(lma, clock, seq=1, life=100).home_network_prefixes
    b = register(lma, clock, src=MAG2, mn=MN2, ll=MAC2, seq=2, life=100).home_network_prefixes
    clock.advance(50)
    saved = lma.snapshot()
    clock.advance(10)  # the agent is down for 10 s
    fresh = make_lma(clock)
    actions = fresh.restore(saved)
    assert RouteToMag(MN1, tuple(a), MAG1) in actions
    assert RouteToMag(MN2, tuple(b), MAG2) in actions
    rows = {r["mn_id"]: r for r in fresh.binding_rows()}
    assert rows[MN1.decode()]["lifetime_remaining"] == pytest.approx(340)
    assert fresh.pool.owner(a[0]) == MN1
    # A refresh from the same MAG is a lifetime extension, not a new session.
    assert register(fresh, clock, seq=3, hnps=a, hi=5).home_network_prefixes == a
    assert fresh.counters["refreshes"] == 1


def test_restore_drops_expired_and_no_longer_allowed_bindings(clock):
    lma = make_lma(clock)
    register(lma, clock, seq=1, life=2)
    register(lma, clock, mn=b"only2@lab.example", ll=bytes.fromhex("020000000606"), src=MAG2, seq=2)
    saved = lma.snapshot()
    saved["bindings"][1]["proxy_coa"] = "2001:db8:ffff::99"  # a MAG the policy no longer accepts
    clock.advance(20)
    fresh = make_lma(clock)
    actions = fresh.restore(saved)
    assert not [a for a in actions if isinstance(a, RouteToMag)]
    assert len(fresh.cache) == 0
    assert any(isinstance(a, Notice) and "no longer allowed" in a.text for a in actions)
    assert fresh.restore({"version": 9}) and len(fresh.cache) == 0


def test_old_mags_deregistration_overtaking_the_handover_pbu(lma, clock):
    # MAG2 stamps its PBU first, but MAG1's later-stamped de-registration arrives first.
    hnp = register(lma, clock, src=MAG1, seq=1).home_network_prefixes
    clock.advance(1)
    handover = pbu(clock, seq=50, hi=HandoffIndicator.SAME_INTERFACE)
    clock.advance(0.002)
    lma.handle_pbu(MAG1, pbu(clock, seq=2, hnps=hnp, life=0))
    actions = lma.handle_pbu(MAG2, handover)
    pba = only_pba(actions, MAG2)
    assert pba.status == Status.ACCEPTED and pba.home_network_prefixes == hnp
    assert RouteToMag(MN1, tuple(hnp), MAG2, MAG1) in actions
    # A MAG's own messages stay ordered: its refresh stamped before its
    # de-registration (reordered on the way) does not revive the binding.
    clock.advance(1)
    stale = pbu(clock, seq=51, hnps=hnp, hi=5)
    clock.advance(0.01)
    lma.handle_pbu(MAG2, pbu(clock, seq=52, hnps=hnp, life=0))
    assert only_pba(lma.handle_pbu(MAG2, stale)).status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
