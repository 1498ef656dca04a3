"""RFC 5846 binding revocation in the LMA and MAG machines (manual clock, no I/O)."""

from __future__ import annotations

import pytest
from conftest import LMA, MAC1, MAG1, MAG2, MN1, MN2, OTHER_LMA, ROGUE, make_lma, make_mag

from pmip6d.actions import Notice, RouteToMag, Send, ServeMobileNode, StopServing, Unroute
from pmip6d.mag.machine import Phase
from pmip6d.wire import (
    ZERO_PREFIX,
    BindingRevocationAck,
    BindingRevocationIndication,
    HandoffIndicator,
    ProxyBindingAck,
    ProxyBindingUpdate,
    RevocationStatus,
    RevocationTrigger,
    Status,
    encode,
)
from pmip6d.wire import timestamp as ts
from pmip6d.wire.constants import BR_FLAG_G, BR_FLAG_P, BU_FLAG_A, BU_FLAG_P


def pbu(clock, seq=1, src_att=4, hi=HandoffIndicator.NEW_INTERFACE, life=150, hnps=(ZERO_PREFIX,)):
    return ProxyBindingUpdate(
        sequence=seq,
        lifetime_units=life,
        flags=BU_FLAG_A | BU_FLAG_P,
        mn_id=MN1,
        home_network_prefixes=list(hnps),
        handoff_indicator=hi,
        access_technology_type=src_att,
        mn_link_layer_id=MAC1,
        timestamp=ts.from_unix(clock.time()),
    )


def sends(actions, kind=None) -> list[Send]:
    return [
        a for a in actions if isinstance(a, Send) and (kind is None or isinstance(a.message, kind))
    ]


def the_bri(actions, to: str) -> BindingRevocationIndication:
    [send] = sends(actions, BindingRevocationIndication)
    assert send.destination == to
    return send.message


def handover(lma, clock, att2=4) -> tuple[list, BindingRevocationIndication]:
    """MN1 registered at MAG1, then a PBU from MAG2 takes the binding over."""
    lma.handle_pbu(MAG1, pbu(clock, seq=1))
    clock.advance(1)
    actions = lma.handle_pbu(MAG2, pbu(clock, seq=2, src_att=att2, hi=3))
    return actions, the_bri(actions, MAG1)


def bra_for(bri, status=RevocationStatus.SUCCESS, **changes) -> BindingRevocationAck:
    fields = dict(status=status, sequence=bri.sequence, flags=BR_FLAG_P, mn_id=bri.mn_id)
    fields.update(changes)
    return BindingRevocationAck(**fields)


# ------------------------------------------------------------------ LMA: handover


def test_handover_revokes_at_the_previous_mag(clock):
    lma = make_lma(clock)
    actions, bri = handover(lma, clock)
    [pba] = sends(actions, ProxyBindingAck)
    assert pba.destination == MAG2 and pba.message.status == Status.ACCEPTED
    assert bri.trigger == RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE
    assert bri.proxy and bri.mn_id == MN1 and bri.mn_link_layer_id == MAC1
    assert bri.home_network_prefixes == list(pba.message.home_network_prefixes)
    assert lma.counters["bri_sent"] == 1 and lma.status()["revocations_pending"] == 1


def test_trigger_says_whether_the_access_technology_changed(clock):
    lma = make_lma(clock)
    _actions, bri = handover(lma, clock, att2=3)
    assert bri.trigger == RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE


def test_no_revocation_when_the_previous_mag_already_deregistered(clock):
    lma = make_lma(clock)
    hnp = sends(lma.handle_pbu(MAG1, pbu(clock)), ProxyBindingAck)[0].message
    clock.advance(1)
    lma.handle_pbu(MAG1, pbu(clock, seq=2, life=0, hnps=hnp.home_network_prefixes))
    clock.advance(0.1)
    actions = lma.handle_pbu(MAG2, pbu(clock, seq=3, hi=3))
    assert any(isinstance(a, RouteToMag) for a in actions)
    assert sends(actions, BindingRevocationIndication) == []


def test_no_revocation_after_an_awaited_deregistration(clock):
    lma = make_lma(clock)
    first = sends(lma.handle_pbu(MAG1, pbu(clock)), ProxyBindingAck)[0].message
    clock.advance(1)
    # HI 4 without a link-layer id: the LMA waits for MAG1's de-registration.
    waiting = pbu(clock, seq=2, hi=HandoffIndicator.UNKNOWN)
    waiting.mn_link_layer_id = None
    assert lma.handle_pbu(MAG2, waiting) == []
    actions = lma.handle_pbu(MAG1, pbu(clock, seq=3, life=0, hnps=first.home_network_prefixes))
    assert lma.binding_rows()[0]["proxy_coa"] == MAG2
    assert sends(actions, BindingRevocationIndication) == []


def test_bri_is_retransmitted_with_back_off_then_given_up(clock):
    lma = make_lma(clock, bri_max_retries_number=2)
    _actions, bri = handover(lma, clock)
    start = clock.monotonic()
    assert lma.next_deadline() == pytest.approx(start + 1.0)
    clock.advance(1.0)
    again = the_bri(lma.on_timer(), MAG1)
    assert again.sequence == bri.sequence  # the same indication, retransmitted
    assert lma.next_deadline() == pytest.approx(start + 1.0 + 2.0)
    clock.advance(2.0)
    the_bri(lma.on_timer(), MAG1)
    assert lma.next_deadline() == pytest.approx(start + 1.0 + 2.0 + 4.0)
    clock.advance(4.0)
    actions = lma.on_timer()
    assert sends(actions) == []
    assert any(isinstance(a, Notice) and "no BRA" in a.text for a in actions)
    assert lma.counters["bri_retransmitted"] == 2 and lma.counters["bri_gave_up"] == 1
    assert lma.status()["revocations_pending"] == 0
    # The binding itself was never waiting for the BRA.
    assert lma.binding_rows()[0]["proxy_coa"] == MAG2


def test_matching_bra_ends_the_retransmissions(clock):
    lma = make_lma(clock)
    _actions, bri = handover(lma, clock)
    assert lma.handle(MAG1, bra_for(bri))[0].level == "info"
    assert lma.counters["revocations_acknowledged"] == 1
    clock.advance(60)
    assert sends(lma.on_timer()) == []


@pytest.mark.parametrize(
    ("src", "changes"),
    [
        (MAG2, {}),  # not the MAG the BRI went to
        (ROGUE, {}),
        (MAG1, {"sequence": 999}),
        (MAG1, {"mn_id": MN2}),
        (MAG1, {"flags": 0}),
    ],
)
def test_unmatched_bra_is_counted_and_changes_nothing(clock, src, changes):
    lma = make_lma(clock)
    _actions, bri = handover(lma, clock)
    assert lma.handle(src, bra_for(bri, **changes)) == []
    assert lma.counters["bra_unmatched"] == 1
    assert lma.status()["revocations_pending"] == 1


def test_bra_with_a_failure_status_is_counted_by_name(clock):
    lma = make_lma(clock)
    _actions, bri = handover(lma, clock)
    lma.handle(MAG1, bra_for(bri, RevocationStatus.REVOCATION_FAILED_MN_IS_ATTACHED))
    assert lma.counters["bra_rejected.REVOCATION_FAILED_MN_IS_ATTACHED"] == 1
    assert lma.status()["revocations_pending"] == 0


def test_late_deregistration_of_the_previous_mag_settles_the_revocation(clock):
    lma = make_lma(clock)
    _actions, bri = handover(lma, clock)
    lma.handle_pbu(MAG1, pbu(clock, seq=3, life=0, hnps=bri.home_network_prefixes))
    assert lma.counters["bri_settled_by_deregistration"] == 1
    clock.advance(60)
    assert sends(lma.on_timer()) == []


def test_bri_sent_to_the_lma_is_refused_or_dropped(clock):
    lma = make_lma(clock)
    bri = BindingRevocationIndication(RevocationTrigger.ADMINISTRATIVE_REASON, 5, mn_id=MN1)
    [answer] = lma.receive(MAG1, encode(bri))
    assert answer.destination == MAG1
    assert answer.message.status == RevocationStatus.REVOCATION_FUNCTION_NOT_SUPPORTED
    assert answer.message.sequence == 5
    assert lma.receive(ROGUE, encode(bri)) == []
    assert lma.counters["bri_from_unknown_peer"] == 1


def test_malformed_revocation_is_counted(clock):
    lma = make_lma(clock)
    data = bytearray(encode(BindingRevocationAck(0, 1, mn_id=MN1)))
    data[6] = 9  # B.R. Type 9 does not exist
    lma.receive(MAG1, bytes(data))
    assert lma.counters["malformed.revocation-type"] == 1


# ------------------------------------------------------------------ LMA: operator


def test_operator_revocation_removes_binding_and_route_and_tells_the_mag(clock):
    lma = make_lma(clock)
    lma.handle_pbu(MAG1, pbu(clock))
    in_use = lma.pool.in_use
    rows, actions = lma.revoke(MN1)
    assert [r["mn_id"] for r in rows] == [MN1.decode()] and rows[0]["proxy_coa"] == MAG1
    [unroute] = [a for a in actions if isinstance(a, Unroute)]
    assert unroute.proxy_coa == MAG1
    assert [str(p) for p in unroute.prefixes] == rows[0]["hnps"]
    bri = the_bri(actions, MAG1)
    assert bri.trigger == RevocationTrigger.ADMINISTRATIVE_REASON
    assert lma.binding_rows() == [] and lma.pool.in_use == in_use - 1
    assert lma.counters["revoked"] == 1
    # Absent already: nothing to do, nothing sent.
    assert lma.revoke(MN1) == ([], [])


def test_operator_revocation_of_a_deregistering_entry_sends_no_bri(clock):
    lma = make_lma(clock)
    pba = sends(lma.handle_pbu(MAG1, pbu(clock)), ProxyBindingAck)[0].message
    lma.handle_pbu(MAG1, pbu(clock, seq=2, life=0, hnps=pba.home_network_prefixes))
    rows, actions = lma.revoke(MN1)
    assert rows[0]["state"] == "deregistering"
    assert sends(actions) == [] and not any(isinstance(a, Unroute) for a in actions)
    assert lma.binding_rows() == []


# ------------------------------------------------------------------ MAG


def served_mag(clock):
    mag = make_mag(clock)
    [send] = mag.attach(MAC1, interface="ap1")
    request = send.message
    lma = make_lma(clock)
    pba = sends(lma.handle_pbu(MAG1, request), ProxyBindingAck)[0].message
    mag.handle_pba(LMA, pba)
    return mag, pba


def bri_to_mag(seq=7, **changes) -> BindingRevocationIndication:
    fields = dict(
        trigger=RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE,
        sequence=seq,
        flags=BR_FLAG_P,
        mn_id=MN1,
    )
    fields.update(changes)
    return BindingRevocationIndication(**fields)


def the_bra(actions, to=LMA) -> BindingRevocationAck:
    [send] = sends(actions)
    assert send.destination == to and isinstance(send.message, BindingRevocationAck)
    return send.message


def test_mag_stops_serving_at_once_and_acknowledges(clock):
    mag, pba = served_mag(clock)
    actions = mag.receive(LMA, encode(bri_to_mag()))
    kinds = [type(a) for a in actions]
    # The routes and RAs go first; the shell flushes them before the BRA leaves.
    assert kinds.index(StopServing) < kinds.index(Send)
    [stop] = [a for a in actions if isinstance(a, StopServing)]
    assert stop.binding.mac == MAC1 and stop.binding.prefixes == tuple(pba.home_network_prefixes)
    assert "INTER_MAG_HANDOVER_SAME_ACCESS_TYPE" in stop.reason
    bra = the_bra(actions)
    assert (bra.status, bra.sequence, bra.mn_id, bra.proxy) == (0, 7, MN1, True)
    assert mag.binding_rows() == []
    assert mag.counters["revoked"] == 1
    # The AP's late detach finds nothing, and sends no de-registration.
    assert mag.detach(MAC1) == [] and mag.counters["detach_unknown"] == 1


def test_mag_drops_a_bri_from_a_stranger(clock):
    mag, _pba = served_mag(clock)
    actions = mag.handle(ROGUE, bri_to_mag())
    assert sends(actions) == [] and not any(isinstance(a, StopServing) for a in actions)
    assert mag.counters["bri_from_unknown_peer"] == 1
    assert mag.binding_rows()[0]["state"] == "active"


@pytest.mark.parametrize(
    ("src", "bri", "status"),
    [
        (OTHER_LMA, bri_to_mag(), RevocationStatus.BINDING_DOES_NOT_EXIST),
        (LMA, bri_to_mag(mn_id=MN2), RevocationStatus.BINDING_DOES_NOT_EXIST),
        (LMA, bri_to_mag(mn_id=None), RevocationStatus.REVOKED_MOBILE_NODES_IDENTITY_REQUIRED),
        (
            LMA,
            bri_to_mag(flags=BR_FLAG_P | BR_FLAG_G),
            RevocationStatus.GLOBAL_REVOCATION_NOT_AUTHORIZED,
        ),
    ],
)
def test_mag_answers_what_it_cannot_revoke_with_the_rfc_status(clock, src, bri, status):
    mag, _pba = served_mag(clock)
    actions = mag.handle(src, bri)
    assert the_bra(actions, src).status == status
    assert not any(isinstance(a, StopServing) for a in actions)
    assert mag.binding_rows()[0]["state"] == "active"


def test_mag_ignores_a_mobile_ipv6_revocation(clock):
    mag, _pba = served_mag(clock)
    assert mag.handle(LMA, bri_to_mag(flags=0)) == []
    assert mag.counters["bri_not_proxy"] == 1


def test_mag_keeps_a_registration_in_flight(clock):
    mag = make_mag(clock)
    mag.attach(MAC1)
    bra = the_bra(mag.handle(LMA, bri_to_mag()))
    assert bra.status == RevocationStatus.REVOCATION_FAILED_MN_IS_ATTACHED
    assert mag.binding_rows()[0]["state"] == "registering"


def test_mag_forgets_a_deregistering_entry_without_stopping_twice(clock):
    mag, _pba = served_mag(clock)
    mag.detach(MAC1)
    assert mag._by_mac[MAC1].phase is Phase.DEREGISTERING
    actions = mag.handle(LMA, bri_to_mag())
    assert not any(isinstance(a, StopServing) for a in actions)
    assert the_bra(actions).status == RevocationStatus.SUCCESS
    assert mag.binding_rows() == []
    clock.advance(60)
    assert mag.on_timer() == []  # no de-registration retransmitted


# ------------------------------------------------------------------ both, over encoded bytes


def test_handover_over_the_wire_stops_the_old_mag_within_one_round_trip(clock):
    lma = make_lma(clock)
    m1, m2 = make_mag(clock), make_mag(clock, MAG2, "mag2")
    mags = {MAG1: m1, MAG2: m2}
    effects: list = []

    def run(actions, sender):
        queue = [(sender, a) for a in actions]
        while queue:
            origin, action = queue.pop(0)
            if not isinstance(action, Send):
                effects.append((origin, action))
                continue
            data = encode(action.message)
            target = lma if action.destination == LMA else mags[action.destination]
            source = origin if action.destination == LMA else LMA
            queue += [(action.destination, a) for a in target.receive(source, data)]

    run(m1.attach(MAC1, interface="ap1"), MAG1)
    clock.advance(5)
    run(m2.attach(MAC1, interface="ap2", handoff_indicator=3), MAG2)
    # No clock advanced: MAG1 stopped in the same exchange, before any retransmission.
    assert [type(a) for o, a in effects if o == MAG1].count(StopServing) == 1
    assert [type(a) for o, a in effects if o == MAG2].count(ServeMobileNode) == 1
    assert m1.binding_rows() == [] and m2.binding_rows()[0]["state"] == "active"
    assert lma.counters["revocations_acknowledged"] == 1
    assert lma.status()["revocations_pending"] == 0


def test_a_mag_that_never_answers_does_not_flood_the_log(clock):
    import dataclasses

    lma = make_lma(clock, bri_max_retries_number=0)
    lma.policy = dataclasses.replace(lma.policy, serve_unlisted=True)

    def moved(i: int, mag: str, seq: int, hi: int) -> list:
        msg = pbu(clock, seq=seq, hi=hi)
        msg.mn_id, msg.mn_link_layer_id = b"mn%d@lab.example" % i, bytes((2, 0, 0, 0, 0, i))
        return lma.handle_pbu(mag, msg)

    for i in range(50):
        moved(i, MAG1, 1, HandoffIndicator.NEW_INTERFACE)
    clock.advance(1)
    for i in range(50):
        moved(i, MAG2, 2, HandoffIndicator.SAME_INTERFACE)
    clock.advance(1.0)  # MAG1 is gone: no BRA; no retries allowed
    warnings = [a for a in lma.on_timer() if isinstance(a, Notice) and "no BRA" in a.text]
    assert lma.counters["bri_gave_up"] == 50
    assert len(warnings) == 10 and lma.counters["bri_gave_up_log_suppressed"] == 40
    # The next line, once the budget refills, says how many went unlogged.
    clock.advance(5)
    moved(0, MAG1, 3, HandoffIndicator.SAME_INTERFACE)  # back to MAG1: revokes at MAG2
    clock.advance(1.0)
    [line] = [a.text for a in lma.on_timer() if isinstance(a, Notice) and "no BRA" in a.text]
    assert "(40 more unanswered since the last such line)" in line
