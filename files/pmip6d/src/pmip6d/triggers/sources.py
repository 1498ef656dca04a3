"""The I/O side of layer-2 triggers: sockets in, :class:`L2Event` out to a sink.

Every source follows :class:`TriggerSource`: ``start(loop, sink)`` opens what
it needs and calls ``sink(event)`` for each station attach/detach; ``close()``
stops it; ``counters`` says what it saw. Parsing is left to the pure modules
(:mod:`.syslog`, :mod:`.cisco`, :mod:`.hostapd`); this file only reads sockets,
decides whom to trust and stamps the receive time.

:func:`build_sources` turns plain configuration dicts into sources::

    {"type": "cisco-syslog", "listen": "2001:db8:1::1", "port": 514,
     "aps": {"2001:db8:1::2": {"name": "ap1", "interface": "eth1"}}}
    {"type": "hostapd", "control": "/run/hostapd/wlan0", "interface": "wlan0"}

Trust in syslog is by source address only; UDP source addresses can be
forged, so the access network should filter packets claiming AP addresses
(uRPF / ACLs; the mag role installs nftables rules by interface and MAC) —
this layer counts and drops whatever is not on the list. The configuration
binds the listener to the one address the APs send to: a wildcard (``::``,
``0.0.0.0``) would also take syslog arriving on the MNs' links, so it is
refused unless ``listen_any: true`` says it is meant.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..arrival import ANCILLARY, SO_TIMESTAMPNS, arrival
from ..config import ConfigError, Name, field_path
from ..rules import INTERFACE_PATTERN, mac_text
from .apsyslog import parse_ap_datagram
from .events import HandoffHint, Ignored, L2Event, ParseResult, Unparsable
from .floodguard import SyslogGuard
from .hostapd import TERMINATING, event_name, is_event, parse_hostapd_event, parse_sta_reply

log = logging.getLogger("pmip6d.triggers")

Sink = Callable[[L2Event], None]
Clock = Callable[[], float]

_BATCH = 256
_RECV_BUFFER = 1 << 20


class TriggerSource(Protocol):
    """A pluggable source of layer-2 attach/detach events."""

    name: str
    counters: Counter[str]

    def start(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        """Open sockets/tasks on ``loop``; call ``sink`` for every event. Raises OSError."""

    def close(self) -> None:
        """Stop at once; safe to call twice."""

    async def wait_closed(self) -> None:
        """Wait until background tasks are gone (after :meth:`close`)."""


def normalize_address(text: str) -> str:
    """``::ffff:192.0.2.1`` → ``192.0.2.1``, ``2001:DB8::0:2`` → ``2001:db8::2``, scope dropped.

    Raises ValueError for anything that is not an IP address.
    """
    addr = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.compressed


def _count(counters: Counter[str], result: ParseResult) -> None:
    if isinstance(result, L2Event):
        counters["events"] += 1
        counters[f"events.{result.kind}"] += 1
    elif isinstance(result, Ignored):
        counters[result.reason] += 1
    else:
        counters["unparsable"] += 1
        counters[f"unparsable.{result.reason}"] += 1


def _deliver(source: TriggerSource, sink: Sink | None, event: L2Event) -> None:
    if sink is None:
        return
    try:
        sink(event)
    except Exception:
        # The consumer's bug must not kill the socket reader.
        source.counters["sink_errors"] += 1
        log.exception("%s: the event sink failed on %s", source.name, event)


# --------------------------------------------------------------------------- Cisco syslog


@dataclass(slots=True, frozen=True)
class AccessPoint:
    """What the MAG knows about one trusted AP: its name and the access interface behind it."""

    name: str | None = None
    interface: str | None = None
    connect_hint: HandoffHint | None = None
    """For a hostapd AP's event lines: what a connect means (Cisco lines say it)."""


SYSLOG_COUNTERS = ("events", "untrusted_source", "unparsable", "ignored_mnemonic")


class SyslogListener:
    """UDP syslog receiver for APs (Cisco DOT11 or hostapd lines); only configured AP
    addresses are believed."""

    kind = "cisco-syslog"

    def __init__(
        self,
        aps: Mapping[str, AccessPoint | Mapping[str, Any] | None],
        *,
        listen: str = "::",
        port: int = 514,
        interface: str | None = None,
        name: str | None = None,
        clock: Clock = time.monotonic,
        parser: Callable[..., ParseResult] = parse_ap_datagram,
    ) -> None:
        self.aps: dict[str, AccessPoint] = {}
        for address, ap in aps.items():
            if ap is None:
                ap = AccessPoint()
            elif not isinstance(ap, AccessPoint):
                ap = AccessPoint(
                    name=ap.get("name"),
                    interface=ap.get("interface"),
                    connect_hint=ap.get("connect_hint"),
                )
            self.aps[normalize_address(address)] = ap
        self.listen = listen
        self.port = port
        self.interface = interface
        self.name = name or f"cisco-syslog@{listen}:{port}"
        self.clock = clock
        self.parser = parser
        self.counters: Counter[str] = Counter(dict.fromkeys(SYSLOG_COUNTERS, 0))
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Sink | None = None
        self._warned: set[str] = set()
        self.guard: SyslogGuard | None = None
        """Per-AP line rate and line length bounds (set by the agent from rate_limits)."""

    # ------------------------------------------------------------------ sans-IO core

    def receive(self, data: bytes, source: str, arrived: float | None = None) -> ParseResult:
        """One datagram from ``source`` → result (counted). Untrusted senders are not parsed.

        ``arrived``: when the kernel received it, on ``clock``; None: now. It is the
        event's time, the start of the handover's L2→PBU phase."""
        # The kernel's text of an address is already canonical: normalize (≈ 30 µs of
        # ipaddress, a third of the line's cost) only what is not a configured AP as is.
        src = source
        ap = self.aps.get(src)
        if ap is None:
            try:
                src = normalize_address(source)
            except ValueError:
                src = source
            ap = self.aps.get(src)
        if ap is None:
            self.counters["untrusted_source"] += 1
            if len(self._warned) < 64 and src not in self._warned:
                self._warned.add(src)
                log.warning(
                    "%s: syslog from %s, which is not a configured AP: dropped", self.name, src
                )
            return Ignored("untrusted_source", src)
        if self.guard is not None:
            why = self.guard.admit(src, len(data), self.clock())
            if why is not None:
                self.counters[f"dropped.{why}"] += 1
                return Ignored(why, src)
        at = self.clock() if arrived is None else arrived
        result = self.parser(
            data,
            source=src,
            received_at=at,
            ap=ap.name,
            interface=ap.interface or self.interface,
            connect_hint=ap.connect_hint,
        )
        _count(self.counters, result)
        if isinstance(result, Unparsable):
            log.debug("%s: unparsable syslog from %s: %s", self.name, src, result)
        return result

    # ------------------------------------------------------------------ I/O

    @property
    def address(self) -> tuple[str, int]:
        """The bound address and port (the real port when configured as 0)."""
        if self._sock is None:
            return self.listen, self.port
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        if self._sock is not None:
            raise RuntimeError(f"{self.name} already started")
        self._sock = _udp_socket(self.listen, self.port)
        self._loop = loop
        self._sink = sink
        loop.add_reader(self._sock.fileno(), self._readable)
        log.info("%s: listening for %d AP(s)", self.name, len(self.aps))

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _unused in range(_BATCH):
            try:
                data, ancillary, _flags, addr = sock.recvmsg(65535, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP errors surfacing on the socket
                log.debug("%s: recvmsg: %s", self.name, exc)
                break
            result = self.receive(data, addr[0], arrival(ancillary, self.clock))
            if isinstance(result, L2Event):
                _deliver(self, self._sink, result)

    def close(self) -> None:
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def wait_closed(self) -> None:
        return None


def _udp_socket(listen: str, port: int) -> socket.socket:
    host = listen.strip().strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            # "::" also takes IPv4 APs (as ::ffff:a.b.c.d, normalised on receipt).
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
        with contextlib.suppress(OSError):  # the handover timeline starts at arrival
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------- hostapd


class _Lost(Exception):
    """The control connection to hostapd is gone (or never answered)."""


_local_names = itertools.count(1)
HOSTAPD_COUNTERS = ("events", "unparsable", "ignored_event", "connects", "lost")


class HostapdSource:
    """Follows one hostapd control socket (``ATTACH``), reconnecting when hostapd restarts.

    Liveness is checked with ``PING`` every ``ping_interval`` seconds; a
    ``CTRL-EVENT-TERMINATING`` event or a failed ping makes it reconnect with
    back-off. With ``resync`` the stations already associated are reported as
    attaches (reason ``Present``) after each (re)connection, so none is missed
    while the MAG or hostapd was down.
    """

    kind = "hostapd"

    def __init__(
        self,
        control: str | os.PathLike[str],
        *,
        interface: str | None = None,
        name: str | None = None,
        ping_interval: float = 10.0,
        reply_timeout: float = 2.0,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        resync: bool = True,
        local_dir: str | os.PathLike[str] | None = None,
        connect_hint: HandoffHint | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.control = str(control)
        self.interface = interface
        self.ap_name = name
        self.name = name or f"hostapd@{self.control}"
        self.ping_interval = ping_interval
        self.reply_timeout = reply_timeout
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.resync = resync
        self.connect_hint = connect_hint
        self.local_dir = str(local_dir) if local_dir is not None else tempfile.gettempdir()
        self.clock = clock
        self.counters: Counter[str] = Counter(dict.fromkeys(HOSTAPD_COUNTERS, 0))
        self.attached = asyncio.Event()
        """Set while ATTACHed to hostapd (for tests and status)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Sink | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._local_path: str | None = None
        self._replies: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)
        self._lost = asyncio.Event()
        self._closing = False

    # ------------------------------------------------------------------ sans-IO core

    def receive(self, data: bytes) -> ParseResult:
        """One unsolicited event datagram → result (counted)."""
        result = parse_hostapd_event(
            data,
            source=self.control,
            interface=self.interface,
            received_at=self.clock(),
            connect_hint=self.connect_hint,
        )
        if isinstance(result, L2Event) and self.ap_name:
            result = replace(result, ap=self.ap_name)
        _count(self.counters, result)
        return result

    # ------------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} already started")
        self._loop = loop
        self._sink = sink
        self._closing = False
        self._task = loop.create_task(self._run(), name=self.name)

    def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        self._disconnect(detach=True)

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = self.retry_min
        announced_down = False
        while not self._closing:
            try:
                await self._connect()
            except (OSError, _Lost, asyncio.TimeoutError) as exc:
                self._disconnect()
                if not announced_down:
                    log.warning("%s: cannot attach to hostapd: %s; retrying", self.name, exc)
                    announced_down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_min
            announced_down = False
            self.counters["connects"] += 1
            log.info("%s: attached to hostapd", self.name)
            try:
                if self.resync:
                    await self._resync()
                await self._watch()
            except (OSError, _Lost, asyncio.TimeoutError) as exc:
                self.counters["lost"] += 1
                log.warning("%s: lost hostapd: %s; reconnecting", self.name, exc)
            finally:
                self._disconnect()
            await asyncio.sleep(self.retry_min)

    async def _connect(self) -> None:
        assert self._loop is not None
        self._local_path = os.path.join(
            self.local_dir, f"pmip6d-hostapd-{os.getpid()}-{next(_local_names)}"
        )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._local_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock = sock
        sock.bind(self._local_path)
        sock.connect(self.control)
        sock.setblocking(False)
        self._lost = asyncio.Event()
        self._replies = asyncio.Queue(maxsize=16)
        self._loop.add_reader(sock.fileno(), self._readable)
        reply = await self._request(b"ATTACH")
        if reply.strip() != b"OK":
            raise _Lost(f"ATTACH answered {reply[:40]!r}")
        self.attached.set()

    def _disconnect(self, detach: bool = False) -> None:
        self.attached.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            if detach:
                with contextlib.suppress(OSError):
                    sock.send(b"DETACH")
            sock.close()
        if self._local_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._local_path)
            self._local_path = None

    # ------------------------------------------------------------------ control socket

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _unused in range(_BATCH):
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._lost.set()
                break
            if is_event(data):
                if event_name(data) == TERMINATING:
                    self._lost.set()
                    continue
                result = self.receive(data)
                if isinstance(result, L2Event):
                    _deliver(self, self._sink, result)
            elif not self._replies.full():
                self._replies.put_nowait(data)

    async def _request(self, command: bytes) -> bytes:
        if self._sock is None:
            raise _Lost("not connected")
        while not self._replies.empty():  # late answers to an earlier, timed-out request
            self._replies.get_nowait()
        self._sock.send(command)
        return await asyncio.wait_for(self._replies.get(), self.reply_timeout)

    async def _watch(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self.ping_interval)
            except asyncio.TimeoutError:
                reply = await self._request(b"PING")
                if reply.strip() != b"PONG":
                    raise _Lost(f"PING answered {reply[:40]!r}") from None
            else:
                raise _Lost("hostapd is terminating")

    async def _resync(self) -> None:
        reply = await self._request(b"STA-FIRST")
        for _unused in range(4096):
            station = parse_sta_reply(reply)
            if station is None:
                return
            mac, associated = station
            if associated:
                event = L2Event(
                    kind="attach",
                    mac=mac,
                    source=self.control,
                    ap=self.ap_name,
                    interface=self.interface,
                    handoff_hint=self.connect_hint,
                    reason="Present",
                    raw=reply.decode("utf-8", "replace").split("\n", 1)[0],
                    received_at=self.clock(),
                    detail="already associated when attaching to hostapd",
                )
                self.counters["events"] += 1
                self.counters["events.attach"] += 1
                self.counters["resync"] += 1
                _deliver(self, self._sink, event)
            reply = await self._request(b"STA-NEXT " + mac_text(mac).encode())


# --------------------------------------------------------------------------- configuration

IfName = Annotated[str, Field(pattern=INTERFACE_PATTERN)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApEntry(_Schema):
    name: Name | None = None
    """Name used in logs and events (else the hostname in the syslog header)."""
    interface: IfName | None = None
    """The MAG's access interface behind this AP."""
    connect_hint: Literal["unknown", "reassociation", "new"] = "unknown"
    """A hostapd AP (its event lines over syslog): what a connect means, as for the
    ``hostapd`` trigger. Cisco lines say it themselves (``Reassociated``)."""


class CiscoSyslogConfig(_Schema):
    type: Literal["cisco-syslog"]
    name: Name | None = None
    listen_any: bool = False
    """Allow a wildcard ``listen`` (``::`` = IPv6 and IPv4, ``0.0.0.0``): every interface."""
    listen: Annotated[str | None, Field(validate_default=True)] = None
    """The MAG's address the APs send syslog to (required; a wildcard needs ``listen_any``)."""
    port: Annotated[int, Field(ge=0, le=65535)] = 514
    interface: IfName | None = None
    """Access interface for APs that do not name their own."""
    aps: Annotated[dict[str, ApEntry | None], Field(min_length=1)]
    """Trusted AP source addresses; syslog from any other address is dropped."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            raise ValueError(
                "give the MAG's address the APs send syslog to (a wildcard needs listen_any: true)"
            )
        try:
            address = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        if address.is_unspecified and not info.data.get("listen_any"):
            # A wildcard also takes syslog that arrives on the MNs' links.
            raise ValueError(
                f"{value!r} listens on every interface; give the address the APs send"
                " syslog to (or set listen_any: true)"
            )
        return value

    @field_validator("aps")
    @classmethod
    def _aps(cls, value: dict[str, ApEntry | None]) -> dict[str, ApEntry | None]:
        out: dict[str, ApEntry | None] = {}
        for address, entry in value.items():
            try:
                key = normalize_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
            if key in out:
                raise ValueError(f"{address!r}: AP address listed twice")
            out[key] = entry
        return out


class HostapdConfig(_Schema):
    type: Literal["hostapd"]
    name: Name | None = None
    control: Path
    """hostapd's control socket, e.g. ``/run/hostapd/wlan0``."""
    interface: IfName | None = None
    """The MAG's access interface for stations of this hostapd (usually its BSS interface)."""
    ping_interval: Annotated[float, Field(gt=0, le=3600)] = 10.0
    resync: bool = True
    local_dir: Path | None = None
    """Where to create the client socket hostapd answers to (default: the temp directory)."""
    connect_hint: Literal["unknown", "reassociation", "new"] = "unknown"
    """What a connect means; hostapd does not tell an 802.11 reassociation apart.

    ``reassociation``: the MN moved its one Wi-Fi interface here (Handoff Indicator 3),
    right where every MN has a single radio, as in the paper's testbed. ``new``: a
    new interface (1). ``unknown`` (4): the LMA waits for the old MAG's de-registration
    and, without one, gives a new prefix.
    """


def _syslog_from(config: CiscoSyslogConfig) -> TriggerSource:
    aps = {
        address: AccessPoint(entry.name, entry.interface, _hint(entry.connect_hint))
        if entry
        else AccessPoint()
        for address, entry in config.aps.items()
    }
    assert config.listen is not None  # the schema requires it
    return SyslogListener(
        aps, listen=config.listen, port=config.port, interface=config.interface, name=config.name
    )


def _hint(value: str) -> HandoffHint | None:
    return None if value == "unknown" else value  # type: ignore[return-value]


def _hostapd_from(config: HostapdConfig) -> TriggerSource:
    return HostapdSource(
        config.control,
        interface=config.interface,
        name=config.name,
        ping_interval=config.ping_interval,
        resync=config.resync,
        local_dir=config.local_dir,
        connect_hint=_hint(config.connect_hint),
    )


SOURCE_TYPES: dict[str, tuple[type[BaseModel], Callable[[Any], TriggerSource]]] = {
    "cisco-syslog": (CiscoSyslogConfig, _syslog_from),
    "hostapd": (HostapdConfig, _hostapd_from),
}
"""``type`` → (schema, factory). :func:`register_source_type` adds more."""


def register_source_type(
    type_name: str, schema: type[BaseModel], factory: Callable[[Any], TriggerSource]
) -> None:
    SOURCE_TYPES[type_name] = (schema, factory)


def build_sources(
    configs: Iterable[Mapping[str, Any]], *, where: str = "triggers"
) -> list[TriggerSource]:
    """Configuration dicts → trigger sources (not started). One :class:`ConfigError` if wrong."""
    sources: list[TriggerSource] = []
    for i, raw in enumerate(configs):
        here = f"{where}[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{here}: expected a mapping with a 'type'")
        kind = raw.get("type")
        if kind not in SOURCE_TYPES:
            known = ", ".join(sorted(SOURCE_TYPES))
            raise ConfigError(f"{here}.type: {kind!r} is not a trigger type ({known})")
        schema, factory = SOURCE_TYPES[kind]
        try:
            config = schema.model_validate(dict(raw))
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            msg = first["msg"].removeprefix("Value error, ")
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise ConfigError(f"{here}.{field_path(first['loc'])}: {msg}{more}") from None
        sources.append(factory(config))
    return sources
