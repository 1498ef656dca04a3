"""The LMA's RFC 5847 Restart Counter, kept in a small file across starts.

One decimal number and a newline, mode 0600, replaced atomically (written to a
temporary file, flushed to disk, renamed over the old one): a crash leaves
either the old value or the new one. The counter only has to *differ* from the
previous start's for the MAGs to notice (they compare, they do not subtract),
so whenever the file cannot serve (unreadable, corrupt, not writable) the start
time in milliseconds stands in, with a warning: that differs from any earlier
start's value in all but a 1 in 2**32 case. The agent never refuses to start
over this file.

Kept apart from the binding state on purpose: it must survive exactly the case
where the binding state is lost (the state file removed, a new disk image).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

_MASK = 0xFFFFFFFF


def counter_path(configured: Path | None, state_file: Path | None) -> Path | None:
    """The configured file, else ``<state_file>.restart-counter``, else none."""
    if configured is not None:
        return configured
    if state_file is not None:
        return state_file.with_name(state_file.name + ".restart-counter")
    return None


def _start_time() -> int:
    return int(time.time() * 1000) & _MASK


def read_counter(path: Path) -> int | None:
    """The stored counter; None if there is no file yet. Raises ValueError if corrupt."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    value = int(text.strip())
    if not 0 <= value <= _MASK:
        raise ValueError(f"{value} is not a 32-bit counter")
    return value


def write_counter(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older tmp file may have had other bits
        os.write(fd, f"{value}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def advance_restart_counter(
    configured: Path | None, state_file: Path | None, log: logging.Logger
) -> int:
    """Count this start: the stored counter plus one, stored again; the value to send."""
    path = counter_path(configured, state_file)
    if path is None:
        value = _start_time()
        log.info("restart counter %d (the start time: no restart_counter_file)", value)
        return value
    try:
        previous = read_counter(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        value = _start_time()
        log.warning("cannot read the restart counter %s (%s); using %d", path, exc, value)
    else:
        value = 1 if previous is None else (previous + 1) & _MASK
    try:
        write_counter(path, value)
    except OSError as exc:
        value = _start_time()
        log.warning(
            "cannot store the restart counter in %s (%s); using the start time %d",
            path,
            exc.strerror or exc,
            value,
        )
        return value
    log.info("restart counter %d (%s)", value, path)
    return value
