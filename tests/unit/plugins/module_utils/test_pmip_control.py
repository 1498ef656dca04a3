# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The control socket client against a real unix-socket server (conftest.FakeAgent)."""

from __future__ import annotations

import errno
import os
import socket
import time

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_control
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control import (
    AgentCommandError,
    AgentProtocolError,
    AgentTimeout,
    AgentUnreachable,
    ControlClient,
    call,
    check_role,
    socket_path,
)


def test_socket_path_from_role_or_explicit():
    assert socket_path("lma") == "/run/pmip6d/lma.sock"
    assert socket_path("mag") == "/run/pmip6d/mag.sock"
    assert socket_path("lma", "/tmp/x.sock") == "/tmp/x.sock"
    assert socket_path(None, "/tmp/x.sock") == "/tmp/x.sock"
    with pytest.raises(ValueError, match="one of role"):
        socket_path()
    with pytest.raises(ValueError, match="role must be one of lma, mag"):
        socket_path("ap")


def test_call_returns_data(fake_agent):
    agent = fake_agent("lma")
    assert call(agent.path, "ping") == "pong"
    assert call(agent.path, "status")["role"] == "lma"
    assert agent.requests[0] == {"cmd": "ping", "args": {}}


def test_arguments_are_sent_and_none_dropped(fake_agent, rows):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(), rows.lma(mn_id="mn2@lab.pmipv6.example")]
    data = call(agent.path, "bindings", mn_id="mn2@lab.pmipv6.example", limit=None)
    assert [r["mn_id"] for r in data] == ["mn2@lab.pmipv6.example"]
    assert agent.requests[-1] == {"cmd": "bindings", "args": {"mn_id": "mn2@lab.pmipv6.example"}}


def test_several_calls_on_one_connection(fake_agent):
    agent = fake_agent("mag")
    with ControlClient(agent.path) as client:
        assert client.call("ping") == "pong"
        assert client.call("status")["role"] == "mag"
        assert client.call("counters") == {"pbu_sent": 3}
    assert agent.connections == 1


def test_error_answer_raises_with_the_agents_text(fake_agent):
    agent = fake_agent("lma")
    with pytest.raises(AgentCommandError) as info:
        call(agent.path, "attach", mac="02:00:00:00:01:01")
    err = info.value
    assert "unknown command 'attach'" in err.msg
    assert err.msg.startswith(f"agent at {agent.path} refused 'attach'")
    assert err.rc == 1
    assert err.stderr.startswith("unknown command 'attach'; known: bindings, counters")
    assert '"ok": false' in err.stdout
    assert not err.transient
    kwargs = err.fail_kwargs()
    assert kwargs["socket"] == agent.path
    assert kwargs["request"] == {"cmd": "attach", "args": {"mac": "02:00:00:00:01:01"}}


def test_connection_stays_usable_after_an_error_answer(fake_agent):
    agent = fake_agent("lma")
    with ControlClient(agent.path) as client:
        with pytest.raises(AgentCommandError, match="bad arguments"):
            client.call("bindings", mac="02:00:00:00:01:01")
        assert client.call("ping") == "pong"


def test_missing_socket(socket_dir):
    path = os.path.join(socket_dir, "nothing.sock")
    with pytest.raises(AgentUnreachable) as info:
        call(path, "ping")
    err = info.value
    assert err.rc == errno.ENOENT
    assert err.msg == f"no control socket at {path}: is the pmip6d agent running on this host?"
    assert err.transient
    assert err.fail_kwargs()["rc"] == errno.ENOENT


def test_socket_nobody_listens_on(socket_dir):
    path = os.path.join(socket_dir, "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening: what a crashed agent leaves behind
    stale.close()
    with pytest.raises(AgentUnreachable) as info:
        call(path, "ping")
    assert info.value.rc == errno.ECONNREFUSED
    assert "refuses connections" in info.value.msg


def test_path_that_is_not_a_socket(socket_dir):
    path = os.path.join(socket_dir, "file.sock")
    with open(path, "w") as handle:
        handle.write("x")
    with pytest.raises(AgentUnreachable) as info:
        call(path, "ping")
    assert info.value.msg == f"{path} is not a unix socket"


def test_silent_agent_times_out(fake_agent):
    agent = fake_agent("lma")
    agent.mode = "silent"
    start = time.monotonic()
    with pytest.raises(AgentTimeout) as info:
        call(agent.path, "status", timeout=0.3)
    took = time.monotonic() - start
    assert 0.25 <= took < 2.0
    assert info.value.rc == errno.ETIMEDOUT
    assert "did not answer 'status' within 0.3s" in info.value.msg
    assert info.value.transient


def test_garbage_answer(fake_agent):
    agent = fake_agent("lma")
    agent.mode = "garbage"
    with pytest.raises(AgentProtocolError) as info:
        call(agent.path, "ping")
    assert "not JSON" in info.value.msg
    assert info.value.stdout == "this is not json"
    assert not info.value.transient


def test_answer_without_ok(fake_agent):
    agent = fake_agent("lma")
    agent.mode = "no_ok"
    with pytest.raises(AgentProtocolError, match=r'without \{"ok": \.\.\.\}'):
        call(agent.path, "ping")


def test_agent_hangs_up(fake_agent):
    agent = fake_agent("lma")
    agent.mode = "close"
    with pytest.raises(AgentProtocolError, match="closed the control connection"):
        call(agent.path, "ping")


def test_oversized_answer_is_refused(socket_dir, monkeypatch):
    monkeypatch.setattr(pmip_control, "MAX_ANSWER_BYTES", 1000)
    path = os.path.join(socket_dir, "big.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    client = ControlClient(path, timeout=2)
    client.connect()
    conn, _addr = server.accept()
    try:
        conn.sendall(b"x" * 5000)  # no newline, ever
        with pytest.raises(AgentProtocolError, match="more than 1000 bytes"):
            client.call("ping")
    finally:
        conn.close()
        server.close()
        client.close()


def test_check_role():
    assert check_role("/s", "lma", {"role": "lma"}) == "lma"
    assert check_role("/s", None, {"role": "mag"}) == "mag"
    assert check_role("/s", "mag", {}) == "mag"
    with pytest.raises(AgentProtocolError, match="belongs to a MAG agent, not a LMA: use role=mag"):
        check_role("/s", "lma", {"role": "mag"})
    with pytest.raises(AgentProtocolError, match="cannot tell the agent's role"):
        check_role("/s", None, {"address": "x"})
