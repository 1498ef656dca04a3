"""Wiring of an LMA or a MAG: configuration → state machine → shell → control socket.

``load_lma``/``load_mag`` do everything that can fail because of a file
(config, policy, their consistency) before any socket is opened, so
``pmip6d lma -c FILE --check`` and a real start fail the same way, at once,
with one message that names file and field.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..actions import Action, RouteToMag, ServeMobileNode, StopServing, Unroute
from ..clock import SystemClock
from ..config import ConfigError, LmaConfig, MagConfig, load, mac_text, parse_mac
from ..lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from ..mag import MagSettings, MobileAccessGateway
from ..policy import Policy
from ..wire.constants import HandoffIndicator
from ..wire.prefix import Prefix
from .control import CommandError, ControlServer
from .mhsocket import MobilityHeaderSocket
from .shell import AgentShell

log = logging.getLogger("pmip6d")


def _pool(config: LmaConfig, config_path: Path, policy: Policy) -> PrefixPool | None:
    if config.prefix_pool is None:
        return None
    pool_net = ipaddress.IPv6Network(config.prefix_pool.prefix)
    if config.prefix_pool.length < pool_net.prefixlen:
        raise ConfigError(
            f"{config_path}: prefix_pool.length: {config.prefix_pool.length} is shorter than "
            f"the pool prefix {pool_net}"
        )
    for prefix, where in policy.fixed_prefixes:
        if prefix.network().overlaps(pool_net):
            raise ConfigError(
                f"{config_path}: prefix_pool.prefix: {pool_net} overlaps the fixed prefix "
                f"{prefix} of {where}"
            )
    return PrefixPool(Prefix.parse(str(pool_net)), config.prefix_pool.length)


def load_lma(config_path: Path | str) -> tuple[LmaConfig, LocalMobilityAnchor]:
    config_path = Path(config_path)
    config = load(config_path, LmaConfig)
    policy = Policy.load(config.policy)
    view = policy.lma_view(config.name, config_path)
    settings = LmaSettings(
        address=view.address,
        replay_protection=config.replay_protection,
        timestamp_validity_window_ms=config.timestamp_validity_window_ms,
        min_delay_before_bce_delete_ms=config.min_delay_before_bce_delete_ms,
        max_delay_before_new_bce_assign_ms=config.max_delay_before_new_bce_assign_ms,
        max_binding_lifetime=config.max_binding_lifetime,
    )
    return config, LocalMobilityAnchor(
        settings, view, SystemClock(), _pool(config, config_path, policy)
    )


def load_mag(config_path: Path | str) -> tuple[MagConfig, MobileAccessGateway]:
    config_path = Path(config_path)
    config = load(config_path, MagConfig)
    if config.initial_bindack_timeout_first_reg_ms > config.max_bindack_timeout_ms:
        raise ConfigError(
            f"{config_path}: initial_bindack_timeout_first_reg_ms: "
            "larger than max_bindack_timeout_ms"
        )
    policy = Policy.load(config.policy)
    view = policy.mag_view(config.name, config.default_lma, config_path)
    settings = MagSettings(
        address=view.address,
        link_local_address=config.link_local_address,
        replay_protection=config.replay_protection,
        requested_lifetime=config.requested_lifetime,
        refresh_fraction=config.refresh_fraction,
        initial_bindack_timeout_first_reg_ms=config.initial_bindack_timeout_first_reg_ms,
        initial_bindack_timeout_ms=config.initial_bindack_timeout_ms,
        max_bindack_timeout_ms=config.max_bindack_timeout_ms,
        access_technology_type=config.access_technology_type,
    )
    return config, MobileAccessGateway(settings, view, SystemClock())


class LoggedEffects:
    """Data-plane actions recorded and logged; the hook the tunnel and RA drivers plug into."""

    def __init__(self) -> None:
        self.applied: dict[str, int] = {}

    def __call__(self, action: Action) -> None:
        name = type(action).__name__
        self.applied[name] = self.applied.get(name, 0) + 1
        if isinstance(action, RouteToMag):
            log.info(
                "route %s → tunnel to %s%s",
                _prefixes(action.prefixes),
                action.proxy_coa,
                f" (was {action.previous})" if action.previous else "",
            )
        elif isinstance(action, Unroute):
            log.info("unroute %s from %s", _prefixes(action.prefixes), action.proxy_coa)
        elif isinstance(action, ServeMobileNode):
            b = action.binding
            log.info(
                "serve %s (%s) with %s via LMA %s",
                b.mn_id.decode(),
                mac_text(b.mac),
                _prefixes(b.prefixes),
                b.lma,
            )
        elif isinstance(action, StopServing):
            b = action.binding
            log.info("stop serving %s (%s): %s", b.mn_id.decode(), mac_text(b.mac), action.reason)


def _prefixes(prefixes: tuple[Prefix, ...]) -> str:
    return ",".join(str(p) for p in prefixes)


@dataclass
class Agent:
    """A loaded agent ready to run: its machine, socket address and control commands."""

    role: str
    machine: Any
    control_socket: Path
    log_level: str = "info"
    effect: Any = field(default_factory=LoggedEffects)
    shell: AgentShell | None = None

    def commands(self) -> dict:
        m = self.machine
        commands = {
            "ping": lambda: "pong",
            "status": m.status,
            "counters": lambda: dict(sorted(m.counters.items())),
        }
        if self.role == "lma":

            def bindings(limit: int | None = None, mn_id: str | None = None):
                return m.binding_rows(limit, mn_id.encode() if mn_id else None)

            commands["bindings"] = bindings
        else:

            def bindings(limit: int | None = None, mac: str | None = None):
                return m.binding_rows(limit, parse_mac(mac) if mac else None)

            def attach(
                mac: str, interface: str | None = None, handoff_indicator: int | None = None
            ):
                hi = HandoffIndicator(handoff_indicator or HandoffIndicator.NEW_INTERFACE)
                self.shell.run(m.attach(parse_mac(mac), interface=interface, handoff_indicator=hi))
                return m.binding_rows(mac=parse_mac(mac))

            def detach(mac: str):
                self.shell.run(m.detach(parse_mac(mac)))
                return m.binding_rows(mac=parse_mac(mac))

            commands.update(bindings=bindings, attach=attach, detach=detach)
        return commands

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        mh = MobilityHeaderSocket(self.machine.address)
        self.shell = AgentShell(self.machine, mh, self.effect, log)
        control = ControlServer(self.control_socket, self.commands())
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await control.start()
        self.shell.start(loop)
        log.info(
            "%s listening on %s, control socket %s",
            self.role.upper(),
            self.machine.address,
            self.control_socket,
        )
        try:
            await stop.wait()
        finally:
            log.info("%s stopping", self.role.upper())
            self.shell.stop()
            await control.close()
            mh.close()


def build(role: str, config_path: Path | str) -> Agent:
    if role == "lma":
        config, machine = load_lma(config_path)
    elif role == "mag":
        config, machine = load_mag(config_path)
    else:
        raise ValueError(role)
    return Agent(role, machine, config.control_socket, config.log_level)


def run(agent: Agent) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(agent.serve())


__all__ = ["Agent", "CommandError", "LoggedEffects", "build", "load_lma", "load_mag", "run"]
