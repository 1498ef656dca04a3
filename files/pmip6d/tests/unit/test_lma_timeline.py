"""The LMA's handover timeline: its share of PBU→PBA, split where the time goes."""

from __future__ import annotations

from conftest import MAC1, MAG1, MAG2, make_lma, make_mag

from pmip6d.actions import RouteToMag, Send
from pmip6d.clock import ManualClock
from pmip6d.daemon.lma_timeline import OPEN_MAX, LmaTimeline
from pmip6d.wire import ProxyBindingAck, encode
from pmip6d.wire.constants import HandoffIndicator


class Ticks:
    """A monotonic clock the test sets."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def registered_then_moved():
    clock = ManualClock()
    lma = make_lma(clock)
    mag1, mag2 = make_mag(clock), make_mag(clock, MAG2, "mag2")
    [first] = [a for a in mag1.attach(MAC1, interface="ap1") if isinstance(a, Send)]
    registration = lma.receive(MAG1, encode(first.message))
    clock.advance(1)
    [moved] = [
        a
        for a in mag2.attach(
            MAC1, interface="ap2", handoff_indicator=HandoffIndicator.SAME_INTERFACE
        )
        if isinstance(a, Send)
    ]
    handover = lma.receive(MAG2, encode(moved.message))
    return registration, handover


def test_a_handover_is_timed_from_the_pbu_s_arrival_to_its_pba():
    registration, handover = registered_then_moved()
    ticks = Ticks()
    line = LmaTimeline(clock=ticks)
    ticks.now = 1.0001
    line.message_handled(registration, 1.0, 1.0)  # a registration: not recorded
    [route] = [a for a in handover if isinstance(a, RouteToMag)]
    assert route.previous == MAG1 and route.proxy_coa == MAG2
    ticks.now = 2.0007
    line.message_handled(handover, 2.0, 2.0004)
    line.batch_flushed(2.0010)
    sends = [a for a in handover if isinstance(a, Send)]
    [pba] = [s.message for s in sends if isinstance(s.message, ProxyBindingAck)]
    assert sends[0].message is pba and len(sends) == 2  # the PBA before the old MAG's BRI
    line.sending(sends, 2.0016)
    for send in sends:  # the BRI to MAG1 is not the PBA: it ends nothing
        line.message_sent(send.message, 2.0019 if send.message is pba else 2.0030)
    (row,) = line.rows()
    assert (row["previous"], row["mag"], row["mn_id"]) == (MAG1, MAG2, "mn1@lab.example")
    assert (row["queued_ms"], row["decide_ms"], row["routes_ms"]) == (0.4, 0.3, 0.3)
    assert (row["durable_ms"], row["send_ms"], row["total_ms"]) == (0.6, 0.3, 1.9)
    assert line.rows(limit=1) == [row]


def test_a_handover_answered_with_a_failure_is_not_a_handover_time():
    _registration, handover = registered_then_moved()
    line = LmaTimeline(clock=Ticks())
    line.message_handled(handover, 0.0, 0.0)
    [pba] = [
        a.message
        for a in handover
        if isinstance(a, Send) and a.message.__class__ is ProxyBindingAck
    ]
    refused = ProxyBindingAck(
        status=130,
        sequence=pba.sequence,
        lifetime_units=0,
        home_network_prefixes=pba.home_network_prefixes,
    )
    line.message_sent(refused, 0.001)
    assert line.rows() == [] and line._open == {}


def test_open_handovers_are_bounded():
    _registration, handover = registered_then_moved()
    [route] = [a for a in handover if isinstance(a, RouteToMag)]
    line = LmaTimeline(clock=Ticks())
    from pmip6d.wire.prefix import Prefix

    for n in range(OPEN_MAX + 10):
        moved = RouteToMag(route.mn_id, (Prefix.parse(f"2001:db8:{n:x}::/64"),), MAG2, MAG1)
        line.message_handled([moved], 0.0)
    assert len(line._open) == OPEN_MAX
    assert Prefix.parse("2001:db8:0::/64") not in line._open  # the oldest went first
