"""The thin asyncio shell around a state machine.

It owns what the machines must not: the Mobility Header socket, one asyncio
timer for the machine's next deadline, and the hand-off of data-plane actions
to whatever carries them out. Per readable event it drains the socket in one
go, so a burst of PBUs costs one wake-up, not one per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from ..actions import Action, Notice, Send
from ..wire.codec import encode
from ..wire.describe import describe
from .mhsocket import MobilityHeaderSocket

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class Machine(Protocol):
    counters: Counter[str]

    def receive(self, src: str, data: bytes) -> list[Action]: ...
    def on_timer(self) -> list[Action]: ...
    def next_deadline(self) -> float | None: ...


Effect = Callable[[Action], None]


class AgentShell:
    def __init__(
        self,
        machine: Machine,
        mh: MobilityHeaderSocket,
        effect: Effect,
        log: logging.Logger,
    ) -> None:
        self.machine = machine
        self.mh = mh
        self.effect = effect
        self.log = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.mh.fileno(), self._readable)
        self._rearm()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.mh.fileno())
        if self._timer is not None:
            self._timer.cancel()

    def run(self, actions: Iterable[Action]) -> None:
        """Carry out actions that came from outside the socket (control requests)."""
        self._execute(actions)
        self._rearm()

    # ------------------------------------------------------------------ internals

    def _readable(self) -> None:
        receive = self.machine.receive
        for src, data in self.mh.recv_batch():
            try:
                self._execute(receive(src, data))
            except Exception:  # one bad message or bug must not stop the agent
                self.machine.counters["internal_error"] += 1
                self.log.exception("error while processing a message from %s", src)
        self._rearm()

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        try:
            self._execute(self.machine.on_timer())
        except Exception:
            self.machine.counters["internal_error"] += 1
            self.log.exception("error while running timers")
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.machine.next_deadline()
        if deadline is None or (self._armed_for is not None and self._armed_for <= deadline):
            # Nothing to wait for, or the armed timer fires first anyway; an early
            # wake-up finds nothing due and re-arms.
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _execute(self, actions: Iterable[Action]) -> None:
        for action in actions:
            kind = type(action)
            if kind is Send:
                self._send(action)
            elif kind is Notice:
                self.log.log(_LEVELS.get(action.level, logging.INFO), "%s", action.text)
            else:
                try:
                    self.effect(action)
                except Exception:
                    self.machine.counters["effect_error"] += 1
                    self.log.exception("could not apply %s", kind.__name__)

    def _send(self, action: Send) -> None:
        try:
            self.mh.send(action.destination, encode(action.message))
        except OSError as exc:
            self.machine.counters["send_error"] += 1
            self.log.warning(
                "cannot send %s to %s: %s",
                type(action.message).__name__,
                action.destination,
                exc.strerror or exc,
            )
        else:
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("sent %s to %s", describe(action.message), action.destination)
