"""MAG state machine: attach → PBU → PBA → service, retransmission, refresh, detach, rejects."""

from __future__ import annotations

import itertools

import pytest
import yaml
from conftest import (
    LMA,
    MAC1,
    MAG1,
    MAG2,
    MN1,
    NO_HEARTBEAT,
    POLICY,
    make_lma,
    make_mag,
    make_policy,
)

from pmip6d.actions import Notice, Send, ServeMobileNode, StopServing
from pmip6d.daemon import agents
from pmip6d.mag import BulState, MagSettings, MobileAccessGateway
from pmip6d.wire import (
    ZERO_PREFIX,
    HandoffIndicator,
    Prefix,
    ProxyBindingAck,
    ProxyBindingUpdate,
    Status,
    encode,
)
from pmip6d.wire import timestamp as ts

HNP = Prefix.parse("2001:db8:100:1::/64")
UNKNOWN_MAC = bytes.fromhex("02000000ffff")


def sent_pbus(actions) -> list[ProxyBindingUpdate]:
    return [a.message for a in actions if isinstance(a, Send)]


def one_pbu(actions) -> ProxyBindingUpdate:
    [a] = [a for a in actions if isinstance(a, Send)]
    assert a.destination == LMA and isinstance(a.message, ProxyBindingUpdate)
    return a.message


def pba_for(
    pbu: ProxyBindingUpdate, status=0, units=None, hnps=(HNP,), stamp=None
) -> ProxyBindingAck:
    return ProxyBindingAck(
        status=status,
        sequence=pbu.sequence,
        lifetime_units=pbu.lifetime_units if units is None else units,
        mn_id=pbu.mn_id,
        home_network_prefixes=list(hnps),
        handoff_indicator=pbu.handoff_indicator,
        access_technology_type=pbu.access_technology_type,
        mn_link_layer_id=pbu.mn_link_layer_id,
        link_local_address=pbu.link_local_address,
        timestamp=pbu.timestamp if stamp is None else stamp,
    )


def bring_up(mag, clock) -> ProxyBindingUpdate:
    pbu = one_pbu(mag.attach(MAC1, interface="ap1"))
    actions = mag.handle_pba(LMA, pba_for(pbu))
    assert [type(a) for a in actions] == [ServeMobileNode]
    return pbu


def test_attach_sends_a_complete_pbu(mag1, clock):
    pbu = one_pbu(mag1.attach(MAC1, interface="ap1"))
    assert pbu.proxy and pbu.flags & 0x8000  # P and A
    assert pbu.mn_id == MN1
    assert pbu.home_network_prefixes == [ZERO_PREFIX]
    assert pbu.handoff_indicator == HandoffIndicator.NEW_INTERFACE
    assert pbu.access_technology_type == 4
    assert pbu.mn_link_layer_id == MAC1
    assert pbu.link_local_address == bytes.fromhex("fe80" + "0" * 26 + "01")
    assert pbu.timestamp == ts.from_unix(clock.time())
    assert pbu.lifetime == 600
    [row] = mag1.binding_rows()
    assert row["state"] == "registering" and row["interface"] == "ap1"


def test_accepting_pba_serves_the_mobile_node(mag1, clock):
    pbu = one_pbu(mag1.attach(MAC1, interface="ap1"))
    [serve] = mag1.handle_pba(LMA, pba_for(pbu))
    b = serve.binding
    assert (b.mn_id, b.mac, b.prefixes, b.lma, b.interface, b.lifetime) == (
        MN1,
        MAC1,
        (HNP,),
        LMA,
        "ap1",
        600,
    )
    assert mag1.binding_rows()[0]["state"] == "active"
    assert mag1.counters["registered"] == 1


def test_unknown_mac_gets_no_service(mag1):
    actions = mag1.attach(UNKNOWN_MAC)
    assert sent_pbus(actions) == []
    assert any(isinstance(a, Notice) and "no policy profile" in a.text for a in actions)
    assert mag1.counters["attach_unknown_mn"] == 1


def test_mn_restricted_to_other_mags(mag1):
    actions = mag1.attach(bytes.fromhex("020000000606"))
    assert sent_pbus(actions) == []
    assert mag1.counters["attach_not_allowed_here"] == 1


def test_retransmission_backs_off_then_gives_up_when_told_to(clock):
    mag1 = make_mag(clock, keep_registering=False)
    first = one_pbu(mag1.attach(MAC1))
    seqs, times = [first.sequence], []
    start = clock.monotonic()
    while True:
        deadline = mag1.next_deadline()
        if deadline is None:
            break
        clock.advance(deadline - clock.monotonic())
        actions = mag1.on_timer()
        pbus = sent_pbus(actions)
        if not pbus:
            assert any(isinstance(a, Notice) and "no PBA" in a.text for a in actions)
            break
        times.append(round(clock.monotonic() - start, 3))
        seqs.append(pbus[0].sequence)
        assert pbus[0].timestamp == ts.from_unix(clock.time())
    # InitialBindackTimeoutFirstReg 1.5 s doubling up to MaxBindackTimeout 32 s.
    assert times == [1.5, 4.5, 10.5, 22.5]
    assert round(clock.monotonic() - start, 3) == 46.5
    assert len(set(seqs)) == len(seqs), "every transmission has a new sequence number"
    assert mag1.binding_rows() == []
    assert mag1.counters["gave_up.register"] == 1
    assert mag1.counters["retry_at_max.register"] == 0


def run_timers(mag, clock, until: float) -> list[tuple[float, list]]:
    """Fire ``mag``'s timers up to ``until`` (monotonic); (time, actions) of each firing."""
    fired = []
    while (deadline := mag.next_deadline()) is not None and deadline <= until:
        clock.advance(deadline - clock.monotonic())
        fired.append((clock.monotonic(), mag.on_timer()))
    return fired


def test_registration_keeps_retrying_at_the_longest_interval_while_attached(mag1, clock):
    start = clock.monotonic()
    last = one_pbu(mag1.attach(MAC1))
    fired = run_timers(mag1, clock, start + 300)
    times = [round(t - start, 3) for t, _actions in fired]
    # The RFC back-off (1.5 s doubling), then MaxBindackTimeout (32 s) for as long as it takes.
    assert times[:6] == [1.5, 4.5, 10.5, 22.5, 46.5, 78.5]
    assert all(b - a == pytest.approx(32) for a, b in itertools.pairwise(times[4:]))
    assert all(len(sent_pbus(actions)) == 1 for _t, actions in fired)
    assert not [a for _t, actions in fired for a in actions if isinstance(a, Notice)]
    assert mag1.counters["retry_at_max.register"] == len(times) - 4
    assert mag1.counters["gave_up.register"] == 0
    assert mag1.binding_rows()[0]["state"] == "registering"
    last = sent_pbus(fired[-1][1])[0]
    # The LMA finally hears one and its answer gets through: served as on a first try.
    assert [type(a) for a in mag1.handle_pba(LMA, pba_for(last))] == [ServeMobileNode]
    assert mag1.binding_rows()[0]["state"] == "active"
    assert mag1.counters["registered"] == 1


def test_detach_ends_the_retries_with_a_bounded_deregistration(mag1, clock):
    start = clock.monotonic()
    one_pbu(mag1.attach(MAC1))
    run_timers(mag1, clock, start + 100)  # past the back-off, retrying every 32 s
    assert mag1.detach(MAC1) == []
    fired = run_timers(mag1, clock, start + 10_000)
    pbus = [p for _t, actions in fired for p in sent_pbus(actions)]
    assert pbus and all(p.lifetime_units == 0 for p in pbus)
    assert len(pbus) == 6  # 1, 2, 4, 8, 16, 32 s: the de-registration's own back-off
    assert mag1.binding_rows() == [] and mag1.next_deadline() is None
    assert mag1.counters["gave_up.deregister"] == 1


def test_refresh_retries_at_the_longest_interval_are_counted(mag1, clock):
    bring_up(mag1, clock)
    clock.advance(480)
    one_pbu(mag1.on_timer())
    run_timers(mag1, clock, clock.monotonic() + 200)
    assert mag1.counters["retry_at_max.refresh"] >= 1
    assert mag1.counters["gave_up.refresh"] == 0


def test_answer_to_an_old_transmission_is_ignored(mag1, clock):
    first = one_pbu(mag1.attach(MAC1))
    clock.advance(1.5)
    second = one_pbu(mag1.on_timer())
    assert mag1.handle_pba(LMA, pba_for(first)) == []
    assert mag1.counters["pba_unmatched"] == 1
    assert [type(a) for a in mag1.handle_pba(LMA, pba_for(second))] == [ServeMobileNode]


def test_pba_from_wrong_source_is_ignored(mag1):
    pbu = one_pbu(mag1.attach(MAC1))
    assert mag1.handle_pba("2001:db8::bad", pba_for(pbu)) == []
    assert mag1.binding_rows()[0]["state"] == "registering"
    assert mag1.counters["pba_wrong_source"] == 1


def test_first_sequence_number_comes_from_the_constructor(clock):
    # The daemon passes a random number (daemon/agents.py); the machine only uses it.
    mag = MobileAccessGateway(
        MagSettings(address=MAG1, heartbeat=NO_HEARTBEAT),
        make_policy().mag_view("mag1"),
        clock,
        first_sequence=0x1_2345,
    )
    assert one_pbu(mag.attach(MAC1)).sequence == 0x2345


def test_load_mag_starts_at_an_unpredictable_sequence_number(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(agents.secrets, "randbelow", lambda n: seen.append(n) or 4242)
    (tmp_path / "policy.yml").write_text(yaml.safe_dump(POLICY))
    (tmp_path / "mag.yml").write_text(
        "name: mag1\npolicy: policy.yml\ncontrol_socket: /tmp/pmip6d-test-mag.sock\n"
    )
    _config, mag, _policy = agents.load_mag(tmp_path / "mag.yml")
    assert seen == [0x10000]
    assert one_pbu(mag.attach(MAC1)).sequence == 4242


def test_refresh_before_expiry(mag1, clock):
    bring_up(mag1, clock)
    assert mag1.next_deadline() == pytest.approx(clock.monotonic() + 480)
    clock.advance(480)
    refresh = one_pbu(mag1.on_timer())
    assert refresh.handoff_indicator == HandoffIndicator.NOT_CHANGED
    assert refresh.home_network_prefixes == [HNP]
    assert refresh.lifetime == 600
    assert mag1.handle_pba(LMA, pba_for(refresh, units=100)) == []
    assert mag1.binding_rows()[0]["lifetime"] == 400
    assert mag1.next_deadline() == pytest.approx(clock.monotonic() + 320)


def test_refresh_unanswered_until_expiry_stops_service(mag1, clock):
    bring_up(mag1, clock)
    clock.advance(480)
    one_pbu(mag1.on_timer())
    stop = None
    while stop is None:
        clock.advance(mag1.next_deadline() - clock.monotonic())
        for a in mag1.on_timer():
            if isinstance(a, StopServing):
                stop = a
    assert clock.monotonic() == pytest.approx(1000 + 600)
    assert "expired" in stop.reason
    assert mag1.binding_rows() == []


def test_detach_stops_service_and_deregisters(mag1, clock):
    bring_up(mag1, clock)
    actions = mag1.detach(MAC1)
    assert isinstance(actions[0], StopServing) and actions[0].reason == "detached"
    dereg = one_pbu(actions)
    assert dereg.lifetime_units == 0 and dereg.home_network_prefixes == [HNP]
    assert mag1.binding_rows()[0]["state"] == "deregistering"
    assert mag1.handle_pba(LMA, pba_for(dereg)) == []
    assert mag1.binding_rows() == []


def test_detach_while_registering_deregisters_once_accepted(mag1):
    pbu = one_pbu(mag1.attach(MAC1))
    assert mag1.detach(MAC1) == []
    actions = mag1.handle_pba(LMA, pba_for(pbu))
    dereg = one_pbu(actions)
    assert dereg.lifetime_units == 0 and dereg.home_network_prefixes == [HNP]
    assert not [a for a in actions if isinstance(a, ServeMobileNode)]


def test_detach_while_registering_without_answer(mag1, clock):
    one_pbu(mag1.attach(MAC1))
    mag1.detach(MAC1)
    clock.advance(1.5)
    dereg = one_pbu(mag1.on_timer())
    assert dereg.lifetime_units == 0


def test_reattach_while_active_serves_again_without_signaling(mag1, clock):
    bring_up(mag1, clock)
    actions = mag1.attach(MAC1, interface="ap2")
    assert [type(a) for a in actions] == [ServeMobileNode]
    assert actions[0].binding.interface == "ap2"


def test_reattach_while_deregistering_registers_again(mag1, clock):
    bring_up(mag1, clock)
    mag1.detach(MAC1)
    pbu = one_pbu(mag1.attach(MAC1))
    assert pbu.lifetime_units > 0 and pbu.home_network_prefixes == [HNP]
    assert [type(a) for a in mag1.handle_pba(LMA, pba_for(pbu))] == [ServeMobileNode]


@pytest.mark.parametrize(
    "status",
    [
        Status.NOT_LMA_FOR_THIS_MOBILE_NODE,
        Status.PROXY_REG_NOT_ENABLED,
        Status.INSUFFICIENT_RESOURCES,
    ],
)
def test_reject_means_no_service_and_a_reason(mag1, status):
    pbu = one_pbu(mag1.attach(MAC1))
    actions = mag1.handle_pba(LMA, pba_for(pbu, status=status, units=0))
    [notice] = actions
    assert notice.level == "warning" and status.name in notice.text
    assert mag1.binding_rows() == []
    assert mag1.counters[f"rejected.{status.name}"] == 1


def test_reject_on_refresh_stops_service(mag1, clock):
    bring_up(mag1, clock)
    clock.advance(480)
    refresh = one_pbu(mag1.on_timer())
    actions = mag1.handle_pba(
        LMA, pba_for(refresh, status=Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)
    )
    assert any(isinstance(a, StopServing) for a in actions)


def test_timestamp_mismatch_reports_clock_offset(mag1, clock):
    pbu = one_pbu(mag1.attach(MAC1))
    lma_time = ts.from_unix(clock.time() + 2.5)
    [notice] = mag1.handle_pba(LMA, pba_for(pbu, status=156, units=0, stamp=lma_time))
    assert "+2.500 s" in notice.text


def test_sequence_out_of_window_resynchronizes(clock):
    mag = make_mag(clock, replay_protection="sequence")
    pbu = one_pbu(mag.attach(MAC1))
    assert pbu.timestamp is None
    rejected = pba_for(pbu, status=135, units=0)
    rejected.sequence = 30000  # not the PBU's number: the last one the LMA accepted
    retry = one_pbu(mag.handle_pba(LMA, rejected))
    assert retry.sequence == 30001
    assert retry.lifetime_units == pbu.lifetime_units


@pytest.mark.parametrize("ahead", [0, 1, 0x8000])
def test_out_of_window_reject_at_or_ahead_of_the_outstanding_number_is_honoured(clock, ahead):
    mag = make_mag(clock, replay_protection="sequence")
    mag = MobileAccessGateway(mag.settings, mag.policy, clock, first_sequence=65000)
    pbu = one_pbu(mag.attach(MAC1))
    rejected = pba_for(pbu, status=135, units=0)
    rejected.sequence = (pbu.sequence + ahead) & 0xFFFF  # wraps past 65535
    assert one_pbu(mag.handle_pba(LMA, rejected)).sequence == (rejected.sequence + 1) & 0xFFFF


@pytest.mark.parametrize("behind", [1, 100, 0x7FFF])
def test_out_of_window_reject_behind_the_outstanding_number_is_dropped(clock, behind):
    # An LMA refuses a PBU only if its number is not newer than the last accepted one,
    # so a 135 carrying an older number is not an answer to our PBU: forged or stale.
    mag = make_mag(clock, replay_protection="sequence")
    pbu = one_pbu(mag.attach(MAC1))
    forged = pba_for(pbu, status=135, units=0)
    forged.sequence = (pbu.sequence - behind) & 0xFFFF
    assert mag.handle_pba(LMA, forged) == []
    assert mag.counters["pba_unmatched"] == 1
    assert mag.binding_rows()[0]["state"] == "registering"
    # The exchange is still in flight: the genuine answer is taken.
    assert [type(a) for a in mag.handle_pba(LMA, pba_for(pbu))] == [ServeMobileNode]


def test_out_of_window_reject_from_another_source_is_dropped(clock):
    mag = make_mag(clock, replay_protection="sequence")
    pbu = one_pbu(mag.attach(MAC1))
    forged = pba_for(pbu, status=135, units=0)
    assert mag.handle_pba("2001:db8::bad", forged) == []
    assert mag.counters["pba_wrong_source"] == 1
    assert mag.binding_rows()[0]["sequence"] == pbu.sequence  # no resynchronization


def test_accept_without_prefix_is_unusable(mag1):
    pbu = one_pbu(mag1.attach(MAC1))
    [notice] = mag1.handle_pba(LMA, pba_for(pbu, hnps=()))
    assert "no prefix" in notice.text


def test_malformed_pba_bytes_are_counted(mag1):
    assert not [a for a in mag1.receive(LMA, b"garbage!") if not isinstance(a, Notice)]
    assert sum(v for k, v in mag1.counters.items() if k.startswith("malformed.")) == 1


# ------------------------------------------------------------------ with a real LMA machine


class Wire:
    """An in-memory network between one LMA and several MAGs (bytes really encoded)."""

    def __init__(self, lma, mags):
        self.lma, self.mags, self.effects = lma, mags, []

    def run(self, actions, sender):
        queue = [(sender, a) for a in actions]
        while queue:
            origin, action = queue.pop(0)
            if not isinstance(action, Send):
                self.effects.append(action)
                continue
            data = encode(action.message)
            if action.destination == LMA:
                queue += [(LMA, a) for a in self.lma.receive(origin, data)]
            else:
                queue += [
                    (action.destination, a)
                    for a in self.mags[action.destination].receive(LMA, data)
                ]


def test_full_handover_over_encoded_messages(clock):
    lma = make_lma(clock)
    m1, m2 = make_mag(clock), make_mag(clock, MAG2, "mag2")
    net = Wire(lma, {MAG1: m1, MAG2: m2})
    net.run(m1.attach(MAC1, interface="ap1"), MAG1)
    [serve1] = [e for e in net.effects if isinstance(e, ServeMobileNode)]
    hnp = serve1.binding.prefixes
    clock.advance(10)
    net.run(m2.attach(MAC1, interface="ap2", handoff_indicator=3), MAG2)
    net.run(m1.detach(MAC1), MAG1)
    assert lma.binding_rows()[0]["proxy_coa"] == MAG2
    assert lma.binding_rows()[0]["hnps"] == [str(p) for p in hnp]
    serves = [e for e in net.effects if isinstance(e, ServeMobileNode)]
    assert serves[-1].binding.prefixes == hnp and serves[-1].binding.interface == "ap2"
    assert m1.binding_rows() == [] and m2.binding_rows()[0]["state"] == "active"
    # RFC 5846: the LMA revoked MAG1's binding before the AP's detach reached it, so
    # MAG1 had nothing left to de-register.
    assert lma.counters["revocations_acknowledged"] == 1 and m1.counters["revoked"] == 1
    assert m1.counters["detach_unknown"] == 1
    assert lma.counters["deregistrations_from_previous_mag"] == 0
    # Refreshes keep it alive for an hour of protocol time.
    for _unused in range(60):
        clock.advance(60)
        net.run(m2.on_timer(), MAG2)
        net.run(lma.on_timer(), LMA)
    assert lma.binding_rows()[0]["state"] == "active"
    assert m2.binding_rows()[0]["state"] == "active"
    assert m2.binding_rows()[0]["sequence"] > 2
    assert m2.binding_rows()[0]["state"] == BulState.ACTIVE.value


def test_snapshot_and_restore_serve_again_and_refresh_when_the_timer_says(clock):
    mag = make_mag(clock)
    bring_up(mag, clock)
    clock.advance(100)
    saved = mag.snapshot()
    clock.advance(5)
    fresh = make_mag(clock)
    actions = fresh.restore(saved)
    [serve] = [a for a in actions if isinstance(a, ServeMobileNode)]
    assert serve.binding.prefixes == (HNP,) and serve.binding.mac == MAC1
    assert not [a for a in actions if isinstance(a, Send)]  # the LMA still holds it
    assert fresh.binding_rows()[0]["lifetime_remaining"] == pytest.approx(495)
    # Refresh at 80 % of the 600 s granted, as before the restart.
    assert fresh.next_deadline() == pytest.approx(clock.monotonic() - 105 + 480)
    clock.advance(fresh.next_deadline() - clock.monotonic())
    refresh = one_pbu(fresh.on_timer())
    assert refresh.handoff_indicator == HandoffIndicator.NOT_CHANGED
    assert refresh.home_network_prefixes == [HNP]
    assert fresh.handle_pba(LMA, pba_for(refresh)) == []
    assert fresh.binding_rows()[0]["state"] == "active"


def test_restore_refreshes_at_once_when_the_refresh_time_passed_while_down(clock):
    mag = make_mag(clock)
    bring_up(mag, clock)
    saved = mag.snapshot()
    clock.advance(500)  # past the refresh time (480 s), before expiry (600 s)
    fresh = make_mag(clock)
    refresh = one_pbu(fresh.restore(saved))
    assert refresh.handoff_indicator == HandoffIndicator.NOT_CHANGED


def test_timestamp_lower_than_previous_is_retried_with_a_fresh_timestamp(mag1, clock):
    pbu = one_pbu(mag1.attach(MAC1))
    clock.advance(0.01)
    retry = one_pbu(mag1.handle_pba(LMA, pba_for(pbu, status=157, units=0)))
    assert retry.sequence != pbu.sequence and retry.timestamp > pbu.timestamp
    assert [type(a) for a in mag1.handle_pba(LMA, pba_for(retry))] == [ServeMobileNode]
