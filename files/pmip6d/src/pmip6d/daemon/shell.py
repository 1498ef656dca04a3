"""The thin asyncio shell around a state machine.

It owns what the machines must not: the Mobility Header socket, one asyncio
timer for the next deadline (the machine's or the effects'), and the hand-off
of data-plane actions to the effects (routes, RAs). Per readable event it
drains the socket in one go, so a burst of PBUs costs one wake-up.

Order within one batch: effects first, then ``effects.flush()`` (routes reach
the kernel), then the commit of the batch's binding changes to the durable
store (one write, one fsync: ``daemon/durability.py``), then the messages. An
LMA thus acknowledges a binding only once its route exists and a crash cannot
make it forget it, and a handover's PBA never overtakes its route replacement.
When the kernel refuses a route, the accepting PBA of its binding is withheld
and the machine answers a failure instead (``daemon/refusals.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Protocol

from ..actions import Action, Notice, Send
from ..arrival import on_clock
from ..wire.codec import encode
from ..wire.describe import describe
from ..wire.messages import Message
from ..wire.prefix import Prefix
from .mhsocket import MobilityHeaderSocket
from .refusals import withhold_unrouted

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class Machine(Protocol):
    counters: Counter[str]

    def receive(self, src: str, data: bytes, received_at: float | None = None) -> list[Action]: ...
    def on_timer(self) -> list[Action]: ...
    def next_deadline(self) -> float | None: ...


class Effects(Protocol):
    """Carries out data-plane actions (routes, tunnels, RAs); may buffer until flush()."""

    def __call__(self, action: Action) -> None: ...

    def flush(self) -> Collection[Prefix] | None:
        """Apply what is buffered; the prefixes whose route was refused (LMA), if any."""

    def next_deadline(self) -> float | None: ...


class Observer(Protocol):
    """Optional timing hooks (the agents' handover timelines)."""

    def message_sent(self, message: Message, at: float) -> None: ...

    def message_handled(
        self, actions: list[Action], received_at: float, read_at: float | None = None
    ) -> None: ...

    def batch_flushed(self, at: float) -> None:
        """The batch's data-plane changes are in the kernel."""

    def sending(self, sends: list[Send], at: float) -> None:
        """A batch's messages are about to leave (after its durable commit)."""


class AgentShell:
    def __init__(
        self,
        machine: Machine,
        mh: MobilityHeaderSocket,
        effects: Effects,
        log: logging.Logger,
        observer: Observer | None = None,
    ) -> None:
        self.machine = machine
        self.mh = mh
        self.effects = effects
        self.log = log
        self.observer = observer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._outbox: list[Send] = []
        self.commit: Callable[[Callable[[], None], bool], None] | None = None
        """Makes the batch's binding changes durable, then calls its argument (which
        sends the batch's messages); set by the agent (or None). Its second
        argument says the messages may leave before the changes are durable."""
        self.may_precede_sync: Callable[[list[Send]], bool] | None = None
        """Whether a batch's messages may leave before its changes are durable
        (the MAG's registrations: ``durability.may_precede_sync``); None: never."""

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
        """Carry out actions that came from outside the socket (control requests, triggers)."""
        self._execute(actions)
        self._complete_batch()

    # ------------------------------------------------------------------ internals

    def _readable(self) -> None:
        receive = self.machine.receive
        observer = self.observer
        for src, data, arrived in self.mh.recv_batch():
            read_at = time.monotonic()
            try:
                actions = receive(src, data, arrived)
                if observer is not None:
                    # Before the effects run: serving an MN sends its RA at once. The
                    # message's time is its arrival in the kernel, on the same clock.
                    at = on_clock(arrived, time.monotonic)
                    observer.message_handled(actions, at, read_at)
                self._execute(actions)
            except Exception:  # one bad message or bug must not stop the agent
                self.machine.counters["internal_error"] += 1
                self.log.exception("error while processing a message from %s", src)
        self._complete_batch()

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        try:
            self._execute(self.machine.on_timer())
        except Exception:
            self.machine.counters["internal_error"] += 1
            self.log.exception("error while running timers")
        self._complete_batch()

    def _complete_batch(self) -> None:
        refused = self._flush()
        if self.observer is not None:
            self.observer.batch_flushed(time.monotonic())
        if refused:
            self._refuse_unrouted(refused)
        outbox, self._outbox = self._outbox, []
        if self.commit is None:
            self._send_all(outbox)
        else:
            early = self.may_precede_sync is not None and self.may_precede_sync(outbox)
            try:
                self.commit(lambda: self._send_all(outbox), early)
            except Exception:  # a full disk must not stop the agent from serving
                self.machine.counters["store_error"] += 1
                self.log.exception("could not save the binding changes")
                self._send_all(outbox)
        self._rearm()

    def _flush(self) -> Collection[Prefix]:
        try:
            return self.effects.flush() or ()
        except Exception:
            self.machine.counters["effect_error"] += 1
            self.log.exception("could not flush the data plane")
            return ()

    def _refuse_unrouted(self, refused: Collection[Prefix]) -> None:
        """Accepting PBAs of refused routes become the machine's failure answers (.refusals)."""
        routes_refused = getattr(self.machine, "routes_refused", None)
        if routes_refused is None:
            return
        self._outbox, withheld = withhold_unrouted(self._outbox, refused)
        if withheld:
            self._execute(routes_refused(withheld))
            self._flush()  # the withdrawn routes; a refusal here is the data plane's to retry

    def _send_all(self, outbox: list[Send]) -> None:
        if self.observer is not None and outbox:
            self.observer.sending(outbox, time.monotonic())
        for send in outbox:
            self._send(send)

    def _next_deadline(self) -> float | None:
        a = self.machine.next_deadline()
        b = self.effects.next_deadline()
        if a is None:
            return b
        return a if b is None else min(a, b)

    def _rearm(self) -> None:
        deadline = self._next_deadline()
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
                self._outbox.append(action)
            elif kind is Notice:
                self.log.log(_LEVELS.get(action.level, logging.INFO), "%s", action.text)
            else:
                try:
                    self.effects(action)
                except Exception:
                    self.machine.counters["effect_error"] += 1
                    self.log.exception("could not apply %s", kind.__name__)

    def _send(self, action: Send) -> None:
        # Stamped before the send: a process preempted right after its send (seen
        # under QEMU's emulated CPUs) would otherwise stamp its PBU after the PBA
        # had already arrived, and the timeline would show a negative PBU→PBA.
        sent_at = time.monotonic()
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
            return
        if self.observer is not None:
            self.observer.message_sent(action.message, sent_at)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("sent %s to %s", describe(action.message), action.destination)
