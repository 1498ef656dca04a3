"""Kernel arrival times (pmip6d.arrival) and where the MAG's handover timeline uses them."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from test_triggers_sources import ASSOC, send_udp

from pmip6d.actions import ServeMobileNode
from pmip6d.arrival import SO_TIMESTAMPNS, on_clock, wall_arrival
from pmip6d.daemon.timeline import Timeline
from pmip6d.triggers.sources import AccessPoint, SyslogListener
from pmip6d.wire.messages import ProxyBindingUpdate

MAC = bytes.fromhex("020000000101")


def stamp(seconds: int, nanoseconds: int) -> tuple[int, int, bytes]:
    return (socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@qq", seconds, nanoseconds))


def test_wall_arrival_reads_the_timestamp_and_nothing_else():
    assert wall_arrival([stamp(1000, 500_000_000)]) == 1000.5
    pktinfo = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, bytes(20))
    assert wall_arrival([pktinfo, stamp(7, 0)]) == 7.0
    assert wall_arrival([pktinfo]) is None
    assert wall_arrival([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"\x00" * 8)]) is None  # truncated


def test_on_clock_moves_an_arrival_by_its_age():
    assert on_clock(1000.0, lambda: 50.0, lambda: 1000.25) == 49.75
    assert on_clock(None, lambda: 50.0, lambda: 1000.25) == 50.0  # no timestamp: now
    # A wall clock stepped back (NTP) would make the datagram arrive in the future:
    # it is taken as arrived now, never later than it was read.
    assert on_clock(1001.0, lambda: 50.0, lambda: 1000.25) == 50.0


def test_a_syslog_event_is_timed_at_its_arrival_not_when_the_agent_got_to_it():
    lis = SyslogListener({"127.0.0.1": AccessPoint("ap1")}, listen="127.0.0.1", port=0)
    events, read = [], []

    async def main():
        loop = asyncio.get_running_loop()
        lis.start(loop, lambda e: (events.append(e), read.append(time.monotonic())))
        try:
            send_udp(ASSOC, lis.address[1], "127.0.0.1", src="127.0.0.1")
            time.sleep(0.2)  # the agent is busy: the datagram waits in the socket
            for _tick in range(200):
                if events:
                    break
                await asyncio.sleep(0.01)
        finally:
            lis.close()
            await lis.wait_closed()

    asyncio.run(main())
    assert len(events) == 1
    waited = read[0] - events[0].received_at
    assert 0.15 < waited < 5.0


def test_the_timeline_reports_what_waited_in_the_sockets():
    class Binding:  # what the timeline reads of a MobileNodeBinding
        mac = MAC

    line = Timeline()
    line.layer2(MAC, 10.000, "syslog", read_at=10.002)
    line.layer2_decided(MAC, 10.0025)
    line.message_sent(ProxyBindingUpdate(1, 10, mn_id=b"mn", mn_link_layer_id=MAC), 10.003)
    line.routed(MAC, 10.0041)  # before the PBA: not this handover's routes
    line.message_handled([ServeMobileNode(Binding())], 10.004, 10.0045)
    decided = line._open[MAC].pba_decided_at
    assert decided is not None and decided > 10.0045
    line._open[MAC].pba_decided_at = 10.0046  # monotonic "now" above; pinned for the sums
    line.routed(MAC, 10.0048)
    line.ra_sent(MAC, 10.005)
    (row,) = line.rows()
    assert row["l2_queued_ms"] == 2.0
    assert (row["l2_decide_ms"], row["pbu_out_ms"]) == (0.5, 0.5)
    assert row["pba_queued_ms"] == 0.5
    assert (row["pba_decide_ms"], row["routes_ms"], row["ra_out_ms"]) == (0.1, 0.2, 0.2)
    assert (row["l2_to_pbu_ms"], row["pbu_to_pba_ms"], row["total_ms"]) == (3.0, 1.0, 5.0)
