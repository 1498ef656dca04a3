"""The systemd readiness message reaches a NOTIFY_SOCKET, and is a no-op without one."""

from __future__ import annotations

import socket

from pmip6d.daemon.sdnotify import notify


def test_ready_reaches_the_service_manager_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1") is True
        assert manager.recv(100) == b"READY=1"


def test_abstract_socket_names_start_with_at(monkeypatch):
    name = f"pmip6d-test-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("STOPPING=1") is True
        assert manager.recv(100) == b"STOPPING=1"


def test_outside_systemd_nothing_happens(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert notify("READY=1") is False, "a vanished manager is not an error for the agent"
