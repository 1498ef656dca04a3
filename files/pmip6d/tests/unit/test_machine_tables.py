"""The transition tables of the MAG and the LMA: complete, and each cell does what it says.

Every (phase, event) pair of the MAG is either handled or explicitly ignored;
the ignored ones really change nothing, the handled ones change something.
A property test drives the MAG with random layer-2 events, PBAs and time and
checks the invariants the table is meant to keep.
"""

from __future__ import annotations

import itertools

import pytest
from conftest import LMA, MAC1, MAC2, MAG1, MAG2, make_mag
from hypothesis import given, settings
from hypothesis import strategies as st
from test_lma import pbu as lma_pbu
from test_lma import register
from test_mag import bring_up, one_pbu, pba_for

from pmip6d.actions import Send, ServeMobileNode, StopServing
from pmip6d.lma.machine import HANDOFF_LOOKUP, ON_LOOKUP, _Candidates, _Lookup, _Purpose
from pmip6d.mag.machine import PHASE_VIEW, TRANSITIONS, BulState, Event, Ignored, Phase
from pmip6d.wire import HandoffIndicator, ProxyBindingUpdate, Status

# ------------------------------------------------------------------ MAG


def test_mag_table_lists_every_phase_event_pair():
    assert set(TRANSITIONS) == set(itertools.product(Phase, Event))
    for rule in TRANSITIONS.values():
        assert isinstance(rule, Ignored) or callable(rule)
    assert set(PHASE_VIEW) == set(Phase)


def _into(phase: Phase, clock):
    """A MAG with MAC1's entry in ``phase``, reached by real events; and the newest PBU."""
    mag = make_mag(clock)
    if phase in (Phase.REGISTERING, Phase.REGISTERING_DETACHED):
        pbu = one_pbu(mag.attach(MAC1, interface="ap1"))
        if phase is Phase.REGISTERING_DETACHED:
            assert mag.detach(MAC1) == []
    else:
        pbu = bring_up(mag, clock)
        if phase is Phase.REFRESHING:
            clock.advance(mag.next_deadline() - clock.monotonic())
            pbu = one_pbu(mag.on_timer())
        elif phase is Phase.DEREGISTERING:
            pbu = one_pbu(mag.detach(MAC1))
    assert mag._by_mac[MAC1].phase is phase
    return mag, pbu


def _fire(mag, event: Event, pbu: ProxyBindingUpdate, clock) -> list:
    if event is Event.ATTACH:
        return mag.attach(MAC1, interface="ap1")
    if event is Event.DETACH:
        return mag.detach(MAC1)
    if event is Event.ACCEPTED:
        return mag.handle_pba(LMA, pba_for(pbu))
    if event is Event.REJECTED:
        return mag.handle_pba(LMA, pba_for(pbu, status=Status.REASON_UNSPECIFIED))
    clock.advance(mag.next_deadline() - clock.monotonic())
    return mag.on_timer()


# The counters the event itself bumps before the table is consulted.
_EVENT_COUNTERS = {
    Event.ATTACH: {"attach"},
    Event.DETACH: {"detach"},
    Event.ACCEPTED: {"pba_received"},
    Event.REJECTED: {"pba_received"},
    Event.TIMEOUT: set(),
}


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(Phase, Event)))
def test_each_mag_cell_does_what_the_table_says(phase, event, clock):
    mag, pbu = _into(phase, clock)
    rows, counters = mag.binding_rows(), dict(mag.counters)
    entry = mag._by_mac[MAC1]
    actions = _fire(mag, event, pbu, clock)
    rule = TRANSITIONS[phase, event]
    changed = {k for k in mag.counters if mag.counters[k] != counters.get(k, 0)}
    if isinstance(rule, Ignored):
        assert actions == []
        assert mag.binding_rows() == rows and entry.phase is phase
        assert changed == _EVENT_COUNTERS[event] | ({rule.counter} - {None})
    else:
        # Handled: something visible happens (actions, another phase, or the entry is gone).
        assert actions or entry.phase is not phase or MAC1 not in mag._by_mac


def test_rows_show_the_phase_as_state_and_exchange(clock):
    for phase in Phase:
        mag, _pbu = _into(phase, clock)
        [row] = mag.binding_rows()
        state, txn = PHASE_VIEW[phase]
        assert (row["state"], row["exchange"]) == (state.value, txn.value)


# Two MNs this MAG serves, one it may not serve (only2@), one without a profile.
_MACS = (MAC1, MAC2, MAC1, MAC2, bytes.fromhex("020000000606"), bytes.fromhex("02000000ffff"))
_op = st.one_of(
    st.tuples(st.just("attach"), st.sampled_from(_MACS), st.sampled_from([1, 2, 3, 4, 5])),
    st.tuples(st.just("detach"), st.sampled_from(_MACS)),
    st.tuples(
        st.just("answer"),
        st.integers(0, 3),  # which of the last PBUs sent
        st.sampled_from([0, 0, 0, 0, 0, 128, 129, 135, 156, 157]),
        st.sampled_from([150, 150, 2, 0]),  # granted lifetime units
        st.sampled_from([True, True, True, False]),  # the PBA's sequence number matches
    ),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1, 3, 10, 60, 500])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, min_size=4, max_size=60), st.sampled_from([4_000, 32_000]), st.booleans())
def test_mag_keeps_its_invariants_under_any_event_sequence(ops, max_timeout_ms, keep_registering):
    from pmip6d.clock import ManualClock

    clock = ManualClock()
    mag = make_mag(
        clock,
        max_bindack_timeout_ms=max_timeout_ms,
        requested_lifetime=40,
        keep_registering=keep_registering,
    )
    sent: list[ProxyBindingUpdate] = []
    newest: dict[bytes, ProxyBindingUpdate] = {}
    served: set[bytes] = set()
    for op in ops:
        if op[0] == "attach":
            actions = mag.attach(op[1], interface="ap1", handoff_indicator=op[2])
        elif op[0] == "detach":
            actions = mag.detach(op[1])
        elif op[0] == "answer":
            if not sent:
                continue
            _kind, back, status, units, matches = op
            pbu = sent[-1 - min(back, len(sent) - 1)]
            pba = pba_for(pbu, status=status, units=0 if pbu.lifetime_units == 0 else units)
            if not matches:
                pba.sequence = (pba.sequence + 1) & 0xFFFF
            actions = mag.handle_pba(LMA, pba)
        else:
            clock.advance(op[1])
            actions = mag.on_timer()
        for action in actions:
            if isinstance(action, Send):
                sent.append(action.message)
                newest[action.message.mn_link_layer_id] = action.message
            elif isinstance(action, ServeMobileNode):
                served.add(action.binding.mac)
            elif isinstance(action, StopServing):
                served.discard(action.binding.mac)
        # The shell serves exactly the MNs whose binding is ACTIVE.
        active = {m for m, e in mag._by_mac.items() if e.state is BulState.ACTIVE}
        assert served == active
        assert {e.mn_id for e in mag._by_mac.values()} == set(mag._by_mn_id)
        for entry in mag._by_mac.values():
            assert mag._by_mn_id[entry.mn_id] is entry
            # Every phase waits for something: a PBA or the refresh time.
            assert entry.timer_id != 0
            if entry.state is BulState.ACTIVE:
                assert entry.prefixes and entry.lifetime > 0
            # An exchange in flight is the newest PBU sent for the MN, of its kind.
            if entry.phase is not Phase.ACTIVE:
                pbu = newest[entry.mac]
                assert pbu.sequence == entry.sequence
                assert pbu.is_deregistration == (entry.phase is Phase.DEREGISTERING)
                if entry.phase is Phase.REFRESHING:
                    assert pbu.handoff_indicator == HandoffIndicator.NOT_CHANGED


# ------------------------------------------------------------------ LMA


def test_lma_tables_list_every_pair():
    assert set(ON_LOOKUP) == set(itertools.product(_Lookup, _Purpose))
    assert set(HANDOFF_LOOKUP) == set(itertools.product(_Candidates, HandoffIndicator))


@pytest.mark.parametrize("hi", [*HandoffIndicator, 6, 200])
def test_with_no_entry_every_handoff_indicator_is_a_new_session(lma, clock, hi):
    actions = lma.handle_pbu(MAG1, lma_pbu(clock, hi=hi))
    assert lma.counters["registrations"] == 1 and len(lma.cache) == 1, actions


@pytest.mark.parametrize(
    ("hi", "what"),
    [
        (HandoffIndicator.RESERVED, "new"),
        (HandoffIndicator.NEW_INTERFACE, "new"),
        (HandoffIndicator.DIFFERENT_INTERFACE, "handoff"),
        (HandoffIndicator.SAME_INTERFACE, "handoff"),
        (HandoffIndicator.UNKNOWN, "wait"),
        (HandoffIndicator.NOT_CHANGED, "new"),  # only MAG1's entry exists; MAG2 asks
        (7, "new"),  # a value RFC 5213 does not define: never a takeover
    ],
)
def test_each_handoff_indicator_with_an_entry_of_another_mag(lma, clock, hi, what):
    register(lma, clock, src=MAG1, seq=1)
    clock.advance(1)
    # Another interface (link-layer id), so §5.4.1.2 finds nothing and §5.4.1.3 decides.
    lma.handle_pbu(MAG2, lma_pbu(clock, seq=2, hi=hi, ll=bytes.fromhex("020000000a0a")))
    outcome = {
        "new": lma.counters["registrations"] == 2 and len(lma.cache) == 2,
        "handoff": lma.counters["handoffs"] == 1 and len(lma.cache) == 1,
        "wait": lma.counters["waits_for_deregistration"] == 1 and len(lma.cache) == 1,
    }
    assert [k for k, v in outcome.items() if v] == [what]


def test_not_changed_finds_the_same_mags_entry(lma, clock):
    hnp = register(lma, clock, src=MAG1, seq=1).home_network_prefixes
    clock.advance(1)
    actions = lma.handle_pbu(
        MAG1,
        lma_pbu(clock, seq=2, hi=HandoffIndicator.NOT_CHANGED, ll=bytes.fromhex("020000000a0a")),
    )
    assert lma.counters["refreshes"] == 1 and len(lma.cache) == 1
    assert [a.message.home_network_prefixes for a in actions if isinstance(a, Send)] == [hnp]
