"""pmipctl over the shared control client: exit codes and what it prints."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from pmip6d.cli import pmipctl_main
from pmip6d.control_client import AgentCommandError, AgentUnreachable


def serve_once(path: Path, answer: dict) -> threading.Thread:
    """A one-request fake agent: reads a line, answers ``answer``, records the request."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    requests: list[dict] = []

    def run() -> None:
        conn = server.accept()[0]
        with conn, server:
            data = b""
            while not data.endswith(b"\n"):
                data += conn.recv(4096)
            requests.append(json.loads(data))
            conn.sendall(json.dumps(answer).encode() + b"\n")

    thread = threading.Thread(target=run, daemon=True)
    thread.requests = requests  # type: ignore[attr-defined]
    thread.start()
    return thread


def test_answer_is_printed_as_json(tmp_path, capsys):
    path = tmp_path / "mag.sock"
    agent = serve_once(path, {"ok": True, "data": {"role": "mag"}})
    assert pmipctl_main(["-s", str(path), "--json", "status"]) == 0
    agent.join(5)
    assert agent.requests == [{"cmd": "status", "args": {}}]
    assert json.loads(capsys.readouterr().out) == {"role": "mag"}


def test_status_shows_the_heartbeat_peers(tmp_path, capsys):
    path = tmp_path / "mag.sock"
    heartbeat = {
        "interval": 1.0,
        "missing_allowed": 3,
        "peer_down_grace": None,
        "restart_counter": None,
        "peers": [
            {
                "address": "2001:db8:ffff::1",
                "state": "down",
                "missed": 3,
                "restart_counter": 4,
                "last_response_ago": 3.5,
                "down_for": 0.2,
            }
        ],
    }
    serve_once(path, {"ok": True, "data": {"role": "mag", "heartbeat": heartbeat}})
    assert pmipctl_main(["-s", str(path), "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "heartbeat  every 1 s, down after 3 missed"
    assert out[2].split() == ["PEER", "STATE", "MISSED", "RESTARTS", "LAST", "ANSWER", "(S",
                              "AGO)", "DOWN", "FOR", "(S)"]  # fmt: skip
    assert out[3].split() == ["2001:db8:ffff::1", "down", "3", "4", "3.5", "0.2"]


def test_detach_sends_the_mac(tmp_path, capsys):
    path = tmp_path / "mag.sock"
    agent = serve_once(path, {"ok": True, "data": None})
    assert pmipctl_main(["-s", str(path), "detach", "02:00:00:00:00:01"]) == 0
    agent.join(5)
    assert agent.requests == [{"cmd": "detach", "args": {"mac": "02:00:00:00:00:01"}}]


def test_timeline_prints_each_role_s_phases(tmp_path, capsys):
    from pmip6d.daemon.lma_timeline import LmaHandover

    lma_row = LmaHandover("mn1", "2001:db8::12", "2001:db8::11", 1.0, 1.0004, 1.0006).row()
    path = tmp_path / "lma.sock"
    agent = serve_once(path, {"ok": True, "data": [lma_row]})
    assert pmipctl_main(["-s", str(path), "timeline", "--limit", "5"]) == 0
    agent.join(5)
    assert agent.requests == [{"cmd": "timeline", "args": {"limit": 5}}]
    head, row = capsys.readouterr().out.splitlines()
    assert head.split()[:5] == ["MN-ID", "FROM", "TO", "QUEUED", "DECIDE"]
    assert row.split()[:5] == ["mn1", "2001:db8::11", "2001:db8::12", "0.4", "0.2"]
    mag_row = {"mac": "02:00:00:00:01:01", "mn_id": "mn1", "reason": "Associated",
               "l2_to_pbu_ms": 0.3, "total_ms": 1.5}  # fmt: skip
    path = tmp_path / "mag.sock"
    serve_once(path, {"ok": True, "data": [mag_row]})
    assert pmipctl_main(["-s", str(path), "timeline"]) == 0
    head, row = capsys.readouterr().out.splitlines()
    assert head.split()[:4] == ["MN-ID", "TRIGGER", "L2→PBU", "PBU→PBA"]
    assert row.split()[:4] == ["mn1", "Associated", "0.3", "-"]
    path = tmp_path / "idle.sock"
    serve_once(path, {"ok": True, "data": []})
    assert pmipctl_main(["-s", str(path), "timeline"]) == 0
    assert capsys.readouterr().out.strip() == "(no handover recorded yet)"


def test_revocations_lists_the_bris_waiting_for_their_bra(tmp_path, capsys):
    path = tmp_path / "lma.sock"
    pending = {"mn_id": "mn1", "mag": "2001:db8::11", "sequence": 7, "trigger": "PER_PEER_POLICY",
               "retries": 1, "next_retry_in": 0.25}  # fmt: skip
    agent = serve_once(path, {"ok": True, "data": [pending]})
    assert pmipctl_main(["-s", str(path), "revocations"]) == 0
    agent.join(5)
    assert agent.requests == [{"cmd": "revocations", "args": {}}]
    head, row = capsys.readouterr().out.splitlines()
    assert head.split()[:3] == ["MN-ID", "MAG", "SEQUENCE"]
    assert row.split() == ["mn1", "2001:db8::11", "7", "PER_PEER_POLICY", "1", "0.25"]


def test_error_answer_exits_1(tmp_path, capsys):
    path = tmp_path / "mag.sock"
    serve_once(path, {"ok": False, "error": "unknown command 'x'"})
    assert pmipctl_main(["-s", str(path), "status"]) == 1
    assert "unknown command 'x'" in capsys.readouterr().err


def test_no_agent_exits_2(tmp_path, capsys):
    assert pmipctl_main(["-s", str(tmp_path / "none.sock"), "status"]) == 2
    assert capsys.readouterr().err.startswith(
        f"pmipctl: cannot reach {tmp_path / 'none.sock'}: No such file or directory"
    )


def test_client_errors_are_also_the_builtin_ones():
    # Callers written against a plain socket client catch OSError / RuntimeError.
    assert issubclass(AgentUnreachable, OSError)
    assert issubclass(AgentCommandError, RuntimeError)
    with pytest.raises(OSError):
        from pmip6d.control_client import call

        call("/nonexistent/pmip6d.sock", "ping")
