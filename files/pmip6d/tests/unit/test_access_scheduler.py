"""The per-MN RA schedule: immediate RA, burst, periodic bounds, RS answers, silence after stop."""

from __future__ import annotations

import random
import socket
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.access.ra import ALL_NODES, UNSPECIFIED, RaSettings
from pmip6d.access.scheduler import RaScheduler, SendRa
from pmip6d.actions import MobileNodeBinding
from pmip6d.clock import ManualClock
from pmip6d.wire.prefix import Prefix

MAC1 = bytes.fromhex("020000000101")
MAC2 = bytes.fromhex("020000000202")
STRANGER = bytes.fromhex("020000000909")
P1 = Prefix.parse("2001:db8:1::/64")
P2 = Prefix.parse("2001:db8:2::/64")
P3 = Prefix.parse("2001:db8:3::/64")
LL = socket.inet_pton(socket.AF_INET6, "fe80::1")
MN1_LL = socket.inet_pton(socket.AF_INET6, "fe80::200:ff:fe00:101")
MN1_LL2 = socket.inet_pton(socket.AF_INET6, "fe80::2")

SETTINGS = RaSettings(
    max_rtr_adv_interval=100,
    min_rtr_adv_interval=30,
    initial_ras=3,
    initial_ra_interval=0.5,
    min_delay_between_ras=3,
)


def binding(mac: bytes = MAC1, *prefixes: Prefix) -> MobileNodeBinding:
    return MobileNodeBinding(
        mn_id=b"mn%d@lab.example" % mac[-1],
        mac=mac,
        prefixes=prefixes or (P1,),
        lma="2001:db8:ffff::1",
        link_local=LL,
        lifetime=600,
        interface="acc0",
    )


class Extremes(random.Random):
    """A random source that alternates between the two ends of the interval."""

    def __init__(self) -> None:
        super().__init__(0)
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return a if len(self.calls) % 2 else b


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sched(clock) -> RaScheduler:
    return RaScheduler(SETTINGS, clock, Extremes())


def advance_to(sched: RaScheduler, clock: ManualClock, until: float) -> list[tuple[float, SendRa]]:
    """Run the scheduler's timers up to ``until``, as the emitter would; (time, RA) pairs."""
    sent = []
    while (deadline := sched.next_deadline()) is not None and deadline <= until:
        clock.advance(max(0.0, deadline - clock.monotonic()))
        sent += [(clock.monotonic(), s) for s in sched.on_timer()]
    clock.advance(max(0.0, until - clock.monotonic()))
    return sent


def test_serve_sends_the_first_ra_in_the_same_call(sched, clock):
    out = sched.serve(binding(MAC1, P1))
    assert len(out) == 1
    ra = out[0]
    assert ra.reason == "serve"
    assert ra.mac == MAC1
    assert ra.prefixes == (P1,)
    assert ra.destination == ALL_NODES
    assert ra.deprecated == ()
    assert ra.binding.link_local == LL
    assert sched.next_deadline() == pytest.approx(clock.monotonic() + 0.5)
    assert MAC1 in sched
    assert len(sched) == 1


def test_burst_then_periodic_within_bounds(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding())
    sent = advance_to(sched, clock, t0 + 1000)
    reasons = [s.reason for _unused, s in sent]
    assert reasons[:2] == ["initial", "initial"]
    assert set(reasons[2:]) == {"periodic"}
    times = [t0] + [t for t, _unused in sent]
    assert times[1] - times[0] == pytest.approx(0.5)
    assert times[2] - times[1] == pytest.approx(0.5)
    gaps = [b - a for a, b in pairwise(times[2:])]
    assert gaps, "no periodic RA at all"
    # The extremes random source makes them exactly Min, Max, Min, ...
    assert gaps[:4] == pytest.approx([30, 100, 30, 100])
    assert all(s.destination == ALL_NODES for _unused, s in sent)
    assert sched.rng.calls and set(sched.rng.calls) == {(30, 100)}


@given(seed=st.integers(0, 2**32), initial=st.integers(1, 5))
@settings(max_examples=40, deadline=None)
def test_periodic_intervals_stay_in_min_max(seed, initial):
    clock = ManualClock()
    s = RaSettings(
        max_rtr_adv_interval=10, min_rtr_adv_interval=3, initial_ras=initial, initial_ra_interval=1
    )
    sched = RaScheduler(s, clock, random.Random(seed))
    t0 = clock.monotonic()
    sched.serve(binding())
    sent = advance_to(sched, clock, t0 + 500)
    times = [t0] + [t for t, _unused in sent]
    gaps = [b - a for a, b in pairwise(times)]
    assert len(gaps) >= 45
    burst, periodic = gaps[: initial - 1], gaps[initial - 1 :]
    assert burst == pytest.approx([1.0] * (initial - 1))
    assert all(3 <= g <= 10 for g in periodic), periodic
    assert [r.reason for _unused, r in sent][: initial - 1] == ["initial"] * (initial - 1)


def test_single_initial_ra_goes_straight_to_periodic(clock):
    sched = RaScheduler(
        RaSettings(max_rtr_adv_interval=10, min_rtr_adv_interval=5, initial_ras=1), clock
    )
    t0 = clock.monotonic()
    sched.serve(binding())
    assert 5 <= sched.next_deadline() - t0 <= 10
    assert [s.reason for _unused, s in advance_to(sched, clock, t0 + 10)] == ["periodic"]


def test_each_mn_gets_its_own_prefixes_only(sched, clock):
    t0 = clock.monotonic()
    sent = [(t0, s) for s in sched.serve(binding(MAC1, P1))]
    sent += [(t0, s) for s in sched.serve(binding(MAC2, P2, P3))]
    sent += advance_to(sched, clock, t0 + 600)
    by_mac: dict[bytes, set] = {MAC1: set(), MAC2: set()}
    for _unused, s in sent:
        by_mac[s.mac].add(s.prefixes)
    assert by_mac == {MAC1: {(P1,)}, MAC2: {(P2, P3)}}
    assert sum(1 for _unused, s in sent if s.mac == MAC1) > 5


def test_first_rs_is_answered_at_once_to_its_source(sched, clock):
    sched.serve(binding())
    clock.advance(0.01)  # the RS crossed the serve RA: answer it anyway
    out = sched.solicited(MAC1, MN1_LL)
    assert [(s.reason, s.destination, s.prefixes) for s in out] == [("solicited", MN1_LL, (P1,))]
    assert sched.counters["rs_answered"] == 1


def test_rs_from_unspecified_address_is_answered_to_all_nodes(sched, clock):
    sched.serve(binding())
    out = sched.solicited(MAC1, UNSPECIFIED)
    assert [s.destination for s in out] == [ALL_NODES]


def test_rs_rate_limit_coalesces_into_one_delayed_answer(clock):
    sched = RaScheduler(
        RaSettings(max_rtr_adv_interval=600, initial_ras=1, min_delay_between_ras=3), clock
    )
    t0 = clock.monotonic()
    sched.serve(binding())
    assert len(sched.solicited(MAC1, MN1_LL)) == 1
    clock.advance(1)
    assert sched.solicited(MAC1, MN1_LL) == []
    clock.advance(1)
    assert sched.solicited(MAC1, MN1_LL) == []
    assert sched.counters["rs_delayed"] == 2
    assert sched.next_deadline() == pytest.approx(t0 + 3)
    clock.advance(0.999)
    assert sched.on_timer() == []
    sent = advance_to(sched, clock, t0 + 3.5)
    assert [(t - t0, s.reason, s.destination) for t, s in sent] == [
        (pytest.approx(3), "solicited", MN1_LL)
    ]
    # Once MinDelayBetweenRAs has passed since that answer, the next RS is answered at once.
    clock.advance(3)
    assert [s.reason for s in sched.solicited(MAC1, MN1_LL)] == ["solicited"]


def test_delayed_answer_to_several_sources_goes_to_all_nodes(clock):
    sched = RaScheduler(RaSettings(initial_ras=1), clock)
    sched.serve(binding())
    sched.solicited(MAC1, MN1_LL)
    sched.solicited(MAC1, MN1_LL)
    sched.solicited(MAC1, MN1_LL2)
    sent = advance_to(sched, clock, clock.monotonic() + 3)
    assert [(s.reason, s.destination) for _unused, s in sent] == [("solicited", ALL_NODES)]


def test_an_unsolicited_ra_also_answers_a_pending_rs(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding())
    sched.solicited(MAC1, MN1_LL)  # answered at once
    clock.advance(0.2)
    assert sched.solicited(MAC1, MN1_LL) == []  # pending until t0 + 3
    sent = advance_to(sched, clock, t0 + 3.5)
    # The burst RAs at 0.5 and 1.0 reach the MN; no extra answer at 3.
    assert [(round(t - t0, 3), s.reason) for t, s in sent] == [(0.5, "initial"), (1.0, "initial")]


def test_unknown_rs_is_ignored_and_counted(sched):
    assert sched.solicited(STRANGER, MN1_LL) == []
    sched.serve(binding())
    assert sched.solicited(STRANGER, MN1_LL) == []
    assert sched.counters["rs_unknown"] == 2
    assert sched.counters["rs_received"] == 2


def test_rs_matched_by_slla_when_l2_source_differs(sched):
    sched.serve(binding())
    out = sched.solicited(STRANGER, MN1_LL, slla=MAC1)
    assert [s.mac for s in out] == [MAC1]


def test_stop_means_silence(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding(MAC1, P1))
    sched.serve(binding(MAC2, P2))
    advance_to(sched, clock, t0 + 0.7)
    assert sched.stop(MAC1) == []
    assert MAC1 not in sched
    sched.solicited(MAC1, MN1_LL)
    clock.advance(10)
    sched.solicited(MAC1, UNSPECIFIED)
    sent = advance_to(sched, clock, t0 + 5000)
    assert sent, "MN2 should still be served"
    assert {s.mac for _unused, s in sent} == {MAC2}
    assert sched.counters["rs_unknown"] == 2
    sched.stop(MAC2)
    assert sched.next_deadline() is None
    assert advance_to(sched, clock, t0 + 10_000) == []
    assert sched.stop(MAC2) == []
    assert sched.counters["stop_unknown"] == 1


def test_stop_cancels_a_pending_answer(sched, clock):
    sched.serve(binding())
    sched.solicited(MAC1, MN1_LL)
    sched.solicited(MAC1, MN1_LL)
    sched.stop(MAC1)
    assert advance_to(sched, clock, clock.monotonic() + 1000) == []


def test_serve_again_restarts_the_burst_and_the_rs_allowance(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding())
    advance_to(sched, clock, t0 + 50)
    sched.solicited(MAC1, MN1_LL)
    t1 = clock.monotonic()
    out = sched.serve(binding())
    assert [s.reason for s in out] == ["serve"]
    assert sched.counters["reserved"] == 1
    assert [s.reason for s in sched.solicited(MAC1, MN1_LL)] == ["solicited"]
    sent = advance_to(sched, clock, t1 + 1.0)
    assert [(round(t - t1, 3), s.reason) for t, s in sent] == [(0.5, "initial"), (1.0, "initial")]


def test_renumbering_deprecates_old_prefixes_during_the_burst(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding(MAC1, P1, P2))
    out = sched.serve(binding(MAC1, P2, P3))
    assert out[0].prefixes == (P2, P3)
    assert out[0].deprecated == (P1,)
    assert [s.deprecated for s in sched.solicited(MAC1, MN1_LL)] == [(P1,)]
    sent = advance_to(sched, clock, t0 + 300)
    assert [s.deprecated for _unused, s in sent if s.reason == "initial"] == [(P1,), (P1,)]
    assert all(s.deprecated == () for _unused, s in sent if s.reason == "periodic")
    # A prefix coming back is advertised normally, not deprecated.
    out = sched.serve(binding(MAC1, P1))
    assert out[0].deprecated == (P2, P3)


def test_late_timer_does_not_burst_to_catch_up(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding())
    clock.advance(10_000)  # the event loop stalled
    assert len(sched.on_timer()) == 1
    assert sched.next_deadline() == pytest.approx(clock.monotonic() + 0.5)
    assert clock.monotonic() - t0 == pytest.approx(10_000)


def test_rows(sched, clock):
    sched.serve(binding(MAC1, P1))
    clock.advance(0.1)
    [row] = sched.rows()
    assert row["mac"] == "02:00:00:00:01:01"
    assert row["prefixes"] == ["2001:db8:1::/64"]
    assert row["ras_sent"] == 1
    assert row["next_ra_in"] == pytest.approx(0.4)
    assert sched.binding(MAC1).prefixes == (P1,)
    assert sched.binding(MAC2) is None


def test_on_timer_accepts_an_explicit_now(sched, clock):
    t0 = clock.monotonic()
    sched.serve(binding())
    assert sched.on_timer(t0 + 0.4) == []
    assert [s.reason for s in sched.on_timer(t0 + 0.5)] == ["initial"]
