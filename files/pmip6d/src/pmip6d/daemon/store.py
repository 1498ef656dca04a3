"""Crash-safe saved state of an agent: a snapshot plus numbered append-only journals.

The machines say which entries changed (their ``dirty`` sets); this module,
the I/O part, makes those changes durable: the shell calls :meth:`StateStore.commit`
once per batch, after the routes are flushed and before the batch's messages
leave, so one ``write`` and one ``fsync`` cover every PBU of the batch. An LMA
thus never acknowledges a binding that a crash could make it forget.

Files (``PATH`` is the configured ``state_file``; all mode 0600, owned by the
agent's user, in the same directory)::

    PATH              the snapshot, only ever replaced whole: PATH.tmp is written,
                      fsync'd, renamed over PATH, and the directory fsync'd
    PATH.journal.N    changes appended after snapshot generation N began; one
                      fdatasync per commit. A new N is opened at every start and at
                      every compaction.

Every record in either file is one line::

    LLLLLLLL CCCCCCCC PAYLOAD\\n

``LLLLLLLL`` is the payload's length in bytes and ``CCCCCCCC`` its CRC-32
(``zlib.crc32``), both 8 lower-case hex digits; ``PAYLOAD`` is compact UTF-8
JSON. The snapshot's first record is its header::

    {"format": "pmip6d-state", "version": 2, "role": "lma"|"mag",
     "address": "<LMAA or Proxy-CoA>", "journal": N}

then one record per saved entry; a journal holds only entry records::

    {"k": KEY, "v": ENTRY}      the entry is now ENTRY (added or changed)
    {"k": KEY, "v": null}       the entry is gone

KEY is an LMA binding's first home network prefix or a MAG entry's MAC (hex);
ENTRY is an item of the version-1 ``bindings`` list (``lma/persistence.py``,
``mag/persistence.py``), with its expiry as Unix time, so an entry whose
lifetime ran out while the agent was down is dropped when it is taken back.

Loading applies the snapshot, then every journal numbered N or higher in order.
A compaction may run while entries change: it opens journal N+1 first, then
writes every live entry into a snapshot saying ``"journal": N+1`` (in a thread,
so the agent keeps serving), then deletes the older journals. Entries that
changed meanwhile are in journal N+1 as well, whose records are applied after
the snapshot's: the result is the same whichever of the two holds the newer
value, and a crash at any step leaves a set of files that loads correctly.

A record that is cut short (a crash during a write) or fails its CRC ends the
reading of that file: the records before it are kept, and one warning names
the file and the byte offset. The agent never refuses to start because of the
store: an unreadable file is a warning and an empty state.

Version 1 (earlier releases, written only at SIGTERM) was one JSON object in
PATH, which begins with ``{``. It is still read, and the first compaction
(right after the start) rewrites it as version 2: migrated.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FORMAT = "pmip6d-state"
VERSION = 2
HEADER_LEN = 18
"""``LLLLLLLL CCCCCCCC `` before the payload."""

Entry = dict[str, Any]
Record = Callable[[Any], tuple[str, Entry | None]]
"""An object of the machine (a binding cache or update list entry) → (key, entry or None)."""


_encode = json.JSONEncoder(separators=(",", ":")).encode
"""Built once: ``json.dumps`` with separators builds an encoder per call."""


def frame(payload: dict) -> bytes:
    """One record line."""
    data = _encode(payload).encode()
    return b"%08x %08x %s\n" % (len(data), zlib.crc32(data), data)


def read_records(data: bytes) -> tuple[list[dict], int | None]:
    """Every whole, intact record in ``data``, and the offset where reading stopped
    early (a torn or corrupt record), or None if it reached the end."""
    payloads, ends, stopped = read_payloads(data)
    # One parse for all (100k json.loads calls cost a second at a restart); one by
    # one only to find a record that passed its CRC and still is no JSON object.
    try:
        records = json.loads(b"[" + b",".join(payloads) + b"]")
        # As many as there are payloads: a payload like `{},{}` is one record, not two.
        if len(records) == len(payloads) and all(isinstance(r, dict) for r in records):
            return records, stopped
    except ValueError:
        pass
    records = []
    for payload, at in zip(payloads, ends, strict=True):
        try:
            record = json.loads(payload)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return records, at
        records.append(record)
    return records, stopped


def read_payloads(data: bytes) -> tuple[list[bytes], list[int], int | None]:
    """The payloads of the intact records (not parsed), where each begins, and
    where reading stopped early (None: at the end)."""
    payloads: list[bytes] = []
    ends: list[int] = []
    offset, end = 0, len(data)
    stopped = None
    crc32 = zlib.crc32
    while offset < end:
        head = data[offset : offset + HEADER_LEN]
        try:
            if len(head) < HEADER_LEN or head[8:9] != b" " or head[17:18] != b" ":
                raise ValueError
            length, crc = int(head[:8], 16), int(head[9:17], 16)
        except ValueError:
            stopped = offset
            break
        start = offset + HEADER_LEN
        payload = data[start : start + length]
        if (
            len(payload) != length
            or data[start + length : start + length + 1] != b"\n"
            or crc32(payload) != crc
        ):
            stopped = offset
            break
        payloads.append(payload)
        ends.append(offset)
        offset = start + length + 1
    return payloads, ends, stopped


_KEY_START = b'{"k":"'
_KEY_END = b'","v":'
_REMOVED = b',"v":null}'


def _key(payload: bytes) -> tuple[str, bool]:
    """(key, whether the record removes it), read without parsing the entry: the
    records this module writes begin ``{"k":"KEY","v":``."""
    end = payload.find(_KEY_END)
    if payload.startswith(_KEY_START) and end > 0:
        return payload[len(_KEY_START) : end].decode(), payload.endswith(_REMOVED)
    record = json.loads(payload)
    return str(record.get("k")), record.get("v") is None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_0600(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # the umask only narrows; an existing file keeps its mode
    return fd


class StateStore:
    """One agent's saved state. Not thread-safe: only the event loop calls it
    (compaction's writer thread touches only the files it owns)."""

    def __init__(
        self, path: Path, role: str, address: str, log: logging.Logger | None = None
    ) -> None:
        self.path = Path(path)
        self.role = role
        self.address = address
        self.log = log or logging.getLogger("pmip6d")
        self.generation = 0
        self._fd: int | None = None
        self._compaction: threading.Thread | None = None
        self.syncer: Syncer | None = None
        self.counters: dict[str, int] = {
            "commits": 0,
            "records": 0,
            "compactions": 0,
            "errors": 0,
            "sent_before_sync": 0,
            "inline_syncs": 0,
        }

    # ------------------------------------------------------------------ files

    def _journal(self, generation: int) -> Path:
        return self.path.with_name(f"{self.path.name}.journal.{generation}")

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        prefix = f"{self.path.name}.journal."
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return []
        for name in names:
            if name.startswith(prefix) and name[len(prefix) :].isdigit():
                found.append((int(name[len(prefix) :]), self.path.parent / name))
        return sorted(found)

    def _read(self, path: Path, warnings: list[str]) -> list[dict]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            warnings.append(f"cannot read the saved state {path}: {exc.strerror or exc}")
            return []
        records, stopped = read_records(data)
        if stopped is not None:
            warnings.append(
                f"saved state {path}: torn or corrupt record at byte {stopped} of "
                f"{len(data)}; kept the {len(records)} records before it"
            )
        return records

    # ------------------------------------------------------------------ start

    def load(self) -> tuple[dict | None, list[str]]:
        """The saved state as a version-1 object (what the machines' ``restore``
        takes), or None if there is none, and the warnings to log."""
        warnings: list[str] = []
        entries: dict[str, Entry] = {}
        found = False
        first_journal = 0
        try:
            head = self.path.open("rb").read(1)
        except FileNotFoundError:
            head = b""
        except OSError as exc:
            warnings.append(f"cannot read the saved state {self.path}: {exc.strerror or exc}")
            head = b""
        if head == b"{":
            found = True
            try:
                old = json.loads(self.path.read_bytes())
                for item in old.get("bindings", []):
                    entries[str(len(entries))] = item
            except (OSError, ValueError, AttributeError) as exc:
                warnings.append(f"saved state {self.path} (version 1) is unreadable: {exc}")
        elif head:
            found = True
            records = self._read(self.path, warnings)
            header = records[0] if records else {}
            if header.get("format") != FORMAT or header.get("version") != VERSION:
                if records:
                    warnings.append(f"saved state {self.path} has no version-{VERSION} header")
            elif header.get("role") != self.role:
                warnings.append(f"saved state {self.path} belongs to a {header.get('role')}")
                records = []
            else:
                journal = header.get("journal", 0)
                first_journal = journal if isinstance(journal, int) else 0
                self.generation = max(self.generation, first_journal)
            for record in records[1:]:
                self._apply(entries, record)
        journals = self._journals()
        for generation, path in journals:
            self.generation = max(self.generation, generation)
            if generation < first_journal:
                continue  # folded into the snapshot by a compaction cut short after the rename
            found = True
            for record in self._read(path, warnings):
                self._apply(entries, record)
        if not found:
            return None, warnings
        saved = {
            "version": 1,
            "role": self.role,
            "address": self.address,
            "bindings": list(entries.values()),
        }
        return saved, warnings

    @staticmethod
    def _apply(entries: dict[str, Entry], record: dict) -> None:
        key, value = record.get("k"), record.get("v")
        if not isinstance(key, str):
            return
        if isinstance(value, dict):
            entries[key] = value
        else:
            entries.pop(key, None)

    def open(self) -> None:
        """Start a new journal (call after :meth:`load`, before the first commit)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._next_journal()

    def _next_journal(self) -> None:
        if self.syncer is not None:
            self.syncer.drain()  # its fsync must not meet a closed (or reused) descriptor
        self.generation += 1
        fd = _open_0600(self._journal(self.generation), os.O_WRONLY | os.O_APPEND)
        _fsync_dir(self.path.parent)  # the new file's name survives a crash
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd

    # ------------------------------------------------------------------ running

    def commit(self, changes: dict[str, Entry | None]) -> None:
        """Make ``changes`` (key → entry, None: removed) durable: one write, one fsync."""
        if self.write(changes):
            self.sync()

    def write(self, changes: dict[str, Entry | None]) -> bool:
        """Append ``changes`` to the journal (not yet durable: see :meth:`sync` and
        :class:`Syncer`); False if there was nothing to write."""
        if not changes or self._fd is None:
            return False
        data = b"".join(frame({"k": k, "v": v}) for k, v in changes.items())
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.counters["commits"] += 1
        self.counters["records"] += len(changes)
        return True

    def sync(self) -> None:
        """fdatasync the journal: everything written so far is durable.

        fdatasync, not fsync: the journal is only appended to, and fdatasync
        flushes the data and the file size (what reading it back needs), only not
        the timestamps, which nothing reads. Every PBA waits for it."""
        if self._fd is not None:
            os.fdatasync(self._fd)

    @property
    def compacting(self) -> bool:
        return self._compaction is not None and self._compaction.is_alive()

    def compact(
        self,
        items: Iterable[Any],
        record: Record,
        *,
        background: bool = False,
        journal: bool = True,
    ) -> None:
        """Write a new snapshot of ``items`` (each turned into a record by ``record``)
        and delete the journals it makes redundant. ``items`` must be a list taken
        now: the writer thread reads the entries it holds, not the machine's dicts.
        ``journal=False``: no journal follows (a last snapshot at a stop)."""
        self.wait()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if journal:
            self._next_journal()
        else:
            self.generation += 1
        generation = self.generation
        items = list(items)
        if not background:
            self._write_snapshot(items, record, generation)
            return
        self._compaction = threading.Thread(
            target=self._write_snapshot,
            args=(items, record, generation),
            name="pmip6d-compaction",
            daemon=True,
        )
        self._compaction.start()

    def merge(self) -> None:
        """Fold the journals into a new snapshot from the files alone, in a thread:
        the old snapshot's records and the journals' as they are, the newest per
        key, no entry encoded again (10x cheaper than :meth:`compact`, and exact:
        the state when the new journal was opened). Only on top of a version-2
        snapshot written by this run (:meth:`compact` at the start does that)."""
        self.wait()
        self._next_journal()
        self._compaction = threading.Thread(
            target=self._merge, args=(self.generation,), name="pmip6d-compaction", daemon=True
        )
        self._compaction.start()

    def _merge(self, generation: int) -> None:
        try:
            payloads, _ends, stopped = read_payloads(self.path.read_bytes())
            header = json.loads(payloads[0]) if payloads else {}
            if stopped is not None or header.get("format") != FORMAT:
                raise ValueError(f"{self.path} is no whole version-{VERSION} snapshot")
            first = header["journal"]
            lines: dict[str, bytes] = {}
            for payload in payloads[1:]:
                lines[_key(payload)[0]] = payload
            for number, path in self._journals():
                if first <= number < generation:
                    for payload in read_payloads(path.read_bytes())[0]:
                        key, removed = _key(payload)
                        if removed:
                            lines.pop(key, None)
                        else:
                            lines[key] = payload
            header["journal"] = generation
            self._write_lines(frame(header), lines.values(), generation)
        except Exception:  # the journals still hold it all; the next start compacts
            self.counters["errors"] += 1
            self.log.exception("cannot fold the journals of %s into a snapshot", self.path)

    def _write_lines(self, header: bytes, payloads: Iterable[bytes], generation: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = _open_0600(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20, closefd=False) as out:
                out.write(header)
                crc32 = zlib.crc32
                for payload in payloads:
                    out.write(b"%08x %08x %s\n" % (len(payload), crc32(payload), payload))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._install_snapshot(tmp, generation)

    def _install_snapshot(self, tmp: Path, generation: int) -> None:
        """Put the fsync'd snapshot ``tmp`` in place, then drop the journals it holds."""
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)  # the rename survives a crash before the unlinks
        for old, path in self._journals():
            if old < generation:
                path.unlink(missing_ok=True)
        self.counters["compactions"] += 1

    def wait(self) -> None:
        if self._compaction is not None:
            self._compaction.join()
            self._compaction = None

    def _write_snapshot(self, items: list, record: Record, generation: int) -> None:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "role": self.role,
            "address": self.address,
            "journal": generation,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = _open_0600(tmp, os.O_WRONLY | os.O_TRUNC)
            try:
                with os.fdopen(fd, "wb", buffering=1 << 20, closefd=False) as out:
                    out.write(frame(header))
                    for item in items:
                        # An entry that changed since the list was taken is in the
                        # new journal too, which is applied after this snapshot.
                        key, value = record(item)
                        if value is not None:
                            out.write(frame({"k": key, "v": value}))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._install_snapshot(tmp, generation)
        except Exception:  # a full disk must not stop the agent; the journals still hold it all
            self.counters["errors"] += 1
            self.log.exception("cannot write the saved state %s", self.path)

    def discard(self) -> None:
        """Delete every file of the store (durability off: a saved state is used once)."""
        self.wait()
        for _generation, path in self._journals():
            path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self.wait()
        if self.syncer is not None:
            self.syncer.stop()
            self.syncer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Syncer:
    """Group commit off the event loop: the loop writes a batch's records and
    hands over what must wait for them (the batch's messages); one thread
    fsyncs and hands that back to the loop. While an fsync runs the loop goes
    on with the next batches, whose writes the next fsync covers all at once.
    A batch's messages thus still leave only once its records are durable, in
    the order the batches were handled."""

    def __init__(self, store: StateStore, call_soon: Callable[[Callable[[], None]], None]) -> None:
        self.store = store
        self.call_soon = call_soon
        """Runs a function on the event loop (``loop.call_soon_threadsafe``)."""
        self._lock = threading.Condition()
        self._queued: list[Callable[[], None]] = []
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="pmip6d-fsync", daemon=True)
        self._thread.start()
        self._pending = 0
        """Callbacks handed to :meth:`after_sync` that have not run yet; read and
        written on the loop only (the wrapper that lowers it runs there)."""

    def after_sync(self, then: Callable[[], None]) -> None:
        """Call ``then`` on the loop once everything written so far is durable.

        Call it from the loop."""
        self._pending += 1

        def run() -> None:
            self._pending -= 1
            then()

        with self._lock:
            self._queued.append(run)
            self._lock.notify()

    def idle(self) -> bool:
        """True when every callback given to :meth:`after_sync` has run: something
        done now comes after all of them, in order. Call it from the loop."""
        return self._pending == 0

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queued and not self._stopped:
                    self._lock.wait()
                if not self._queued:
                    return
                waiting, self._queued = self._queued, []
                self._busy = True
            try:
                self.store.sync()
            except OSError as exc:  # still send: serving beats refusing on a bad disk
                self.store.counters["errors"] += 1
                self.store.log.warning("cannot fsync %s: %s", self.store.path, exc)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()
            for then in waiting:
                self.call_soon(then)

    def drain(self) -> None:
        """Wait until nothing is queued or being synced."""
        with self._lock:
            while self._queued or self._busy:
                self._lock.wait()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._thread.join()
