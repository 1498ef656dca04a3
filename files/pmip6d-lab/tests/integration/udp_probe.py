"""A tiny UDP echo server and prober, run inside lab namespaces by the end-to-end tests.

    python udp_probe.py echo PORT
    python udp_probe.py probe ADDRESS PORT INTERVAL DURATION OUT.json

The prober sends numbered datagrams every INTERVAL seconds for DURATION
seconds (or until SIGTERM; then it waits up to a second for the echoes still
in flight) and records, per sequence number, when it was sent
and when (if ever) its echo came back; that shows a flow's continuity across
a handover in both directions at once. Times are relative to ``start``, which
is recorded as well (CLOCK_MONOTONIC, the same in every process), and the file
OUT.json.started appears once the first datagram is on its way — so a test on
a slow machine can wait for the flow before it moves the MN.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import struct
import sys
import time


def echo(port: int) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::", port))
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(data, addr)


DRAIN = 1.0
"""Seconds the prober waits for outstanding echoes after it stops sending."""


def receive(sock: socket.socket, echoed: dict[int, float], start: float) -> None:
    """Every echo waiting on the socket, with its arrival time."""
    while True:
        try:
            data, _unused = sock.recvfrom(2048)
        except BlockingIOError:
            return
        if len(data) == 4:
            echoed[struct.unpack("!I", data)[0]] = time.monotonic() - start


def probe(address: str, port: int, interval: float, duration: float, out: str) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sent: dict[int, float] = {}
    echoed: dict[int, float] = {}
    errors = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_unused: stop.append(True))
    start = time.monotonic()
    seq = 0
    next_send = start
    while time.monotonic() - start < duration and not stop:
        now = time.monotonic()
        if now >= next_send:
            try:
                sock.sendto(struct.pack("!I", seq), (address, port))
                sent[seq] = now - start
                if seq == 0:
                    open(out + ".started", "w").close()
            except OSError:
                errors += 1  # no route or address not usable yet: a gap, not a crash
            seq += 1
            next_send += interval
        ready, _unused, _unused = select.select(
            [sock], [], [], max(0.0, next_send - time.monotonic())
        )
        if ready:
            receive(sock, echoed, start)
    # Stopped: send no more, but wait for the echoes still in flight, or the last
    # datagrams would count as lost (a slow, emulated machine has several out).
    drain_until = time.monotonic() + DRAIN
    while len(echoed) < len(sent) and time.monotonic() < drain_until:
        ready, _unused, _unused = select.select([sock], [], [], drain_until - time.monotonic())
        if ready:
            receive(sock, echoed, start)
    with open(out, "w") as f:
        json.dump(
            {
                "start": start,
                "sent": sent,
                "echoed": echoed,
                "errors": errors,
                "interval": interval,
            },
            f,
        )


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(int(sys.argv[2]))
    else:
        probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
