"""An agent's bindings across restarts and crashes: the machine on one side, the
:class:`~.store.StateStore` on the other.

With ``durable_state`` (the default when a ``state_file`` is set) every change
is committed once per batch: :meth:`Durability.commit_then` drains the machine's
``dirty`` set into one journal write, and the batch's messages leave once an
fsync covers it (:class:`~.store.Syncer`: one thread fsyncs while the loop goes
on with the next batches, so one fsync often covers several). The shell calls
it after the routes are flushed, so

* the LMA's PBA never reports a binding a crash could lose;
* the MAG's PBUs (and de-registrations) leave after the entries they change are
  saved. Its RAs are sent by the effects just before, a few microseconds ahead
  of the fsync: an RA is not a binding (the LMA holds that, durably), and a MAG
  that crashed in that gap finds the MN again through the next layer-2 event.

Without ``durable_state`` the state is saved only at a clean stop (SIGTERM) and
used once at the next start, as in earlier releases.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..actions import Action, Send
from ..wire.messages import ProxyBindingUpdate
from .store import StateStore, Syncer

COMPACT_MIN_RECORDS = 10_000
"""A journal is folded into a new snapshot once it holds this many records more
than there are live entries: compaction costs O(1) per change, and a restart
reads at most about twice the live entries."""


def _nothing() -> None:
    pass


def may_precede_sync(messages: Iterable[Send]) -> bool:
    """Whether a MAG's batch of messages may leave before its changes are durable.

    Yes when every message is a registration or refresh PBU (lifetime > 0). A
    crash between such a PBU and the fsync leaves the MAG as if it had crashed
    before the layer-2 event: it has forgotten the MN either way (its routes
    and RA are gone with it) and finds it again at the next trigger, while the
    LMA's binding only points at a MAG that no longer serves the MN, which the
    next PBU from anywhere replaces. With sequence numbers the restarted MAG may
    reuse one already sent: the LMA answers 135 and the MAG resynchronises
    (RFC 5213 §5.3.2). A de-registration is different: sent and then forgotten,
    the restarted MAG would register the MN again at the LMA after it left, so
    it waits for the fsync. The LMA's PBAs always wait (a PBA is a promise the
    binding exists)."""
    for send in messages:
        message = send.message
        if not isinstance(message, ProxyBindingUpdate) or message.lifetime_units == 0:
            return False
    return True


def _hooks(role: str) -> tuple[Callable[[Any], list], Callable[[Any], int], Callable]:
    """(the machine's live entries, how many, one entry → its store record) for a role."""
    if role == "lma":
        from ..lma.persistence import record

        return (lambda m: list(m.cache)), (lambda m: len(m.cache)), record
    from ..mag.persistence import record

    return (lambda m: list(m._by_mac.values())), (lambda m: len(m._by_mac)), record


QUIET_S = 0.005
"""A batch committed this long after the previous one is a lone one: it is made
durable on the event loop rather than in the fsync thread (see commit_then)."""


class Durability:
    def __init__(
        self,
        machine: Any,
        role: str,
        path: Path,
        durable: bool,
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._last_commit = float("-inf")
        self.machine = machine
        self.durable = durable
        self.log = log
        self.store = StateStore(path, role, machine.address, log)
        self._items, self._count, record = _hooks(role)
        self._record = lambda item: record(machine, item)
        self._compacted_at = 0

    def restore(self) -> list[Action]:
        """Take back the saved state (the machine's own rules decide what stays),
        then start journaling: the actions install the routes (and RAs) again."""
        # The cyclic GC off meanwhile: every restored binding is a dozen long-lived
        # objects, and the full collections their number triggers would double the
        # time to take back 100k bindings. They hold no cycles (see agents.GcFreezer).
        enabled = gc.isenabled()
        gc.disable()
        try:
            saved, warnings = self.store.load()
            actions = self.machine.restore(saved) if saved is not None else []
        finally:
            if enabled:
                gc.enable()
        gc.freeze()
        for warning in warnings:
            self.log.warning("%s", warning)
        try:
            if not self.durable:
                self.store.discard()  # used once: a later crash must not bring back stale state
                return actions
            self.store.open()
            # The restored entries are in the old files, which stay until the new
            # snapshot (written meanwhile, in a thread) replaces them.
            self.machine.dirty = set()
            self._compact(background=True)
        except OSError as exc:
            self.store.counters["errors"] += 1
            self.machine.dirty = None
            self.log.warning(
                "cannot write the saved state %s: %s; bindings are not saved",
                self.store.path,
                exc.strerror or exc,
            )
        return actions

    def start_syncer(self, call_soon: Callable[[Callable[[], None]], None]) -> None:
        """fsync in a thread from now on (:class:`~.store.Syncer`); ``call_soon`` runs a
        function on the event loop."""
        self.store.syncer = Syncer(self.store, call_soon)

    def commit_then(self, then: Callable[[], None], early: bool = False) -> None:
        """The shell's hook: save what changed in this batch, then call ``then`` (which
        sends the batch's messages) once it is durable, in batch order.

        ``early``: the messages may leave before the changes are durable (the
        caller judged a crash in between harmless, see :func:`may_precede_sync`);
        they still never overtake an earlier batch's messages. A batch that
        changed nothing does not wait either, unless an earlier batch still does.
        A batch that comes alone (``QUIET_S`` after the previous one) is synced
        right here, before its messages leave."""
        syncer = self.store.syncer
        now = self.clock()
        quiet = now - self._last_commit >= QUIET_S
        self._last_commit = now
        if syncer is not None and syncer.idle() and (early or not self.machine.dirty):
            then()  # the messages first: the write is not on their path either
            if self._write_logged():
                self.store.counters["sent_before_sync"] += 1
                syncer.after_sync(_nothing)
            return
        self._write_logged()
        if syncer is None:
            self.store.sync()
            then()
        elif syncer.idle() and quiet:
            # A lone batch (a handover in a quiet domain): fsync here, no thread hand-off.
            # Its two wake-ups and the GIL passing between threads cost more than the
            # fsync on a fast disk; in a burst the thread's group commit wins instead.
            self.store.counters["inline_syncs"] += 1
            try:
                self.store.sync()
            except OSError as exc:  # still send: serving beats refusing on a bad disk
                self.store.counters["errors"] += 1
                self.log.warning("cannot fsync %s: %s", self.store.path, exc)
            then()
        else:
            syncer.after_sync(then)

    def _write_logged(self) -> bool:
        """:meth:`_write`, a failure logged and counted; whether anything may be written."""
        try:
            return self._write()
        except OSError as exc:
            self.store.counters["errors"] += 1
            self.log.warning("cannot save binding changes to %s: %s", self.store.path, exc)
            return True  # something may be half-written: let the fsync cover it

    def commit(self) -> None:
        """Save what changed (one write, one fsync), synchronously."""
        if self._write():
            self.store.sync()

    def _write(self) -> bool:
        dirty = self.machine.dirty
        if not dirty:
            return False
        self.machine.dirty = set()
        changes: dict[str, Any] = {}
        record = self._record
        for item in dirty:
            key, value = record(item)
            # Two objects may share a key in one batch (a binding deleted and its
            # prefix bound again): the live one wins.
            if value is not None or key not in changes:
                changes[key] = value
        self.store.write(changes)
        journal = self.store.counters["records"] - self._compacted_at
        limit = COMPACT_MIN_RECORDS + self._count(self.machine)
        if journal > limit and not self.store.compacting:
            self._compacted_at = self.store.counters["records"]
            self.store.merge()
        return True

    def _compact(self, background: bool) -> None:
        self._compacted_at = self.store.counters["records"]
        self.store.compact(self._items(self.machine), self._record, background=background)

    def close(self) -> None:
        """At a clean stop: one last snapshot (durable or not), files closed."""
        try:
            if self.durable and self.machine.dirty is not None:
                self.commit()
            self.store.compact(self._items(self.machine), self._record, journal=False)
        except OSError as exc:
            self.log.warning("cannot save the state to %s: %s", self.store.path, exc)
        finally:
            self.store.close()

    def counters(self) -> dict[str, int]:
        return dict(self.store.counters)
