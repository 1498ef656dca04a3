"""daemon/espsocket.py on real raw sockets: sealed MH through, everything else counted.

Both ends live on one namespace's loopback (two addresses); the scenario runs in
a child process inside it (``ip netns exec``), as this Python has no setns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

LMA, MAG, STRANGER = "2001:db8::1", "2001:db8::2", "2001:db8::3"


def scenario() -> dict:
    import socket

    from pmip6d.config import PeerSecurityAssociations
    from pmip6d.daemon.espsocket import EspSocket
    from pmip6d.daemon.mhsocket import MobilityHeaderSocket

    k_lma, k_mag = "11" * 20, "22" * 20

    def sas(peer, out_spi, out_key, in_spi, in_key, algorithm):
        return PeerSecurityAssociations(
            peer=peer,
            algorithm=algorithm,
            outbound={"spi": out_spi, "key": out_key},
            inbound={"spi": in_spi, "key": in_key},
        )

    lma = EspSocket(LMA, [(MAG, sas("mag", 4097, k_lma, 8193, k_mag, "aes128-gcm16"))])
    mag = EspSocket(MAG, [(LMA, sas("lma", 8193, k_mag, 4097, k_lma, "aes128-gcm16"))], 8)
    # Heartbeat-shaped MH (type 23), checksum left zero as the codec leaves it.
    mh = bytes([59, 1, 23, 0, 0, 0, 0, 0])

    def drain(sock):
        time.sleep(0.2)
        return sock.recv_batch()

    out: dict = {}
    mag.send(LMA, mh)
    got = drain(lma)
    out["through"] = [(src, data.hex(), arrived is not None) for src, data, arrived in got]
    # Unprotected, from the peer's own address and from a stranger.
    for source in (MAG, STRANGER):
        plain = MobilityHeaderSocket(source)
        plain.send(LMA, mh)
        plain.close()
    # Raw ESP: a replay of a recorded packet, garbage with the MAG's SPI, a wrong SPI,
    # a right SPI from the wrong source, a tampered packet, and a truncated one.
    recorded = mag.outbound[LMA].seal(135, mh)
    raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 50)
    raw.bind((MAG, 0))
    raw.sendto(recorded, (LMA, 0))  # a valid one (bad MH checksum: malformed), then again
    raw.sendto(recorded, (LMA, 0))
    raw.sendto((8193).to_bytes(4, "big") + b"garbage-garbage-garbage-garbage-", (LMA, 0))
    raw.sendto((9999).to_bytes(4, "big") + bytes(40), (LMA, 0))
    tampered = bytearray(mag.outbound[LMA].seal(135, mh))
    tampered[-1] ^= 1
    raw.sendto(bytes(tampered), (LMA, 0))
    raw.sendto(b"\x00\x00", (LMA, 0))
    stranger = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 50)
    stranger.bind((STRANGER, 0))
    stranger.sendto(mag.outbound[LMA].seal(135, mh), (LMA, 0))
    out["after_attacks"] = drain(lma)
    lma.send(MAG, mh)
    out["answer"] = [src for src, _data, _at in drain(mag)]
    try:
        lma.send(STRANGER, mh)
        out["stranger_send"] = "sent"
    except OSError as exc:
        out["stranger_send"] = str(exc)
    out["lma"] = dict(lma.counters)
    out["mag"] = dict(mag.counters)
    return out


@pytest.fixture
def namespace(netns_ok):
    name = f"espsock{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for address in (LMA, MAG, STRANGER):
            subprocess.run(
                ["ip", "-n", name, "addr", "add", f"{address}/128", "dev", "lo", "nodad"],
                check=True,
            )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_only_sealed_mobility_headers_from_the_peer_get_through(namespace):
    here = Path(__file__).parent
    code = f"import sys, json; sys.path.insert(0, {str(here)!r}); "
    code += "import test_espsocket_netns as t; print(json.dumps(t.scenario()))"
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # The checksum was filled in by the sender and verified by the receiver.
    [(source, data, stamped)] = out["through"]
    assert (source, stamped) == (MAG, True)
    assert data[:8] == "3b011700" and data[8:12] != "0000"
    assert out["after_attacks"] == []
    assert out["answer"] == [LMA]
    assert "no ESP security association" in out["stranger_send"]
    assert out["lma"] == {
        "esp_sent": 1,
        "esp_received": 1,
        "esp_unprotected_dropped": 2,
        "esp_replayed": 1,
        # the recorded packet's zero MH checksum, the truncated one
        "esp_malformed": 2,
        # the unknown SPI, and the MAG's SPI from the stranger's address
        "esp_unknown_spi": 2,
        # the garbage behind the right SPI, the tampered packet
        "esp_auth_failed": 2,
    }
    assert out["mag"]["esp_received"] == 1 and out["mag"]["esp_sent"] == 1
