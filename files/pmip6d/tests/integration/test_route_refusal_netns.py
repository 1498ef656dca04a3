"""A refused route on a real kernel: the LMA answers 130, keeps no binding, and counts it.

The LMA machine and the real shell (daemon/shell.py) with the real LMA effects in a
network namespace; only the Mobility Header socket is a stand-in that records what
would leave. The route is refused for a real reason: the LMA's core link is down
when the first PBU of a MAG arrives, so the kernel refuses the tunnel's nexthop
("Device for nexthop is not up") and with it the route into it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

# pylint: disable-next=unused-import
from test_dataplane_netns import LMAA, PCOA, lab  # noqa: F401  (the fixture)

from pmip6d.clock import SystemClock
from pmip6d.config import PolicyFile
from pmip6d.daemon.effects import LmaEffects
from pmip6d.daemon.shell import AgentShell
from pmip6d.heartbeat import HeartbeatSettings
from pmip6d.lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from pmip6d.policy import Policy
from pmip6d.wire import ZERO_PREFIX, HandoffIndicator, Prefix, ProxyBindingAck, Status
from pmip6d.wire import timestamp as ts
from pmip6d.wire.codec import decode, encode
from pmip6d.wire.constants import BU_FLAG_A, BU_FLAG_P
from pmip6d.wire.messages import ProxyBindingUpdate

pytestmark = pytest.mark.netns

MN = b"mn1@lab.example"


class RecordingSocket:
    """The shell's view of the MH socket: what it sends is recorded, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self._idle, self._peer = socket.socketpair()  # a descriptor for the loop to watch

    def fileno(self) -> int:
        return self._idle.fileno()

    def close(self) -> None:
        self._idle.close()
        self._peer.close()

    def send(self, destination: str, data: bytes) -> None:
        self.sent.append((destination, data))


def make_lma() -> LocalMobilityAnchor:
    policy = Policy(
        PolicyFile.model_validate(
            {
                "domain": "lab.example",
                "mags": [{"name": "mag1", "address": PCOA["mag1"]}],
                "lmas": [{"name": "lma", "address": LMAA, "accept_mags": ["mag1"]}],
                "mobile_nodes": [{"id": MN.decode(), "macs": ["02:00:00:00:01:01"], "lma": "lma"}],
            }
        )
    )
    return LocalMobilityAnchor(
        LmaSettings(address=LMAA, heartbeat=HeartbeatSettings(interval=0)),
        policy.lma_view("lma"),
        SystemClock(),
        PrefixPool(Prefix.parse("2001:db8:100::/48"), 64),
    )


def pbu(seq: int, hnp: Prefix = ZERO_PREFIX) -> bytes:
    return encode(
        ProxyBindingUpdate(
            sequence=seq,
            lifetime_units=100,
            flags=BU_FLAG_A | BU_FLAG_P,
            mn_id=MN,
            home_network_prefixes=[hnp],
            handoff_indicator=HandoffIndicator.NEW_INTERFACE,
            access_technology_type=4,
            mn_link_layer_id=bytes.fromhex("020000000101"),
            timestamp=ts.from_unix(time.time()),
        )
    )


def test_refused_route_answers_130_and_leaves_no_binding(lab):  # noqa: F811
    dataplane = lab.lma(mode="dynamic")  # the MAG's tunnel is built at its first route
    lma = make_lma()
    lma.dirty = set()
    mh = RecordingSocket()
    shell = AgentShell(lma, mh, LmaEffects(dataplane), logging.getLogger("test"))
    committed: list[tuple[int, int]] = []

    def commit(send, early: bool = False) -> None:
        # What the durable store would write: the batch's changed bindings, before the PBA.
        committed.append((len(lma.dirty), len(lma.cache)))
        lma.dirty.clear()
        send()

    shell.commit = commit
    loop = asyncio.new_event_loop()
    shell.start(loop)
    try:
        check_refusal(lab, shell, lma, dataplane, mh, committed)
    finally:
        shell.stop()
        loop.close()
        mh.close()


def check_refusal(lab, shell, lma, dataplane, mh, committed) -> None:  # noqa: F811
    lab.ip("lma", "link", "set", "core0", "down")
    shell.run(lma.receive(PCOA["mag1"], pbu(1)))

    [(destination, data)] = mh.sent
    pba = decode(data)
    assert destination == PCOA["mag1"] and isinstance(pba, ProxyBindingAck)
    assert (pba.status, pba.lifetime_units, pba.sequence) == (Status.INSUFFICIENT_RESOURCES, 0, 1)
    assert committed == [(1, 0)], "the removal is committed before the PBA leaves"
    assert len(lma.cache) == 0 and lma.pool.in_use == 0
    assert lma.counters["route_failed"] == 1
    assert dataplane.counters["route_errors"] >= 1
    assert "2001:db8:100:" not in lab.ip("lma", "-6", "route")
    assert dataplane.desired == {} and dataplane.failed == {}, "no retry of a dropped binding"

    # The link back: the MAG's next attempt is accepted and routed.
    lab.ip("lma", "link", "set", "core0", "up")
    shell.run(lma.receive(PCOA["mag1"], pbu(2)))
    accepted = decode(mh.sent[-1][1])
    assert accepted.status == Status.ACCEPTED and len(lma.cache) == 1
    [hnp] = accepted.home_network_prefixes
    assert str(hnp) in lab.ip("lma", "-6", "route")
    assert lma.counters["route_failed"] == 1
