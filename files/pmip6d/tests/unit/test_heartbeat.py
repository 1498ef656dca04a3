"""RFC 5847 heartbeat in both machines, driven through the wire format and a manual clock.

A tiny in-memory network carries every ``Send`` as bytes to the machine at its
destination (or drops it when that address is "down"), so what is tested is
what the agents would do with real packets, timers included.
"""

from __future__ import annotations

from conftest import LMA, MAC1, MAC2, MAG1, MAG2, ROGUE, make_lma, make_mag

from pmip6d.actions import Notice, RouteToMag, Send, ServeMobileNode, StopServing, Unroute
from pmip6d.heartbeat import HeartbeatSettings
from pmip6d.wire import Heartbeat, ProxyBindingUpdate, decode, encode
from pmip6d.wire.constants import HB_FLAG_R, HB_FLAG_U

INTERVAL = 10.0


def hb(restart_counter: int | None = None, **changes) -> HeartbeatSettings:
    return HeartbeatSettings(interval=INTERVAL, restart_counter=restart_counter, **changes)


class Net:
    """Machines by address; ``down`` ones receive nothing and send nothing."""

    def __init__(self, clock, **machines) -> None:
        self.clock = clock
        self.nodes = dict(machines)
        self.down: set[str] = set()
        self.wire: list[tuple[str, str, object]] = []
        self.effects: dict[str, list] = {a: [] for a in machines}

    def run(self, src: str, actions: list) -> None:
        queue = [(src, a) for a in actions]
        while queue:
            sender, action = queue.pop(0)
            if not isinstance(action, Send):
                self.effects[sender].append(action)
                continue
            dst = action.destination
            self.wire.append((sender, dst, action.message))
            if dst in self.down or dst not in self.nodes or sender in self.down:
                continue
            got = self.nodes[dst].receive(sender, encode(action.message))
            queue += [(dst, a) for a in got]

    def tick(self, seconds: float, step: float = 1.0) -> None:
        """Let ``seconds`` pass, running every machine's due timers as they fall due."""
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            self.clock.advance(min(step, end - self.clock.monotonic()))
            for address, node in self.nodes.items():
                if address not in self.down:
                    self.run(address, node.on_timer())

    def heartbeats(self, src: str, dst: str) -> list[Heartbeat]:
        return [m for s, d, m in self.wire if s == src and d == dst and isinstance(m, Heartbeat)]

    def notices(self, address: str) -> list[str]:
        return [a.text for a in self.effects[address] if isinstance(a, Notice)]


def domain(clock, lma_counter: int = 1, **lma_settings):
    lma = make_lma(clock, heartbeat=hb(lma_counter, **lma_settings))
    mag = make_mag(clock, heartbeat=hb())
    net = Net(clock, **{LMA: lma, MAG1: mag})
    return net, lma, mag


def register(net: Net, mag, mac: bytes = MAC1) -> None:
    net.run(MAG1, mag.attach(mac))
    assert mag.binding_rows(mac=mac)[0]["state"] == "active"


def peer(machine, address: str) -> dict:
    return next(p for p in machine.status()["heartbeat"]["peers"] if p["address"] == address)


# --------------------------------------------------------------------------- exchange


def test_a_registration_starts_heartbeats_both_ways_and_the_lma_sends_its_counter(clock):
    net, lma, mag = domain(clock, lma_counter=41)
    assert mag.next_deadline() is None, "no peer, no heartbeat"
    register(net, mag)
    net.tick(1)
    request = next(m for m in net.heartbeats(MAG1, LMA) if not m.response)
    assert not request.response and request.restart_counter is None
    answers = [m for m in net.heartbeats(LMA, MAG1) if m.response]
    assert answers[0].sequence == request.sequence and answers[0].restart_counter == 41
    assert not any(m.response and m.restart_counter is not None for m in net.heartbeats(MAG1, LMA))
    assert peer(mag, LMA) | {"last_response_ago": None} == {
        "address": LMA,
        "state": "up",
        "missed": 0,
        "restart_counter": 41,
        "last_response_ago": None,
        "down_for": None,
    }
    assert peer(lma, MAG1)["state"] == "up", "the LMA heartbeats the MAG that registered"
    assert mag.status()["heartbeat"]["interval"] == INTERVAL
    assert lma.status()["heartbeat"]["restart_counter"] == 41


def test_one_request_per_interval(clock):
    net, _lma, mag = domain(clock)
    register(net, mag)
    net.tick(5 * INTERVAL + 1)
    requests = [m for m in net.heartbeats(MAG1, LMA) if not m.response]
    assert len(requests) == 6  # at registration, then one per interval
    assert len({m.sequence for m in requests}) == 6, "a fresh sequence number each"
    assert mag.counters["heartbeat.missed"] == 0


# --------------------------------------------------------------------------- down and up


def test_missing_heartbeats_mark_the_lma_down_then_up_again(clock):
    net, _lma, mag = domain(clock)
    register(net, mag)
    net.tick(1)
    net.down.add(LMA)
    # A miss is known when the next request falls due: the first unanswered request
    # goes out one interval after the last answered one, its miss is counted one later.
    net.tick(3 * INTERVAL)
    assert peer(mag, LMA)["state"] == "up" and peer(mag, LMA)["missed"] == 2
    net.tick(INTERVAL)
    row = peer(mag, LMA)
    assert row["state"] == "down" and row["missed"] == 3 and row["down_for"] == 0
    assert mag.counters["heartbeat.peer_down"] == 1
    assert any("is down: 3 heartbeats unanswered" in t for t in net.notices(MAG1))
    net.tick(3 * INTERVAL)
    assert mag.counters["heartbeat.peer_down"] == 1, "marked down once"
    net.down.clear()
    net.tick(INTERVAL)
    assert peer(mag, LMA)["state"] == "up" and peer(mag, LMA)["missed"] == 0
    assert mag.counters["heartbeat.peer_up"] == 1
    assert any("is up again" in t for t in net.notices(MAG1))


def test_missing_allowed_is_configurable(clock):
    lma = make_lma(clock, heartbeat=hb(1))
    mag = make_mag(clock, heartbeat=hb(missing_allowed=1))
    net = Net(clock, **{LMA: lma, MAG1: mag})
    register(net, mag)
    net.down.add(LMA)
    net.tick(INTERVAL + 1)
    assert peer(mag, LMA)["state"] == "down", "never answered, then one miss"


# --------------------------------------------------------------------------- restart counter


def test_a_changed_restart_counter_makes_the_mag_reregister_every_mn_at_once(clock):
    net, lma, mag = domain(clock, lma_counter=1)
    register(net, mag, MAC1)
    register(net, mag, MAC2)
    net.tick(1)
    hnps = {r["mn_id"]: r["hnps"] for r in lma.binding_rows()}
    # The LMA restarts with an empty binding cache (its state lost) and a new counter.
    net.down.add(LMA)
    clock.advance(2)
    fresh = make_lma(clock, heartbeat=hb(2))
    net.nodes[LMA] = fresh
    net.down.clear()
    assert fresh.binding_rows() == []
    net.tick(INTERVAL)
    assert mag.counters["heartbeat.peer_restarted"] == 1
    assert mag.counters["reregistered"] == 2
    assert any("restarted (restart counter 1 -> 2)" in t for t in net.notices(MAG1))
    assert f"re-registering 2 mobile nodes with {LMA}" in net.notices(MAG1)
    assert {r["mn_id"]: r["hnps"] for r in fresh.binding_rows()} == hnps, "same prefixes back"
    assert all(r["proxy_coa"] == MAG1 for r in fresh.binding_rows())
    routes = [a for a in net.effects[LMA] if isinstance(a, RouteToMag)]
    assert routes, "the restarted LMA routes the MNs' prefixes again"
    assert not [a for a in net.effects[MAG1] if isinstance(a, StopServing)]
    assert all(r["state"] == "active" for r in mag.binding_rows())


def test_the_same_restart_counter_changes_nothing(clock):
    net, _lma, mag = domain(clock, lma_counter=5)
    register(net, mag)
    net.tick(4 * INTERVAL)
    assert mag.counters["heartbeat.peer_restarted"] == 0 and mag.counters["reregistered"] == 0


def test_reregister_resends_a_refresh_in_flight_and_leaves_other_lmas_alone(clock):
    mag = make_mag(clock, heartbeat=hb())
    actions = mag.attach(MAC1)
    assert [a for a in actions if isinstance(a, Send)], "the registration PBU"
    assert not [a for a in mag.reregister(LMA) if isinstance(a, Send)], "registering carries on"
    assert mag.counters["reregistered"] == 0
    net = Net(clock, **{LMA: make_lma(clock, heartbeat=hb(1)), MAG1: mag})
    register(net, mag, MAC2)
    net.down.add(LMA)
    net.tick(600 * 0.8 + 1)  # the refresh is sent and goes unanswered
    [row] = mag.binding_rows(mac=MAC2)
    assert row["exchange"] == "refresh"
    sent = mag.reregister(LMA)
    [pbu] = [a.message for a in sent if isinstance(a, Send)]
    assert (
        isinstance(pbu, ProxyBindingUpdate)
        and pbu.sequence == mag.binding_rows(mac=MAC2)[0]["sequence"]
    )
    assert not [a for a in mag.reregister("2001:db8:ffff::77") if isinstance(a, Send)]


def test_an_unsolicited_response_only_brings_the_next_request_forward(clock):
    """Its counter is not believed (anyone can forge one); the matched answer decides."""
    net, _lma, mag = domain(clock, lma_counter=1)
    register(net, mag)
    net.tick(1)
    requests = len(net.heartbeats(MAG1, LMA))
    unsolicited = Heartbeat(12345, HB_FLAG_R | HB_FLAG_U, restart_counter=9)
    assert mag.receive(LMA, encode(unsolicited)) == []
    assert mag.counters["heartbeat.unsolicited_received"] == 1
    assert mag.next_deadline() == clock.monotonic(), "the next request is due now"
    net.run(MAG1, mag.on_timer())
    assert len(net.heartbeats(MAG1, LMA)) == requests + 1
    assert mag.counters["reregistered"] == 0 and peer(mag, LMA)["restart_counter"] == 1


# --------------------------------------------------------------------------- hostile input


def test_requests_from_strangers_are_counted_and_dropped(clock):
    lma = make_lma(clock, heartbeat=hb(1))
    mag = make_mag(clock, heartbeat=hb())
    request = encode(Heartbeat(7))
    assert [a for a in lma.receive(ROGUE, request) if isinstance(a, Send)] == []
    assert lma.counters["heartbeat.request_from_stranger"] == 1
    assert [a for a in mag.receive(ROGUE, request) if isinstance(a, Send)] == []
    assert mag.counters["heartbeat.request_from_stranger"] == 1
    # An accepted MAG and a policy LMA are answered even before any binding.
    [answer] = [a for a in lma.receive(MAG2, request) if isinstance(a, Send)]
    assert answer.message == Heartbeat(7, HB_FLAG_R, restart_counter=1)
    [answer] = [a for a in mag.receive(LMA, request) if isinstance(a, Send)]
    assert answer.message == Heartbeat(7, HB_FLAG_R, restart_counter=None)


def test_stale_and_unexpected_responses_change_nothing(clock):
    net, _lma, mag = domain(clock)
    register(net, mag)
    net.tick(1)
    net.down.add(LMA)
    net.tick(4 * INTERVAL)
    assert peer(mag, LMA)["state"] == "down"
    old = net.heartbeats(MAG1, LMA)[0].sequence
    assert mag.receive(LMA, encode(Heartbeat(old, HB_FLAG_R, 3))) == []
    assert mag.counters["heartbeat.response_stale"] == 1
    assert peer(mag, LMA)["state"] == "down" and peer(mag, LMA)["restart_counter"] == 1
    assert mag.receive(ROGUE, encode(Heartbeat(old, HB_FLAG_R))) == []
    assert mag.counters["heartbeat.response_unexpected"] == 1


def test_malformed_heartbeats_are_counted(clock):
    mag = make_mag(clock, heartbeat=hb())
    bad = bytes.fromhex("3b010d000000 0001 00000001 1c02 0000")
    assert [a for a in mag.receive(LMA, bad) if not isinstance(a, Notice)] == []
    assert mag.counters["malformed.option-length"] == 1


# --------------------------------------------------------------------------- LMA side


def two_mags(clock, **lma_settings):
    lma = make_lma(clock, heartbeat=hb(1, **lma_settings))
    mag1 = make_mag(clock, heartbeat=hb())
    mag2 = make_mag(clock, MAG2, "mag2", heartbeat=hb())
    net = Net(clock, **{LMA: lma, MAG1: mag1, MAG2: mag2})
    net.run(MAG1, mag1.attach(MAC1))
    net.run(MAG2, mag2.attach(MAC2))
    net.tick(1)
    return net, lma


def test_the_lma_marks_a_silent_mag_down_and_keeps_its_bindings_by_default(clock):
    net, lma = two_mags(clock)
    net.down.add(MAG1)
    net.tick(10 * INTERVAL)
    assert peer(lma, MAG1)["state"] == "down" and peer(lma, MAG2)["state"] == "up"
    assert lma.counters["heartbeat.peer_down"] == 1
    assert {r["proxy_coa"] for r in lma.binding_rows()} == {MAG1, MAG2}
    assert lma.status()["heartbeat"]["peer_down_grace"] is None


def test_the_lma_removes_the_bindings_of_a_mag_down_past_the_grace_period(clock):
    net, lma = two_mags(clock, peer_down_grace=2 * INTERVAL)
    in_use = lma.pool.in_use
    net.down.add(MAG1)
    net.tick(4 * INTERVAL)  # down at the third miss
    assert peer(lma, MAG1)["state"] == "down"
    assert len(lma.binding_rows()) == 2
    net.tick(2 * INTERVAL)
    assert [r["proxy_coa"] for r in lma.binding_rows()] == [MAG2]
    unroutes = [a for a in net.effects[LMA] if isinstance(a, Unroute)]
    assert [u.proxy_coa for u in unroutes] == [MAG1]
    assert lma.pool.in_use == in_use - 1, "its pool prefix is free again"
    assert lma.counters["heartbeat.bindings_removed"] == 1
    assert MAG1 not in {p["address"] for p in lma.status()["heartbeat"]["peers"]}
    requests_before = len(net.heartbeats(LMA, MAG1))
    net.tick(3 * INTERVAL)
    assert len(net.heartbeats(LMA, MAG1)) == requests_before, "no more heartbeats to it"
    # It comes back and registers again: tracked again.
    net.down.clear()
    net.run(MAG1, net.nodes[MAG1].reregister(LMA))
    net.tick(1)
    assert peer(lma, MAG1)["state"] == "up"


def test_an_lma_restored_from_its_state_heartbeats_the_mags_of_its_bindings(clock):
    net, lma = two_mags(clock)
    saved = lma.snapshot()
    restarted = make_lma(clock, heartbeat=hb(2))
    restarted.restore(saved)
    assert {p["address"] for p in restarted.status()["heartbeat"]["peers"]} == {MAG1, MAG2}
    net.nodes[LMA] = restarted
    net.tick(1)
    assert peer(restarted, MAG1)["state"] == "up" and peer(restarted, MAG2)["state"] == "up"


# --------------------------------------------------------------------------- off


def test_interval_zero_sends_nothing_but_still_answers(clock):
    lma = make_lma(clock, heartbeat=HeartbeatSettings(interval=0, restart_counter=3))
    mag = make_mag(clock, heartbeat=HeartbeatSettings(interval=0))
    net = Net(clock, **{LMA: lma, MAG1: mag})
    register(net, mag)
    net.tick(5 * INTERVAL)
    assert not [m for s, d, m in net.wire if isinstance(m, Heartbeat)]
    assert mag.status()["heartbeat"]["peers"] == []
    [answer] = [a for a in lma.receive(MAG1, encode(Heartbeat(1))) if isinstance(a, Send)]
    assert decode(encode(answer.message)) == Heartbeat(1, HB_FLAG_R, restart_counter=3)


def test_serving_continues_while_the_lma_is_down(clock):
    """A down LMA is reported, not acted on: the MAG keeps serving until bindings expire."""
    net, _lma, mag = domain(clock)
    register(net, mag)
    served = [a for a in net.effects[MAG1] if isinstance(a, ServeMobileNode)]
    net.down.add(LMA)
    net.tick(4 * INTERVAL)
    assert peer(mag, LMA)["state"] == "down"
    assert not [a for a in net.effects[MAG1] if isinstance(a, StopServing)]
    assert served
