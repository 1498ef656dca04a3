"""The Mobility Header socket's buffers are what the configuration says, past rmem_max.

A host's net.core.rmem_max (Debian: 208 KiB) would otherwise cap the LMA's receive
buffer at a few hundred queued PBUs, and a burst (a MAG restarting, a handover
storm) would be dropped in the kernel. The agents have CAP_NET_ADMIN and force it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pmip6d.daemon.espsocket import _esp_socket
from pmip6d.daemon.mhsocket import MobilityHeaderSocket

pytestmark = pytest.mark.netns


def test_the_buffers_are_forced_past_the_hosts_maximum():
    most = max(
        int(Path("/proc/sys/net/core/rmem_max").read_text()),
        int(Path("/proc/sys/net/core/wmem_max").read_text()),
    )
    want = min(4 * most, 1 << 30)
    mh = MobilityHeaderSocket(None, want)
    esp = _esp_socket(None, want)
    try:
        for sock in (mh.sock, esp):
            # The kernel keeps twice the value asked for (its bookkeeping overhead).
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * want
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * want
    finally:
        mh.close()
        esp.close()
