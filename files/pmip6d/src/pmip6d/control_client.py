# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client of the pmip6d agents' control socket (stdlib only).

The agents (``daemon/control.py``) listen on a unix stream socket and answer
one JSON object per line::

    -> {"cmd": "bindings", "args": {"mn_id": "mn1@lab.pmipv6.example"}}
    <- {"ok": true, "data": [...]}
    <- {"ok": false, "error": "unknown command 'x'; known: ..."}

One implementation for ``pmipctl`` and the collection's modules: this file is
``pmip6d/control_client.py`` in the agent and a byte-identical copy in the
collection's ``plugins/module_utils/pmip_control.py`` (modules run with the
target's system Python and cannot import pmip6d; ``scripts/sync-module-utils.sh``
refreshes the copy, a test checks it), so it imports nothing but the standard
library. The errors say which socket, what went wrong and what to do; each is
also the builtin exception a plain socket client would raise (``OSError`` when
the agent cannot be reached, ``RuntimeError`` for an error answer, ``ValueError``
for an answer that is not the protocol), so callers may catch either.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import time
from typing import Any

DEFAULT_SOCKETS = {
    "lma": "/run/pmip6d/lma.sock",
    "mag": "/run/pmip6d/mag.sock",
}
ROLES = tuple(sorted(DEFAULT_SOCKETS))
DEFAULT_TIMEOUT = 5.0
# An answer is one line; a binding cache of a few thousand rows is well below
# this. The cap only keeps a confused peer from filling the module's memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class ControlError(Exception):
    """The agent could not be asked, or it answered with an error.

    ``rc``, ``stdout`` and ``stderr`` follow Ansible's convention for failed
    commands, so a module can hand them to ``fail_json``: ``rc`` is the errno of
    a socket error (``1`` for an error answer or a protocol problem), ``stdout``
    is the agent's raw answer if there was one and ``stderr`` the error text.
    """

    transient = False
    """True when waiting may help (agent starting, busy): a waiting module retries."""

    def __init__(
        self,
        msg: str,
        path: str | None = None,
        rc: int = 1,
        stdout: str = "",
        stderr: str = "",
        request: dict | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.path = path
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr or msg
        self.request = request

    def fail_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        out = {
            "msg": self.msg,
            "rc": self.rc,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "socket": self.path,
        }
        if self.request is not None:
            out["request"] = self.request
        return out


class AgentUnreachable(ControlError, ConnectionError):
    """No connection: the socket is missing, refuses, or is not ours to open."""

    transient = True


class AgentTimeout(ControlError, TimeoutError):
    """Connected, but no complete answer in time."""

    transient = True


class AgentProtocolError(ControlError, ValueError):
    """The peer answered something that is not the control protocol."""


class AgentClosed(AgentProtocolError, ConnectionError):
    """The agent closed the connection without answering (it may be stopping)."""


class AgentCommandError(ControlError, RuntimeError):
    """The agent answered ``{"ok": false, "error": ...}``."""


def socket_path(role: str | None = None, path: str | None = None) -> str:
    """The control socket to use: an explicit ``path`` wins, else the role's default."""
    if path:
        return str(path)
    if role is None:
        raise ValueError("one of role (lma, mag) or socket is required")
    try:
        return DEFAULT_SOCKETS[role]
    except KeyError:
        raise ValueError(
            "role must be one of {}, not {!r}".format(", ".join(ROLES), role)
        ) from None


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _unreachable(path: str, exc: BaseException) -> AgentUnreachable:
    code = exc.errno if isinstance(exc, OSError) and exc.errno else 1
    detail = os.strerror(code) if isinstance(exc, OSError) and exc.errno else str(exc)
    if code == errno.ENOENT:
        hint = f"no control socket at {path}: is the pmip6d agent running on this host?"
    elif code == errno.ECONNREFUSED and not _is_socket(path):
        hint = f"{path} is not a unix socket"
    elif code == errno.ECONNREFUSED:
        hint = (
            f"control socket {path} refuses connections: the agent is not listening "
            "(stopped or crashed and left the socket behind)"
        )
    elif code in (errno.EACCES, errno.EPERM):
        hint = (
            f"no permission to open control socket {path} (mode 0660, owned by the agent): "
            "run the task with become"
        )
    elif code == errno.ENOTSOCK or code == errno.ENOTDIR:
        hint = f"{path} is not a unix socket"
    else:
        hint = f"cannot connect to control socket {path}: {detail}"
    return AgentUnreachable(hint, path=path, rc=code, stderr=detail)


class ControlClient:
    """One connection to an agent's control socket; usable as a context manager.

    ``timeout`` bounds each call as a whole (connect, send, the complete answer),
    not each read, so a peer that trickles bytes cannot hold a module forever.
    """

    def __init__(self, path: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = str(path)
        self.timeout = float(timeout)
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> ControlClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except TimeoutError:
            sock.close()
            raise AgentTimeout(
                f"control socket {self.path} did not accept the connection within {self.timeout}s",
                path=self.path,
                rc=errno.ETIMEDOUT,
            ) from None
        except OSError as exc:
            sock.close()
            raise _unreachable(self.path, exc) from None
        self._sock = sock
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def call(self, cmd: str, **args: Any) -> Any:
        """Send one request and return the answer's ``data``; raise ControlError otherwise."""
        request = {"cmd": cmd, "args": {k: v for k, v in args.items() if v is not None}}
        self.connect()
        deadline = time.monotonic() + self.timeout
        line = b""
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            line = self._readline(deadline, request)
        except ControlError:  # already says what happened (some are also OSErrors)
            raise
        except TimeoutError:
            self.close()
            raise AgentTimeout(
                f"agent at {self.path} did not answer {cmd!r} within {self.timeout}s",
                path=self.path,
                rc=errno.ETIMEDOUT,
                request=request,
            ) from None
        except OSError as exc:
            self.close()
            code = exc.errno or 1
            raise AgentUnreachable(
                f"control connection to {self.path} failed during {cmd!r}: {exc}",
                path=self.path,
                rc=code,
                stderr=str(exc),
                request=request,
            ) from None
        text = line.decode("utf-8", errors="replace").strip()
        try:
            answer = json.loads(text)
        except ValueError:
            self.close()
            raise AgentProtocolError(
                f"agent at {self.path} answered {cmd!r} with something that is not JSON",
                path=self.path,
                stdout=text,
                request=request,
            ) from None
        if not isinstance(answer, dict) or "ok" not in answer:
            raise AgentProtocolError(
                f'agent at {self.path} answered {cmd!r} without {{"ok": ...}}',
                path=self.path,
                stdout=text,
                request=request,
            )
        if not answer.get("ok"):
            error = answer.get("error") or "unknown error"
            raise AgentCommandError(
                f"agent at {self.path} refused {cmd!r}: {error}",
                path=self.path,
                stdout=text,
                stderr=str(error),
                request=request,
            )
        return answer.get("data")

    def _readline(self, deadline: float, request: dict) -> bytes:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                partial = self._buffer.decode("utf-8", errors="replace")
                self.close()
                raise AgentClosed(
                    "agent at {} closed the control connection without answering {!r}".format(
                        self.path, request["cmd"]
                    ),
                    path=self.path,
                    stdout=partial,
                    request=request,
                )
            self._buffer += chunk
            if len(self._buffer) > MAX_ANSWER_BYTES:
                self.close()
                raise AgentProtocolError(
                    f"agent at {self.path} sent more than {MAX_ANSWER_BYTES} bytes "
                    "without ending its answer",
                    path=self.path,
                    request=request,
                )
        line, _sep, self._buffer = self._buffer.partition(b"\n")
        return line


def call(path: Any, cmd: str, timeout: float = DEFAULT_TIMEOUT, **args: Any) -> Any:
    """One request on a fresh connection."""
    with ControlClient(path, timeout) as client:
        return client.call(cmd, **args)


def agent_role(status: Any) -> str | None:
    """The role an agent reports in its ``status`` answer (``lma``/``mag``), or None."""
    if isinstance(status, dict) and status.get("role") in DEFAULT_SOCKETS:
        return status["role"]
    return None


def check_role(path: str, expected: str | None, status: Any) -> str:
    """Raise ControlError if the agent behind ``path`` is not the ``expected`` role."""
    actual = agent_role(status)
    if expected is not None and actual is not None and actual != expected:
        raise AgentProtocolError(
            f"control socket {path} belongs to a {actual.upper()} agent, not a "
            f"{expected.upper()}: use role={actual} or another socket",
            path=path,
            stdout=json.dumps(status, sort_keys=True),
        )
    if actual is None and expected is None:
        raise AgentProtocolError(
            f"cannot tell the agent's role from its status at {path}: set role",
            path=path,
            stdout=json.dumps(status, sort_keys=True),
        )
    return actual or expected
