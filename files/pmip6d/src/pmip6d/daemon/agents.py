"""Wiring of an LMA or a MAG: configuration → state machine → shell → control socket.

``load_lma``/``load_mag`` do everything that can fail because of a file
(config, policy, their consistency) before any socket is opened, so
``pmip6d lma -c FILE --check`` and a real start fail the same way, at once,
with one message that names file and field. ``Agent.serve`` then brings up
the data plane, access links, triggers and the control socket, and takes all
of it down again on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, LmaConfig, MagConfig, load
from ..errors import PmipError
from ..heartbeat import HeartbeatSettings
from ..lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from ..mag import MagSettings, MobileAccessGateway
from ..policy import Policy
from ..rules import overlapping, parse_mac
from ..security.peers import choose_implementation, esp_peers
from ..triggers import L2Event, StationTracker, build_sources, handoff_indicator
from ..triggers.floodguard import guard_sources
from ..wire.constants import HandoffIndicator
from ..wire.prefix import Prefix
from .control import ControlServer
from .dropped import dropped
from .durability import Durability, may_precede_sync
from .effects import LmaEffects, MagEffects
from .lma_timeline import LmaTimeline
from .mhsocket import MobilityHeaderSocket
from .restart_counter import advance_restart_counter
from .sdnotify import notify
from .shell import AgentShell
from .timeline import Timeline

log = logging.getLogger("pmip6d")

GC_FREEZE_INTERVAL = 1.0
"""Seconds between two moves of the survivors to the GC's permanent generation."""


class GcFreezer:
    """Keeps Python's cyclic garbage collector off the binding cache.

    A binding is a dozen long-lived objects. A full (generation 2) collection
    traverses every tracked object, and CPython runs one each time the
    long-lived population has grown by a quarter: with a million bindings one
    collection stops the agent for over a second (measured: 1.1 s at 1M, 16 full
    collections, 5.6 s in all while registering them), so the PBUs queued
    meanwhile fail the 300 ms timestamp window (TIMESTAMP_MISMATCH).

    The agents' long-lived state has no reference cycles: it is freed by
    reference counting, which frozen objects still are. So once per interval the
    young generations are collected (cyclic garbage is not frozen) and every
    survivor is moved to the permanent generation, which collections never scan.
    Should long-lived state ever hold cycles, those would leak once dropped.
    """

    def __init__(self, interval: float = GC_FREEZE_INTERVAL) -> None:
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        gc.collect()
        gc.freeze()  # configuration, policy, imported modules
        self._handle = loop.call_later(self.interval, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        gc.collect(1)
        gc.freeze()
        self._handle = loop.call_later(self.interval, self._tick, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _pool(config: LmaConfig, config_path: Path, policy: Policy) -> PrefixPool | None:
    if config.prefix_pool is None:
        return None
    # The pool's own length is checked by its schema; here what needs the policy too.
    pool_net = ipaddress.IPv6Network(config.prefix_pool.prefix)
    fixed = ((prefix.network(), where) for prefix, where in policy.fixed_prefixes)
    for net, where in overlapping(pool_net, fixed):
        raise ConfigError(
            f"{config_path}: prefix_pool.prefix: {pool_net} overlaps the fixed prefix "
            f"{net} of {where}"
        )
    return PrefixPool(Prefix.parse(str(pool_net)), config.prefix_pool.length)


def load_lma(config_path: Path | str) -> tuple[LmaConfig, LocalMobilityAnchor, Policy]:
    from ..clock import SystemClock

    config_path = Path(config_path)
    config = load(config_path, LmaConfig)
    policy = Policy.load(config.policy)
    view = policy.lma_view(config.name, config_path)
    esp_peers(config.signaling_security, "lma", config.name, policy, config_path)
    settings = LmaSettings(
        address=view.address,
        replay_protection=config.replay_protection,
        timestamp_validity_window_ms=config.timestamp_validity_window_ms,
        min_delay_before_bce_delete_ms=config.min_delay_before_bce_delete_ms,
        max_delay_before_new_bce_assign_ms=config.max_delay_before_new_bce_assign_ms,
        max_binding_lifetime=config.max_binding_lifetime,
        heartbeat=HeartbeatSettings(
            interval=config.heartbeat_interval,
            missing_allowed=config.missing_heartbeats_allowed,
            peer_down_grace=config.peer_down_grace,
        ),
        min_delay_bris_ms=config.min_delay_bris_ms,
        bri_max_retries_number=config.bri_max_retries_number,
        rate_limits=config.rate_limits,
    )
    pool = _pool(config, config_path, policy)
    return config, LocalMobilityAnchor(settings, view, SystemClock(), pool), policy


def load_mag(config_path: Path | str) -> tuple[MagConfig, MobileAccessGateway, Policy]:
    from ..clock import SystemClock

    config_path = Path(config_path)
    config = load(config_path, MagConfig)  # its cross-field checks included
    policy = Policy.load(config.policy)
    view = policy.mag_view(config.name, config.default_lma, config_path)
    esp_peers(config.signaling_security, "mag", config.name, policy, config_path)
    settings = MagSettings(
        address=view.address,
        link_local_address=config.link_local_address,
        replay_protection=config.replay_protection,
        requested_lifetime=config.requested_lifetime,
        refresh_fraction=config.refresh_fraction,
        initial_bindack_timeout_first_reg_ms=config.initial_bindack_timeout_first_reg_ms,
        initial_bindack_timeout_ms=config.initial_bindack_timeout_ms,
        max_bindack_timeout_ms=config.max_bindack_timeout_ms,
        keep_registering=config.keep_registering,
        access_technology_type=config.access_technology_type,
        heartbeat=HeartbeatSettings(
            interval=config.heartbeat_interval,
            missing_allowed=config.missing_heartbeats_allowed,
            peer_down_grace=None,
        ),
    )
    # A random first sequence number per start (issue 12): an off-path forger cannot
    # guess the number of the PBU in flight; the machine itself stays deterministic.
    first_sequence = secrets.randbelow(0x10000)
    return config, MobileAccessGateway(settings, view, SystemClock(), first_sequence), policy


def _ra_settings(config: MagConfig, config_path: Path):
    from ..access import RaSettings

    if config.access is None:
        return None
    try:
        return RaSettings.from_radvd(config.access.router_advertisements)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{config_path}: access.router_advertisements: {exc}") from None


def _forwarding_enabled() -> bool:
    try:
        return Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text().strip() == "1"
    except OSError:
        return False


@dataclass
class Agent:
    """A loaded agent ready to run."""

    role: str
    config: Any
    config_path: Path
    policy: Policy
    machine: Any
    sources: list = field(default_factory=list)
    ra_settings: Any = None
    timeline: Timeline | LmaTimeline | None = None
    """Handover timing (``pmipctl timeline``): the MAG's Table II phases, the LMA's
    share of PBU→PBA; made for the role when not given."""
    effects: Any = None
    shell: AgentShell | None = None
    durability: Durability | None = None
    esp_implementation: str | None = None
    """With mode esp: "kernel" (xfrm) or "agent" (daemon/espsocket.py); else None."""
    kernel_esp: Any = None
    mh: Any = None
    _metrics: Any = None
    """The metrics endpoint (daemon/metrics.py) while it serves; None: off."""

    def __post_init__(self) -> None:
        if self.timeline is None:
            self.timeline = LmaTimeline() if self.role == "lma" else Timeline()

    @property
    def control_socket(self) -> Path:
        return self.config.control_socket

    @property
    def log_level(self) -> str:
        return self.config.log_level

    # ------------------------------------------------------------------ control commands

    def commands(self) -> dict:
        m = self.machine
        commands: dict[str, Any] = {
            "ping": lambda: "pong",
            "status": self.status,
            "counters": self.counters,
        }
        if self.role == "lma":

            def bindings(limit: int | None = None, mn_id: str | None = None):
                return m.binding_rows(limit, mn_id.encode() if mn_id else None)

            def revoke(mn_id: str):
                # RFC 5846: binding and route go now, a BRI tells the MAG (lma/revocation.py).
                rows, actions = m.revoke(mn_id.encode())
                self.shell.run(actions)
                return rows

            def lma_timeline(limit: int | None = None):
                return self.timeline.rows(limit)

            commands.update(
                bindings=bindings,
                revoke=revoke,
                revocations=m.revocation.rows,
                timeline=lma_timeline,
            )
            return commands

        def bindings(limit: int | None = None, mac: str | None = None):
            return m.binding_rows(limit, parse_mac(mac) if mac else None)

        def attach(mac: str, interface: str | None = None, handoff_indicator: int | None = None):
            hi = HandoffIndicator(handoff_indicator or HandoffIndicator.NEW_INTERFACE)
            self._attach(parse_mac(mac), interface, hi, time.monotonic(), "control")
            return m.binding_rows(mac=parse_mac(mac))

        def detach(mac: str):
            self.shell.run(m.detach(parse_mac(mac)))
            return m.binding_rows(mac=parse_mac(mac))

        def timeline(limit: int | None = None):
            return self.timeline.rows(limit)

        commands.update(bindings=bindings, attach=attach, detach=detach, timeline=timeline)
        return commands

    def status(self) -> dict:
        out = self.machine.status()
        if self.effects is not None:
            out.update(self.effects.status())
        if self.sources:
            out["triggers"] = {s.name: dict(s.counters) for s in self.sources}
        if self.esp_implementation is not None:
            out["signaling_security"] = {
                "mode": "esp",
                "implementation": self.esp_implementation,
                **self._esp_counters(),
            }
        out["dropped"] = dropped(self.counters())
        return out

    def _esp_counters(self) -> dict:
        # Counters only: neither SAs nor keys are ever shown.
        source = self.mh if self.esp_implementation == "agent" else self.kernel_esp
        counters = getattr(source, "counters", None)
        if callable(counters):
            counters = counters()
        return dict(counters or {})

    def counters(self) -> dict:
        counters = dict(self.machine.counters)
        dataplane = getattr(self.effects, "dataplane", None)
        if dataplane is not None:
            counters.update({f"dataplane.{k}": v for k, v in dataplane.all_counters().items()})
        for source in self.sources:
            counters.update({f"trigger.{source.name}.{k}": v for k, v in source.counters.items()})
        if self.durability is not None:
            counters.update({f"store.{k}": v for k, v in self.durability.counters().items()})
        if self.esp_implementation is not None:
            counters.update({f"security.{k}": v for k, v in self._esp_counters().items()})
        control = getattr(self, "_control", None)
        if control is not None:
            counters.update({f"control.{k}": v for k, v in control.counters.items()})
        if self._metrics is not None:
            counters.update({f"metrics.{k}": v for k, v in self._metrics.counters.items()})
        return dict(sorted(counters.items()))

    # ------------------------------------------------------------------ layer 2

    def _attach(self, mac: bytes, interface: str | None, hi: int, at: float, reason: str) -> None:
        # ``at``: the trigger's arrival (the syslog datagram's, in the kernel); now: read.
        self.timeline.layer2(mac, at, reason, read_at=time.monotonic())
        actions = self.machine.attach(mac, interface=interface, handoff_indicator=hi)
        self.timeline.layer2_decided(mac, time.monotonic())
        self.shell.run(actions)

    def _on_l2_event(self, event: L2Event) -> None:
        if event.kind == "attach":
            at = event.received_at or time.monotonic()
            self._attach(event.mac, event.interface, handoff_indicator(event), at, event.reason)
        else:
            self.shell.run(self.machine.detach(event.mac))

    # ------------------------------------------------------------------ life cycle

    def _build_effects(self) -> None:
        from ..dataplane import LmaDataplane, MagDataplane

        dp_config = self.config.dataplane
        if self.role == "lma":
            dataplane = None
            if dp_config is not None:
                static = dp_config.tunnels == "static"
                peers = sorted(self.machine.policy.accepted_mags) if static else ()
                dataplane = LmaDataplane(
                    dp_config.backend,
                    self.machine.address,
                    dp_config.core_interface,
                    mode=dp_config.tunnels,
                    peers=peers,
                    linger=dp_config.linger,
                )
            self.effects = LmaEffects(dataplane)
            self.effects.start()
            return
        access = self.config.access
        if access is not None:
            self._prepare_access_links()
        dataplane = None
        if dp_config is not None:
            peers = ()
            if dp_config.tunnels == "static":
                peers = sorted(
                    e.address
                    for e in self.policy.lma_entries.values()
                    if self.config.name in e.accept_mags
                )
            dataplane = MagDataplane(
                dp_config.backend,
                self.machine.address,
                dp_config.core_interface,
                access.interfaces,
                mode=dp_config.tunnels,
                peers=peers,
                linger=dp_config.linger,
            )
            dataplane.start()
        emitters = {}
        if access is not None:
            from ..access import RaEmitter
            from ..access.link import read_state

            for name in access.interfaces:
                if access.shared_addresses:
                    lla, mac = self.config.link_local_address, access.mac
                else:
                    lla, mac = read_state(name).link_locals[0].address, None
                emitter = RaEmitter(
                    name,
                    self.ra_settings,
                    link_local=lla,
                    mac=mac,
                    on_sent=lambda send, at: self.timeline.ra_sent(send.mac, at),
                )
                emitters[name] = emitter
        self.effects = MagEffects(
            dataplane, emitters, on_routed=lambda mac: self.timeline.routed(mac, time.monotonic())
        )

    def _prepare_access_links(self) -> None:
        # The agent owns the shared identity: netlink settings do not survive a
        # reboot or a recreated link, and the agent is what needs them, so it sets
        # them at every start (the mag role only checks them, see README).
        from ..access.link import Desired, Netlink, apply, read_state

        access = self.config.access
        if access.shared_addresses:
            with Netlink() as netlink:
                for name in access.interfaces:
                    desired = Desired(
                        name, mac=access.mac, link_local=self.config.link_local_address
                    )
                    _before, changes, _after = apply(netlink, desired)
                    for change in changes:
                        log.info("access link %s: %s", name, change)
        else:
            # Scenario 1: each MAG keeps its own addresses; PBUs carry the real one.
            own = [a.address for a in read_state(access.interfaces[0]).link_locals]
            if not own:
                raise ConfigError(
                    f"{self.config_path}: access.interfaces[0]: "
                    f"{access.interfaces[0]} has no link-local address"
                )
            self.machine.set_link_local(own[0])

    def _close_effects(self) -> None:
        effects = self.effects
        if effects is None:
            return
        for emitter in getattr(effects, "emitters", {}).values():
            with contextlib.suppress(Exception):
                emitter.close()
        dataplane = getattr(effects, "dataplane", None)
        if dataplane is not None:
            try:
                dataplane.close()
            except Exception:
                log.exception("could not remove the data plane state")

    def _restore_state(self) -> None:
        # After any kind of exit: the saved bindings come back through the machine's
        # own rules, their routes (and RAs) with them; then changes are journaled.
        path = self.config.state_file
        if path is None:
            return
        self.durability = Durability(self.machine, self.role, path, self.config.durable_state, log)
        self.shell.run(self.durability.restore())
        if self.config.durable_state:
            self.durability.start_syncer(asyncio.get_running_loop().call_soon_threadsafe)
            self.shell.commit = self.durability.commit_then
            if self.role == "mag":
                self.shell.may_precede_sync = may_precede_sync

    def _save_state(self) -> None:
        if self.durability is not None:
            self.durability.close()

    def prepare(self) -> None:
        """Synchronous set-up before the event loop runs (netlink through pyroute2
        must not run inside a running asyncio loop): access links, data plane."""
        if self.config.dataplane is not None and not _forwarding_enabled():
            log.warning(
                "IPv6 forwarding is off (net.ipv6.conf.all.forwarding=0): "
                "tunnels will not carry traffic"
            )
        self._prepare_signaling_security()
        try:
            self._build_effects()
        except BaseException:
            self._close_effects()
            self._remove_kernel_esp()
            raise

    def _prepare_signaling_security(self) -> None:
        security = self.config.signaling_security
        if security is None or security.mode != "esp":
            return
        # Fails here, before anything is installed, if kernel ESP was asked for and is absent.
        self.esp_implementation = choose_implementation(security, self.config_path)
        log.info("signaling security: ESP, %s implementation", self.esp_implementation)
        if self.esp_implementation == "kernel":
            from ..security.xfrm import KernelEsp

            peers = esp_peers(security, self.role, self.config.name, self.policy, self.config_path)
            self.kernel_esp = KernelEsp(self.machine.address, peers, security.replay_window)
            self.kernel_esp.install()

    def _remove_kernel_esp(self) -> None:
        if self.kernel_esp is not None:
            try:
                self.kernel_esp.remove()
            except Exception:
                log.exception("could not remove the ESP states and policies")

    def _signaling_socket(self) -> Any:
        buffer = self.config.socket_buffer
        if self.esp_implementation != "agent":
            return MobilityHeaderSocket(self.machine.address, buffer)
        from .espsocket import EspSocket

        security = self.config.signaling_security
        peers = esp_peers(security, self.role, self.config.name, self.policy, self.config_path)
        return EspSocket(self.machine.address, peers, security.replay_window, buffer)

    async def _start_metrics(self) -> None:
        settings = self.config.metrics
        if settings is None:
            return
        from .metrics import MetricsServer

        server = MetricsServer(
            self, settings.address, settings.port, self.config.rate_limits.control_clients
        )
        try:
            await server.start()
        except OSError as exc:
            raise PmipError(
                f"{self.config_path}: metrics: cannot listen on [{settings.address}]:"
                f"{settings.port}: {exc.strerror or exc}"
            ) from None
        self._metrics = server

    def teardown(self) -> None:
        """Remove what :meth:`prepare` installed (routes, tunnels, RA sockets, ESP)."""
        self._close_effects()
        self._remove_kernel_esp()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        mh = self.mh = self._signaling_socket()
        limits = self.config.rate_limits
        self._control = control = ControlServer(
            self.control_socket,
            self.commands(),
            max_clients=limits.control_clients,
            max_request=limits.control_request_bytes,
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        freezer = GcFreezer()
        if self.role == "lma":
            # RFC 5847 §3.2: one more start; MAGs that see it changed re-register.
            self.machine.heartbeat.restart_counter = advance_restart_counter(
                self.config.restart_counter_file, self.config.state_file, log
            )
        try:
            for emitter in getattr(self.effects, "emitters", {}).values():
                emitter.start(loop)
            self.shell = AgentShell(
                self.machine,
                mh,
                self.effects,
                log,
                observer=self.timeline,
            )
            self.shell.start(loop)
            freezer.start(loop)
            sink = StationTracker().wrap(self._on_l2_event)
            for source in self.sources:
                source.start(loop, sink)
            await control.start()
            await self._start_metrics()
            self._restore_state()
            log.info(
                "%s listening on %s, control socket %s",
                self.role.upper(),
                self.machine.address,
                self.control_socket,
            )
            notify("READY=1")
            await stop.wait()
        finally:
            notify("STOPPING=1")
            log.info("%s stopping", self.role.upper())
            self._save_state()
            freezer.stop()
            for source in self.sources:
                with contextlib.suppress(Exception):
                    source.close()
            if self.shell is not None:
                self.shell.stop()
            await control.close()
            if self._metrics is not None:
                await self._metrics.close()
            for emitter in getattr(self.effects, "emitters", {}).values():
                with contextlib.suppress(Exception):
                    emitter.close()
            mh.close()


def build(role: str, config_path: Path | str) -> Agent:
    config_path = Path(config_path)
    if role == "lma":
        config, machine, policy = load_lma(config_path)
        return Agent(role, config, config_path, policy, machine)
    if role == "mag":
        config, machine, policy = load_mag(config_path)
        sources = build_sources(config.triggers, where=f"{config_path}: triggers")
        guard_sources(sources, config.rate_limits)
        return Agent(
            role,
            config,
            config_path,
            policy,
            machine,
            sources,
            ra_settings=_ra_settings(config, config_path),
        )
    raise ValueError(role)


def run(agent: Agent) -> None:
    agent.prepare()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(agent.serve())
    finally:
        agent.teardown()


__all__ = ["Agent", "build", "load_lma", "load_mag", "run"]
