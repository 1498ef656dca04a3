"""The root of the agent's exceptions, and the exit status each kind of failure means.

Every error the agent raises on purpose derives from :class:`PmipError`, so the
command lines (:mod:`pmip6d.cli`) can end any of them the same way: one line on
stderr and the exit status the class names, never a traceback. A traceback is
left for what nobody raised on purpose: a bug.

Classes keep the standard base their callers catch them by as well (``OSError``
for the kernel's refusals, ``ValueError`` for values a caller got wrong).

Not derived, on purpose: ``lma.machine.Reject`` and the private ``_Bad`` (wire
codec) and ``_Lost`` (trigger sources). They are control flow inside one module,
always caught there (a refused PBU becomes a PBA with a status); one that escaped
would be a bug, and the command line must show it as one, with its traceback,
rather than print it as if it were a configuration mistake.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_FAILURE = 1
"""Anything else: the systemd unit may restart the agent."""
EXIT_CONFIG = 2
"""A configuration or policy mistake: restarting will not help (the unit does not)."""
EXIT_KERNEL = 78  # EX_CONFIG
"""This host's kernel cannot run the configured data plane: restarting will not help either."""


class PmipError(Exception):
    """An error the agent raises on purpose; the message says what and where."""

    exit_status: ClassVar[int] = EXIT_FAILURE
    """The status ``pmip6d`` exits with when this error ends it."""


def exit_status(exc: BaseException) -> int:
    """The exit status an error means (``OSError`` from the kernel: a plain failure)."""
    return exc.exit_status if isinstance(exc, PmipError) else EXIT_FAILURE


__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_KERNEL", "PmipError", "exit_status"]
