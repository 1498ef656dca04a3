# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures for the collection's unit tests: a real fake agent and a module runner.

Works under ``ansible-test units`` (which puts the collection on the path as
``ansible_collections.netlmm.pmipv6``) and under plain pytest from a checkout
(where this file links the checkout into a temporary ``ansible_collections``
tree first).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest


def _make_collection_importable() -> None:
    try:
        import ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control  # noqa: F401
    except ImportError:
        pass
    else:
        return
    root = Path(__file__).absolute().parents[3]
    parts = root.parts
    if parts[-3:] == ("ansible_collections", "netlmm", "pmipv6"):
        base = str(Path(*parts[:-3]))
    else:
        # A plain checkout: link it as ansible_collections/netlmm/pmipv6 in a temp tree.
        base = tempfile.mkdtemp(prefix="pmipv6-collections-")
        namespace = Path(base, "ansible_collections", "netlmm")
        namespace.mkdir(parents=True)
        (namespace / "pmipv6").symlink_to(root, target_is_directory=True)
        import atexit

        atexit.register(shutil.rmtree, base, ignore_errors=True)
    sys.path.insert(0, base)
    for name in [
        m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")
    ]:
        del sys.modules[name]


_make_collection_importable()


# --------------------------------------------------------------------------- the fake agent


def _mac(text: str) -> str:
    digits = text.replace(":", "").replace("-", "").replace(".", "").lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"{text!r} is not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class FakeAgent:
    """A unix-socket server in a thread that speaks the pmip6d control protocol.

    It answers like ``daemon/control.py`` and ``daemon/agents.py``: ``ping``,
    ``status``, ``counters``, ``bindings`` (LMA: ``mn_id``, MAG: ``mac``,
    both ``limit``), LMA ``revoke`` (``mn_id``: its rows go), errors as
    ``{"ok": false, "error": ...}``. Its table is ``rows``, or changes over time
    with :meth:`later`. ``mode`` makes it misbehave: ``silent`` (never answers),
    ``garbage`` (not JSON), ``close`` (hangs up), ``no_ok`` (JSON without ``ok``).
    """

    def __init__(self, path: str, role: str = "lma", address: str | None = None) -> None:
        self.path = path
        self.role = role
        self.address = address or ("2001:db8:ffff::1" if role == "lma" else "2001:db8:ffff::11")
        self.rows: list[dict] = []
        self.counters = {"pbu_received": 3, "pba_sent": 3} if role == "lma" else {"pbu_sent": 3}
        self.heartbeat: dict | None = None
        """The status's RFC 5847 part, when set (agents before it had none)."""
        self.mode: str | None = None
        self.fail_commands: dict[str, str] = {}
        self.requests: list[dict] = []
        self._timeline: list[tuple[float, list[dict]]] = []
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    # ------------------------------------------------------------------ control

    def later(self, delay: float, rows: list[dict]) -> None:
        """From ``delay`` seconds on, the table is ``rows``."""
        self._timeline.append((time.monotonic() + delay, rows))

    def start(self) -> FakeAgent:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        server.listen(16)
        server.settimeout(0.05)
        self._server = server
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # ------------------------------------------------------------------ serving

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, _sep, buffer = buffer.partition(b"\n")
                    if self.mode == "silent":
                        continue
                    if self.mode == "close":
                        return
                    if self.mode == "garbage":
                        conn.sendall(b"this is not json\n")
                        continue
                    if self.mode == "no_ok":
                        conn.sendall(b'{"data": 1}\n')
                        continue
                    conn.sendall(json.dumps(self._answer(line)).encode() + b"\n")

    def current_rows(self) -> list[dict]:
        rows = self.rows
        now = time.monotonic()
        for at, later_rows in self._timeline:
            if now >= at:
                rows = later_rows
        return rows

    def _answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        self.requests.append(request)
        cmd = request.get("cmd")
        args = request.get("args") or {}
        if cmd in self.fail_commands:
            return {"ok": False, "error": self.fail_commands[cmd]}
        commands = {
            "ping": self._ping,
            "status": self._status,
            "counters": self._counters,
            "bindings": self._bindings,
        }
        if self.role == "lma":
            commands["revoke"] = self._revoke
        if cmd not in commands:
            known = ", ".join(sorted(commands))
            return {"ok": False, "error": f"unknown command {cmd!r}; known: {known}"}
        try:
            return {"ok": True, "data": commands[cmd](**args)}
        except TypeError as exc:
            return {"ok": False, "error": f"bad arguments: {exc}"}
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}

    def _ping(self) -> str:
        return "pong"

    def _status(self) -> dict:
        status = self._role_status()
        if self.heartbeat is not None:
            status["heartbeat"] = self.heartbeat
        return status

    def _role_status(self) -> dict:
        if self.role == "lma":
            return {
                "role": "lma",
                "address": self.address,
                "bindings": len(self.current_rows()),
                "pending": 0,
            }
        return {
            "role": "mag",
            "address": self.address,
            "link_local_address": "fe80::1",
            "entries": len(self.current_rows()),
        }

    def _counters(self) -> dict:
        return dict(self.counters)

    def _bindings(self, limit: int | None = None, **filters) -> list[dict]:
        rows = self.current_rows()
        if self.role == "lma":
            mn_id = filters.pop("mn_id", None)
            if filters:
                raise TypeError(
                    f"bindings() got an unexpected keyword argument {next(iter(filters))!r}"
                )
            if mn_id:
                rows = [r for r in rows if r["mn_id"] == mn_id]
        else:
            mac = filters.pop("mac", None)
            if filters:
                raise TypeError(
                    f"bindings() got an unexpected keyword argument {next(iter(filters))!r}"
                )
            if mac:
                wanted = _mac(mac)
                rows = [r for r in rows if r["mac"] == wanted]
        return list(rows[:limit] if limit is not None else rows)

    def _revoke(self, mn_id: str) -> list[dict]:
        # Like the LMA: every entry of the MN goes at once, the removed rows come back.
        removed = [r for r in self.current_rows() if r["mn_id"] == mn_id]
        self.rows = [r for r in self.current_rows() if r["mn_id"] != mn_id]
        self._timeline = []
        return removed


def lma_row(mn_id="mn1@lab.pmipv6.example", proxy_coa="2001:db8:ffff::11", **extra) -> dict:
    row = {
        "mn_id": mn_id,
        "hnps": ["2001:db8:100::/64"],
        "proxy_coa": proxy_coa,
        "state": "active",
        "access_technology_type": 4,
        "mn_link_layer_id": "02:00:00:00:01:01",
        "handoff_indicator": 1,
        "mag_link_local": "fe80::1",
        "lifetime": 600,
        "lifetime_remaining": 599.5,
        "registered_for": 0.5,
        "handoffs": 0,
        "sequence": 1,
        "timestamp": 1700000000.0,
    }
    row.update(extra)
    return row


def mag_row(mac="02:00:00:00:01:01", state="active", **extra) -> dict:
    row = {
        "mn_id": "mn1@lab.pmipv6.example",
        "mac": mac,
        "state": state,
        "exchange": "none",
        "hnps": ["2001:db8:100::/64"],
        "lma": "2001:db8:ffff::1",
        "interface": "acc0",
        "handoff_indicator": 1,
        "lifetime": 600,
        "lifetime_remaining": 599.5 if state == "active" else None,
        "sequence": 1,
        "attached_for": 0.5,
    }
    row.update(extra)
    return row


@pytest.fixture
def socket_dir():
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="pmip-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_agent(socket_dir):
    """Factory: ``fake_agent(role="lma", start=True)`` -> a running FakeAgent."""
    agents = []

    def make(role="lma", start=True, name=None, address=None):
        path = os.path.join(socket_dir, name or f"{role}{len(agents)}.sock")
        agent = FakeAgent(path, role=role, address=address)
        agents.append(agent)
        if start:
            agent.start()
        return agent

    yield make
    for agent in agents:
        agent.stop()


@pytest.fixture
def rows():
    """Row builders: ``rows.lma(...)``, ``rows.mag(...)``."""

    class Rows:
        lma = staticmethod(lma_row)
        mag = staticmethod(mag_row)

    return Rows


# --------------------------------------------------------------------------- running modules


@contextlib.contextmanager
def _module_args(args: dict):
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from ansible.module_utils import basic

        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old
        return
    with patch_module_args(args):
        yield


@pytest.fixture
def run_module(capsys):
    """``run_module(module, args, check_mode=False, diff=False)`` -> the module's result dict.

    The module runs for real (its ``main()``), exits through ``exit_json`` or
    ``fail_json`` and prints its result; that JSON is what is returned, with
    ``failed`` set on failure.
    """

    def run(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        capsys.readouterr()
        with _module_args(args), pytest.raises(SystemExit) as exit_info:
            module.main()
        out = capsys.readouterr().out
        result = json.loads(out.strip().splitlines()[-1])
        assert (exit_info.value.code == 0) == (not result.get("failed")), out
        return result

    return run
