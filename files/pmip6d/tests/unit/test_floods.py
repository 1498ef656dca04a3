"""Flood bounds of the syslog trigger (triggers/floodguard.py) and the control socket."""

from __future__ import annotations

import asyncio
import json

from test_triggers_sources import ASSOC

from pmip6d.config import RateLimits
from pmip6d.daemon.control import ControlServer
from pmip6d.triggers import L2Event, SyslogListener
from pmip6d.triggers.events import Ignored
from pmip6d.triggers.floodguard import SyslogGuard, guard_sources

AP = "2001:db8:1::2"
OTHER_AP = "2001:db8:1::3"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def guarded(clock: Clock, **limits) -> SyslogListener:
    lis = SyslogListener({AP: None, OTHER_AP: None}, clock=clock)
    guard_sources([lis], RateLimits(**limits))
    return lis


def test_lines_per_source_are_bounded_and_counted():
    clock = Clock()
    lis = guarded(clock, syslog_lines_per_source=10.0, syslog_line_burst=20)
    results = [lis.receive(ASSOC, AP) for _unused in range(100)]
    assert sum(isinstance(r, L2Event) for r in results) == 20
    assert lis.counters["dropped.rate_limited"] == 80
    assert isinstance(lis.receive(ASSOC, OTHER_AP), L2Event)  # its own bucket
    clock.now = 1.0
    assert sum(isinstance(lis.receive(ASSOC, AP), L2Event) for _unused in range(20)) == 10


def test_long_lines_are_dropped_before_parsing():
    lis = guarded(Clock(), syslog_max_line=128)
    result = lis.receive(ASSOC + b" " * 200, AP)
    assert isinstance(result, Ignored) and result.reason == "too_long"
    assert lis.counters["dropped.too_long"] == 1 and lis.counters["events"] == 0
    assert isinstance(lis.receive(ASSOC, AP), L2Event)


def test_untrusted_sources_do_not_get_buckets():
    lis = guarded(Clock())
    for i in range(1000):
        lis.receive(ASSOC, f"2001:db8:9::{i:x}")
    assert lis.counters["untrusted_source"] == 1000
    assert len(lis.guard._limiter._buckets) == 0


def test_guard_defaults_take_rfc_5426_lengths():
    limits = RateLimits()
    guard = SyslogGuard(1.0, 1, limits.syslog_max_line)
    assert guard.admit(AP, 2048, 0.0) is None
    assert guard.admit(AP, 2049, 0.0) == "too_long"


async def ask(path, payload: bytes) -> dict:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(payload)
    await writer.drain()
    answer = json.loads(await reader.readline())
    writer.close()
    return answer


def test_control_socket_bounds_request_size_and_clients(tmp_path):
    async def scenario() -> None:
        server = ControlServer(
            tmp_path / "c.sock", {"ping": lambda: "pong"}, max_clients=2, max_request=1024
        )
        await server.start()
        try:
            assert (await ask(server.path, b'{"cmd": "ping"}\n'))["data"] == "pong"
            answer = await ask(server.path, b"x" * 5000 + b"\n")
            assert answer["ok"] is False and "longer than 1024" in answer["error"]
            assert server.counters["requests_too_long"] == 1
            idle = [await asyncio.open_unix_connection(str(server.path)) for _unused in range(2)]
            await asyncio.sleep(0.05)  # both accepted and counted by the server
            answer = await ask(server.path, b'{"cmd": "ping"}\n')
            assert answer["ok"] is False and "too many control clients" in answer["error"]
            assert server.counters["clients_refused"] == 1
            for _reader, writer in idle:
                writer.close()
            await asyncio.sleep(0.05)
            assert (await ask(server.path, b'{"cmd": "ping"}\n'))["data"] == "pong"
        finally:
            await server.close()

    asyncio.run(scenario())
