"""The local control socket: one JSON request per line, one JSON answer per line.

``pmipctl`` and the collection's Ansible modules both speak this, so people
and playbooks see the agent through the same door. Requests look like
``{"cmd": "bindings", "args": {"limit": 10}}``; answers are
``{"ok": true, "data": ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PmipError

log = logging.getLogger("pmip6d.control")

Command = Callable[..., Any]


class CommandError(PmipError):
    """A request the agent understood but cannot do; the text goes back to the client."""


class ControlServer:
    def __init__(
        self,
        path: Path,
        commands: dict[str, Command],
        *,
        max_clients: int = 16,
        max_request: int = 65536,
    ) -> None:
        """``max_clients`` connected at once and ``max_request`` bytes a request line:
        a local process that floods the socket costs bounded memory (issue 12)."""
        self.path = Path(path)
        self.commands = commands
        self.max_clients = max_clients
        self.max_request = max_request
        self.counters: Counter[str] = Counter()
        self._clients = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._client, path=str(self.path), limit=self.max_request
        )
        os.chmod(self.path, 0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._clients >= self.max_clients:
            self.counters["clients_refused"] += 1
            await self._refuse(writer, f"too many control clients (at most {self.max_clients})")
            return
        self._clients += 1
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self._answer(line)).encode() + b"\n")
                await writer.drain()
        except ValueError:  # the line outgrew the reader's limit (LimitOverrunError)
            self.counters["requests_too_long"] += 1
            await self._refuse(writer, f"request longer than {self.max_request} bytes")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients -= 1
            writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter, why: str) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(json.dumps({"ok": False, "error": why}).encode() + b"\n")
            await writer.drain()
        writer.close()

    def _answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise CommandError('a request is {"cmd": NAME, "args": {...}}')
            command = self.commands.get(request["cmd"])
            if command is None:
                known = ", ".join(sorted(self.commands))
                raise CommandError(f"unknown command {request['cmd']!r}; known: {known}")
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise CommandError("args must be an object")
            return {"ok": True, "data": command(**args)}
        except json.JSONDecodeError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        except (CommandError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        except TypeError as exc:
            return {"ok": False, "error": f"bad arguments: {exc}"}
        except Exception as exc:  # a control request must never take the agent down
            log.exception("control command failed")
            return {"ok": False, "error": f"internal error: {exc}"}
