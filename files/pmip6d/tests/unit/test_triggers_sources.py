"""Trigger sources over real sockets (loopback UDP, a fake hostapd), trust, registry, tracker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pmip6d.config import ConfigError
from pmip6d.triggers import (
    AccessPoint,
    HostapdSource,
    Ignored,
    L2Event,
    StationTracker,
    SyslogListener,
    Unparsable,
    build_sources,
    handoff_indicator,
    normalize_address,
)
from pmip6d.wire.constants import HandoffIndicator

MAC = bytes.fromhex("001122334455")
OTHER = bytes.fromhex("0a1b2c3d4e5f")
HEADER = "<190>123: *Mar  1 00:03:25.123: "
ASSOC = (
    HEADER + "%DOT11-6-ASSOC: Interface Dot11Radio0, Station   0011.2233.4455 "
    "Reassociated KEY_MGMT[WPAv2 PSK]"
).encode()
ROAMED = (HEADER + "%DOT11-6-ROAMED: Station 0011.2233.4455 Roamed to 0022.3344.5566").encode()
OTHER_MNEMONIC = (HEADER + "%LINK-3-UPDOWN: Interface Dot11Radio0, changed state to up").encode()
GARBAGE = b"<190>123: %DOT11-6-ASSOC: Interface Dot11Radio0, Station   0011.2233.44zz Associated"
DEADLINE = 5.0


async def wait_for(predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- sans-IO core


def listener(**kw) -> SyslogListener:
    aps = kw.pop(
        "aps",
        {
            "2001:db8:1::2": {"name": "ap1", "interface": "eth1"},
            "192.0.2.10": None,
        },
    )
    return SyslogListener(aps, clock=lambda: 42.0, **kw)


def test_trusted_ap_event_gets_configured_name_and_interface():
    lis = listener()
    event = lis.receive(ASSOC, "2001:DB8:1:0::2")
    assert isinstance(event, L2Event)
    assert (event.kind, event.mac, event.handoff_hint) == ("attach", MAC, "reassociation")
    assert (event.source, event.ap, event.interface) == ("2001:db8:1::2", "ap1", "eth1")
    assert event.received_at == 42.0
    assert lis.counters["events"] == 1


def test_ap_without_settings_uses_listener_interface_and_syslog_hostname():
    lis = listener(interface="wlan-bridge")
    line = b"<190>Mar  1 00:03:25 ap7 " + ROAMED[len(HEADER) :]
    event = lis.receive(line, "::ffff:192.0.2.10")
    assert isinstance(event, L2Event)
    assert (event.source, event.ap, event.interface) == ("192.0.2.10", "ap7", "wlan-bridge")
    assert event.kind == "detach" and event.reason == "Roamed"


@pytest.mark.parametrize("source", ["2001:db8:1::3", "192.0.2.11", "::1", "fe80::2%eth0", "junk"])
def test_spoofed_line_from_untrusted_address_is_counted_and_dropped(source):
    lis = listener()
    seen: list[str] = []
    lis.parser = lambda *a, **k: seen.append("parsed")  # untrusted data is never parsed
    result = lis.receive(ASSOC, source)
    assert isinstance(result, Ignored) and result.reason == "untrusted_source"
    assert lis.counters["untrusted_source"] == 1
    assert lis.counters["events"] == 0
    assert seen == []


def test_counters_for_each_outcome():
    lis = listener()
    lis.receive(ASSOC, "192.0.2.10")
    lis.receive(OTHER_MNEMONIC, "192.0.2.10")
    lis.receive(GARBAGE, "192.0.2.10")
    lis.receive(b"\x16\x03\x01\x00", "192.0.2.10")
    lis.receive(ASSOC, "192.0.2.99")
    c = lis.counters
    assert (c["events"], c["ignored_mnemonic"], c["unparsable"], c["untrusted_source"]) == (
        1,
        1,
        2,
        1,
    )
    assert c["unparsable.bad_mac"] == 1 and c["unparsable.control_characters"] == 1


def test_normalize_address():
    assert normalize_address("::ffff:127.0.0.1") == "127.0.0.1"
    assert normalize_address("2001:DB8::0:2") == "2001:db8::2"
    assert normalize_address("[fe80::1%eth0]") == "fe80::1"
    with pytest.raises(ValueError):
        normalize_address("ap1.example")


# --------------------------------------------------------------------------- UDP on loopback


def send_udp(data: bytes, port: int, dst: str, src: str) -> None:
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.sendto(data, (dst, port))


async def run_listener(lis: SyslogListener, script) -> list[L2Event]:
    events: list[L2Event] = []
    lis.start(asyncio.get_running_loop(), events.append)
    try:
        await script(lis, events)
    finally:
        lis.close()
        await lis.wait_closed()
    return events


def test_udp_ipv4_trust_is_decided_by_the_sender_address():
    lis = SyslogListener({"127.0.0.1": AccessPoint("ap1", "eth1")}, listen="127.0.0.1", port=0)

    async def script(lis, events):
        port = lis.address[1]
        assert port != 0
        send_udp(ASSOC, port, "127.0.0.1", src="127.0.0.2")  # right text, wrong AP
        await wait_for(lambda: lis.counters["untrusted_source"] == 1)
        assert events == []
        send_udp(ASSOC, port, "127.0.0.1", src="127.0.0.1")
        await wait_for(lambda: len(events) == 1)
        send_udp(OTHER_MNEMONIC, port, "127.0.0.1", src="127.0.0.1")
        send_udp(GARBAGE, port, "127.0.0.1", src="127.0.0.1")
        send_udp(ROAMED, port, "127.0.0.1", src="127.0.0.1")
        await wait_for(lambda: len(events) == 2)

    events = asyncio.run(run_listener(lis, script))
    assert [(e.kind, e.mac, e.ap, e.interface, e.source) for e in events] == [
        ("attach", MAC, "ap1", "eth1", "127.0.0.1"),
        ("detach", MAC, "ap1", "eth1", "127.0.0.1"),
    ]
    assert events[0].received_at > 0
    c = lis.counters
    assert (c["events"], c["untrusted_source"], c["ignored_mnemonic"], c["unparsable"]) == (
        2,
        1,
        1,
        1,
    )


def test_udp_ipv6_loopback():
    lis = SyslogListener({"::1": {"name": "ap6"}}, listen="::1", port=0)

    async def script(lis, events):
        send_udp(ASSOC, lis.address[1], "::1", src="::1")
        await wait_for(lambda: len(events) == 1)

    events = asyncio.run(run_listener(lis, script))
    assert events[0].source == "::1" and events[0].ap == "ap6"


def test_udp_ipv6_loopback_not_on_the_list_is_untrusted():
    lis = SyslogListener({"2001:db8::2": None}, listen="::1", port=0)

    async def script(lis, events):
        send_udp(ASSOC, lis.address[1], "::1", src="::1")
        await wait_for(lambda: lis.counters["untrusted_source"] == 1)

    assert asyncio.run(run_listener(lis, script)) == []


def test_udp_bound_to_one_address_does_not_hear_the_others():
    """Bound to the AP-facing address, syslog sent to another of the host's addresses
    (an MN's router address, say) never reaches the listener, whatever its source."""
    lis = SyslogListener({"127.0.0.1": AccessPoint("ap1", "eth1")}, listen="127.0.0.1", port=0)

    async def script(lis, events):
        port = lis.address[1]
        # Loopback delivers in order while sendto runs: the first datagram would be
        # queued before the second, had the socket been bound to it.
        send_udp(ASSOC, port, "127.0.0.2", src="127.0.0.1")
        send_udp(ROAMED, port, "127.0.0.1", src="127.0.0.1")
        await wait_for(lambda: len(events) == 1)

    events = asyncio.run(run_listener(lis, script))
    assert [e.kind for e in events] == ["detach"]
    assert lis.counters["events"] == 1 and lis.counters["untrusted_source"] == 0


def test_udp_dual_stack_wildcard_sees_ipv4_aps_by_their_ipv4_address():
    lis = SyslogListener({"127.0.0.1": None, "::1": None}, listen="::", port=0)

    async def script(lis, events):
        port = lis.address[1]
        send_udp(ASSOC, port, "127.0.0.1", src="127.0.0.2")
        await wait_for(lambda: lis.counters["untrusted_source"] == 1)
        send_udp(ASSOC, port, "127.0.0.1", src="127.0.0.1")
        send_udp(ROAMED, port, "::1", src="::1")
        await wait_for(lambda: len(events) == 2)

    events = asyncio.run(run_listener(lis, script))
    assert sorted(e.source for e in events) == ["127.0.0.1", "::1"]


def test_a_failing_sink_is_counted_and_the_listener_keeps_going():
    lis = SyslogListener({"127.0.0.1": None}, listen="127.0.0.1", port=0)
    calls: list[L2Event] = []

    def sink(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")

    async def main():
        lis.start(asyncio.get_running_loop(), sink)
        try:
            send_udp(ASSOC, lis.address[1], "127.0.0.1", src="127.0.0.1")
            send_udp(ROAMED, lis.address[1], "127.0.0.1", src="127.0.0.1")
            await wait_for(lambda: len(calls) == 2)
        finally:
            lis.close()

    asyncio.run(main())
    assert lis.counters["sink_errors"] == 1 and lis.counters["events"] == 2


def test_close_releases_the_port():
    lis = SyslogListener({"127.0.0.1": None}, listen="127.0.0.1", port=0)

    async def main():
        lis.start(asyncio.get_running_loop(), lambda e: None)
        port = lis.address[1]
        lis.close()
        lis.close()  # twice is fine
        again = SyslogListener({"127.0.0.1": None}, listen="127.0.0.1", port=port)
        again.start(asyncio.get_running_loop(), lambda e: None)
        again.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- fake hostapd


class FakeHostapd:
    """Enough of hostapd's control interface: ATTACH/DETACH/PING/STA-FIRST/STA-NEXT, events."""

    def __init__(self, path: Path, stations: list[tuple[str, str]] | None = None) -> None:
        self.path = str(path)
        self.stations = stations or []  # (mac, flags)
        self.clients: list[str] = []
        self.commands: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            self.commands.append(data)
            self.sock.sendto(self._answer(data, addr), addr)

    def _answer(self, cmd: bytes, addr: str) -> bytes:
        if cmd == b"ATTACH":
            self.clients.append(addr)
            return b"OK\n"
        if cmd == b"DETACH":
            if addr in self.clients:
                self.clients.remove(addr)
            return b"OK\n"
        if cmd == b"PING":
            return b"PONG\n"
        if cmd == b"STA-FIRST":
            return self._sta(0)
        if cmd.startswith(b"STA-NEXT "):
            mac = cmd.split()[1].decode()
            index = [m for m, _unused in self.stations].index(mac)
            return self._sta(index + 1)
        return b"UNKNOWN COMMAND\n"

    def _sta(self, index: int) -> bytes:
        if index >= len(self.stations):
            return b""
        mac, flags = self.stations[index]
        return f"{mac}\nflags={flags}\naid={index + 1}\n".encode()

    def event(self, text: str) -> None:
        for client in self.clients:
            with contextlib.suppress(OSError):
                self.sock.sendto(text.encode(), client)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def hostapd_source(tmp_path: Path, **kw) -> HostapdSource:
    kw.setdefault("ping_interval", 0.05)
    kw.setdefault("reply_timeout", 0.5)
    kw.setdefault("retry_min", 0.02)
    kw.setdefault("retry_max", 0.1)
    kw.setdefault("resync", False)
    return HostapdSource(tmp_path / "wlan0", interface="wlan0", local_dir=tmp_path / "client", **kw)


async def wait_attached(fake: FakeHostapd, n: int = 1) -> None:
    await wait_for(lambda: len(fake.clients) >= n)


def test_hostapd_events_reach_the_sink(tmp_path):
    (tmp_path / "client").mkdir()
    source = hostapd_source(tmp_path, name="ap-wlan0")
    events: list[L2Event] = []

    async def main():
        fake = FakeHostapd(tmp_path / "wlan0")
        source.start(asyncio.get_running_loop(), events.append)
        try:
            await wait_attached(fake)
            await wait_for(source.attached.is_set)
            fake.event("<3>AP-STA-CONNECTED 02:00:00:00:01:01 keyid=guest")
            fake.event("<3>AP-STA-POSSIBLE-PSK-MISMATCH 02:00:00:00:01:01")
            fake.event("<3>AP-STA-CONNECTED 02:00:00:00:01")
            fake.event("<3>AP-STA-DISCONNECTED 02:00:00:00:01:01")
            await wait_for(lambda: len(events) == 2)
            await wait_for(lambda: b"PING" in fake.commands)  # liveness checks run
        finally:
            source.close()
            await source.wait_closed()
        await wait_for(lambda: fake.clients == [])  # DETACH sent on close
        fake.close()

    asyncio.run(main())
    mac = bytes.fromhex("020000000101")
    assert [(e.kind, e.mac, e.interface, e.ap, e.reason) for e in events] == [
        ("attach", mac, "wlan0", "ap-wlan0", "Connected"),
        ("detach", mac, "wlan0", "ap-wlan0", "Disconnected"),
    ]
    assert events[0].detail == "keyid=guest"
    assert events[0].source == str(tmp_path / "wlan0")
    c = source.counters
    assert (c["events"], c["ignored_event"], c["unparsable"], c["connects"]) == (2, 1, 1, 1)
    assert list((tmp_path / "client").iterdir()) == []  # client socket removed


def test_hostapd_restart_is_followed(tmp_path):
    source = hostapd_source(tmp_path)
    events: list[L2Event] = []

    async def main():
        fake = FakeHostapd(tmp_path / "wlan0")
        source.start(asyncio.get_running_loop(), events.append)
        try:
            await wait_attached(fake)
            fake.close()  # hostapd dies: the next PING fails
            await wait_for(lambda: source.counters["lost"] == 1)
            await asyncio.sleep(0.15)  # a few failed reconnects while it is down
            fake = FakeHostapd(tmp_path / "wlan0")  # and comes back
            await wait_attached(fake)
            fake.event("<3>AP-STA-CONNECTED 02:00:00:00:02:02")
            await wait_for(lambda: len(events) == 1)
        finally:
            source.close()
            await source.wait_closed()
            fake.close()

    (tmp_path / "client").mkdir()
    asyncio.run(main())
    assert events[0].mac == bytes.fromhex("020000000202")
    assert source.counters["connects"] == 2


def test_hostapd_terminating_event_triggers_a_reconnect(tmp_path):
    source = hostapd_source(tmp_path, ping_interval=30.0)  # no ping would notice in time
    events: list[L2Event] = []

    async def main():
        fake = FakeHostapd(tmp_path / "wlan0")
        source.start(asyncio.get_running_loop(), events.append)
        try:
            await wait_attached(fake)
            fake.event("<3>CTRL-EVENT-TERMINATING")
            await wait_for(lambda: source.counters["lost"] == 1)
            await wait_attached(fake, 2)  # same socket still there: attached again
            fake.event("<3>AP-STA-DISCONNECTED 02:00:00:00:02:02")
            await wait_for(lambda: len(events) == 1)
        finally:
            source.close()
            await source.wait_closed()
            fake.close()

    (tmp_path / "client").mkdir()
    asyncio.run(main())
    assert events[0].kind == "detach"


def test_hostapd_not_running_yet(tmp_path):
    source = hostapd_source(tmp_path)
    events: list[L2Event] = []

    async def main():
        source.start(asyncio.get_running_loop(), events.append)
        try:
            await asyncio.sleep(0.1)
            assert not source.attached.is_set()
            fake = FakeHostapd(tmp_path / "wlan0")
            await wait_attached(fake)
            await wait_for(source.attached.is_set)
        finally:
            source.close()
            await source.wait_closed()
        fake.close()

    (tmp_path / "client").mkdir()
    asyncio.run(main())
    assert source.counters["connects"] == 1


def test_hostapd_resync_reports_associated_stations(tmp_path):
    source = hostapd_source(tmp_path, resync=True)
    events: list[L2Event] = []
    stations = [
        ("02:00:00:00:01:01", "[AUTH][ASSOC][AUTHORIZED]"),
        ("02:00:00:00:02:02", "[AUTH]"),
        ("02:00:00:00:03:03", "[AUTH][ASSOC]"),
    ]

    async def main():
        fake = FakeHostapd(tmp_path / "wlan0", stations)
        source.start(asyncio.get_running_loop(), events.append)
        try:
            await wait_for(lambda: len(events) == 2)
            await wait_for(lambda: b"STA-NEXT 02:00:00:00:03:03" in fake.commands)
        finally:
            source.close()
            await source.wait_closed()
            fake.close()

    (tmp_path / "client").mkdir()
    asyncio.run(main())
    assert [e.mac.hex() for e in events] == ["020000000101", "020000000303"]
    assert {(e.kind, e.reason, e.interface) for e in events} == {("attach", "Present", "wlan0")}


# --------------------------------------------------------------------------- configuration


def test_build_sources_from_dicts():
    sources = build_sources(
        [
            {
                "type": "cisco-syslog",
                "listen": "2001:db8:1::1",
                "port": 514,
                "aps": {"2001:db8:1::2": {"name": "ap1", "interface": "eth1"}, "192.0.2.7": None},
            },
            {"type": "hostapd", "control": "/run/hostapd/wlan0", "interface": "wlan0"},
        ]
    )
    syslog, hostapd = sources
    assert isinstance(syslog, SyslogListener) and isinstance(hostapd, HostapdSource)
    assert syslog.aps == {
        "2001:db8:1::2": AccessPoint("ap1", "eth1"),
        "192.0.2.7": AccessPoint(),
    }
    assert (syslog.listen, syslog.port) == ("2001:db8:1::1", 514)
    assert (hostapd.control, hostapd.interface) == ("/run/hostapd/wlan0", "wlan0")
    for source in sources:
        assert source.counters["events"] == 0 and source.name


@pytest.mark.parametrize(
    "hint,indicator",
    [
        (None, HandoffIndicator.UNKNOWN),
        ("unknown", HandoffIndicator.UNKNOWN),
        ("reassociation", HandoffIndicator.SAME_INTERFACE),
        ("new", HandoffIndicator.NEW_INTERFACE),
    ],
)
def test_hostapd_connect_hint_sets_the_handoff_indicator_of_connects_only(hint, indicator):
    config = {"type": "hostapd", "control": "/run/hostapd/wlan0"}
    if hint is not None:
        config["connect_hint"] = hint
    (source,) = build_sources([config])
    assert isinstance(source, HostapdSource)
    attach = source.receive(b"<3>AP-STA-CONNECTED 02:00:00:00:01:01")
    detach = source.receive(b"<3>AP-STA-DISCONNECTED 02:00:00:00:01:01")
    assert isinstance(attach, L2Event) and isinstance(detach, L2Event)
    assert handoff_indicator(attach) == indicator
    assert detach.handoff_hint is None


def test_wildcard_listen_only_when_asked_for():
    (syslog,) = build_sources(
        [{"type": "cisco-syslog", "listen_any": True, "listen": "::", "aps": {"::1": None}}]
    )
    assert isinstance(syslog, SyslogListener) and syslog.listen == "::"
    (syslog,) = build_sources(
        [{"type": "cisco-syslog", "listen": "192.0.2.129", "aps": {"192.0.2.130": None}}]
    )
    assert isinstance(syslog, SyslogListener) and syslog.listen == "192.0.2.129"


@pytest.mark.parametrize(
    "config,message",
    [
        ({"type": "snmp-trap"}, "triggers[0].type: 'snmp-trap' is not a trigger type"),
        (
            {"type": "hostapd", "control": "/run/hostapd/wlan0", "connect_hint": "roam"},
            "triggers[0].connect_hint: Input should be 'unknown', 'reassociation' or 'new'",
        ),
        ({"listen": "::"}, "triggers[0].type: None is not a trigger type"),
        ({"type": "cisco-syslog", "listen": "::1", "aps": {}}, "triggers[0].aps: "),
        ({"type": "cisco-syslog", "listen": "::1"}, "triggers[0].aps: Field required"),
        (
            {"type": "cisco-syslog", "aps": {"::1": None}},
            "triggers[0].listen: give the MAG's address the APs send syslog to",
        ),
        (
            {"type": "cisco-syslog", "listen": "::", "aps": {"::1": None}},
            "triggers[0].listen: '::' listens on every interface",
        ),
        (
            {"type": "cisco-syslog", "listen": "0.0.0.0", "aps": {"::1": None}},
            "triggers[0].listen: '0.0.0.0' listens on every interface",
        ),
        (
            {"type": "cisco-syslog", "listen_any": False, "listen": "[::]", "aps": {"::1": None}},
            "triggers[0].listen: '[::]' listens on every interface",
        ),
        (
            {"type": "cisco-syslog", "listen": "::1", "aps": {"ap1.example": None}},
            "triggers[0].aps: 'ap1.example' is not an IP address",
        ),
        (
            {
                "type": "cisco-syslog",
                "listen": "::1",
                "aps": {"2001:db8::2": None, "2001:DB8::0:2": None},
            },
            "listed twice",
        ),
        (
            {"type": "cisco-syslog", "listen": "any", "aps": {"::1": None}},
            "triggers[0].listen: 'any' is not an IP address",
        ),
        (
            {"type": "cisco-syslog", "listen": "::1", "port": 70000, "aps": {"::1": None}},
            "triggers[0].port",
        ),
        (
            {"type": "cisco-syslog", "listen": "::1", "aps": {"::1": {"nmae": "typo"}}},
            "triggers[0].aps.::1.nmae: Extra inputs are not permitted",
        ),
        (
            {
                "type": "cisco-syslog",
                "listen": "::1",
                "aps": {"::1": {"interface": "a-very-long-interface"}},
            },
            "triggers[0].aps.::1.interface",
        ),
        ({"type": "hostapd"}, "triggers[0].control: Field required"),
        ({"type": "hostapd", "control": "/x", "ping_interval": 0}, "triggers[0].ping_interval"),
        ("hostapd", "triggers[0]: expected a mapping"),
    ],
)
def test_build_sources_errors(config, message):
    with pytest.raises(ConfigError) as err:
        build_sources([config])
    assert message in str(err.value)


# --------------------------------------------------------------------------- tracker


def ev(kind: str, source: str, radio: str | None = "Dot11Radio0", mac: bytes = MAC) -> L2Event:
    return L2Event(kind, mac, source, None, None, None, "x", "", 0.0, radio)


def test_tracker_drops_a_late_detach_from_the_ap_the_station_left():
    tracker = StationTracker()
    passed: list[L2Event] = []
    sink = tracker.wrap(passed.append)
    sink(ev("attach", "ap1"))
    sink(ev("attach", "ap2"))  # reassociated at ap2 ...
    sink(ev("detach", "ap1", radio=None))  # ... ap1's ROAMED arrives late
    assert [e.source for e in passed] == ["ap1", "ap2"]
    assert tracker.counters["stale_detach"] == 1
    sink(ev("detach", "ap2", radio=None))  # leaving ap2 is real
    assert len(passed) == 3 and len(tracker) == 0


def test_tracker_radio_change_on_one_ap():
    tracker = StationTracker()
    assert tracker.accept(ev("attach", "ap1", "Dot11Radio1"))
    assert not tracker.accept(ev("detach", "ap1", "Dot11Radio0"))  # old band, stale
    assert tracker.accept(ev("detach", "ap1", "Dot11Radio1"))


def test_tracker_passes_detach_for_unknown_station_and_is_bounded():
    tracker = StationTracker(capacity=2)
    assert tracker.accept(ev("detach", "ap1"))
    for i in range(5):
        tracker.accept(ev("attach", "ap1", mac=bytes([2, 0, 0, 0, 0, i])))
    assert len(tracker) == 2
    # The oldest were forgotten: their detaches pass whatever their source.
    assert tracker.accept(ev("detach", "ap9", mac=bytes([2, 0, 0, 0, 0, 0])))
    assert not tracker.accept(ev("detach", "ap9", mac=bytes([2, 0, 0, 0, 0, 4])))


def test_unparsable_and_ignored_render_for_logs():
    assert str(Unparsable("bad_mac", "x")) == "bad_mac: x"
    assert str(Ignored("ignored_mnemonic")) == "ignored_mnemonic"
    assert str(ev("attach", "192.0.2.1")) == "attach 00:11:22:33:44:55 at 192.0.2.1 (x)"
