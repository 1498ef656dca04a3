"""What carries out the machines' data-plane actions in a running agent.

LMA: routes of home network prefixes into MAG tunnels. MAG: the MN's home
link — routes and rules first, then the unicast RA emitter of the access
interface the MN is on. Either may run without a data plane (signaling only),
in which case the actions are logged and nothing else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..access import RaEmitter
from ..actions import Action, RouteToMag, ServeMobileNode, StopServing, Unroute
from ..rules import mac_text
from ..wire.prefix import Prefix

log = logging.getLogger("pmip6d")


def _prefixes(prefixes: tuple[Prefix, ...]) -> str:
    return ",".join(str(p) for p in prefixes)


class LmaEffects:
    def __init__(self, dataplane: Any | None = None) -> None:
        self.dataplane = dataplane

    def __call__(self, action: Action) -> None:
        if isinstance(action, RouteToMag):
            if log.isEnabledFor(logging.DEBUG):
                was = f" (was {action.previous})" if action.previous else ""
                log.debug("route %s → %s%s", _prefixes(action.prefixes), action.proxy_coa, was)
        elif isinstance(action, Unroute):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("unroute %s from %s", _prefixes(action.prefixes), action.proxy_coa)
        else:
            return
        if self.dataplane is not None:
            self.dataplane(action)

    def flush(self) -> list[Prefix]:
        """Apply the batch's routes; the prefixes whose route the kernel refused."""
        if self.dataplane is None:
            return []
        stats = self.dataplane.flush()
        return list(getattr(stats, "refused", ()))

    def next_deadline(self) -> float | None:
        return None if self.dataplane is None else self.dataplane.next_deadline()

    def start(self) -> None:
        if self.dataplane is not None:
            self.dataplane.start()

    def close(self) -> None:
        if self.dataplane is not None:
            self.dataplane.close()

    def status(self) -> dict:
        return {} if self.dataplane is None else {"dataplane": self.dataplane.status()}


class MagEffects:
    def __init__(
        self,
        dataplane: Any | None = None,
        emitters: dict[str, RaEmitter] | None = None,
        on_routed: Callable[[bytes], None] | None = None,
    ) -> None:
        """``on_routed(mac)``: called once an MN's routes are in, before its RA."""
        self.dataplane = dataplane
        self.on_routed = on_routed
        self.emitters = emitters or {}
        self._default = next(iter(self.emitters), None)
        self._where: dict[bytes, str] = {}

    def _emitter(self, interface: str | None) -> RaEmitter | None:
        return self.emitters.get(interface or self._default or "")

    def __call__(self, action: Action) -> None:
        if isinstance(action, ServeMobileNode):
            b = action.binding
            # Routes before the RA: once the MN configures its address, traffic flows.
            if self.dataplane is not None:
                self.dataplane.serve(b)
            if self.on_routed is not None:
                self.on_routed(b.mac)
            interface = b.interface or self._default
            previous = self._where.get(b.mac)
            if previous is not None and previous != interface:
                old = self.emitters.get(previous)
                if old is not None:
                    old.stop(b.mac)
            emitter = self._emitter(interface)
            if emitter is not None:
                self._where[b.mac] = interface
                emitter.serve(b)
            # Logged once the RA is out: the line (and the journal's wake-up) is not on
            # the handover's path.
            log.info(
                "serve %s (%s) with %s via LMA %s on %s",
                b.mn_id.decode(errors="replace"),
                mac_text(b.mac),
                _prefixes(b.prefixes),
                b.lma,
                interface,
            )
        elif isinstance(action, StopServing):
            b = action.binding
            log.info(
                "stop serving %s (%s): %s",
                b.mn_id.decode(errors="replace"),
                mac_text(b.mac),
                action.reason,
            )
            interface = self._where.pop(b.mac, None)
            emitter = self._emitter(interface)
            if emitter is not None:
                emitter.stop(b.mac)
            if self.dataplane is not None:
                self.dataplane.stop(b)

    def flush(self) -> None:
        if self.dataplane is not None:
            self.dataplane.flush()

    def next_deadline(self) -> float | None:
        return None if self.dataplane is None else self.dataplane.next_deadline()

    def status(self) -> dict:
        out: dict = {}
        if self.dataplane is not None:
            out["dataplane"] = self.dataplane.status()
        if self.emitters:
            out["access"] = {name: e.status() for name, e in self.emitters.items()}
        return out
