"""systemd's readiness protocol (``Type=notify``), without libsystemd.

The agent says ``READY=1`` once its data plane is in the kernel and its
sockets listen, so ``systemctl start`` (and Ansible's systemd module) returns
only when the agent really runs — and fails, with the agent's own exit
status, when it cannot start. Outside systemd (no ``NOTIFY_SOCKET``) this
does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to the service manager; False if there is none."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
