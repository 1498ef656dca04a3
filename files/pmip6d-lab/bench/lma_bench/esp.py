"""``--esp``: the LMA with the agent's own ESP on its signaling, against the same LMA without.

``--esp both`` runs every LMA variant of a size twice, ESP off then on (kind
``<kind>-esp``), and the report prints the on/off ratio of every phase. The
LMA gets one SA pair per emulated MAG (``signaling_security``, implementation
``agent``, aes256-gcm16, fresh random keys per run); the generator, given the
same keys in a file, seals every PBU with pmip6d.security.esp (the MH checksum
computed first, as the kernel does not inside ESP) on a raw IPPROTO_ESP socket
and opens every PBA before its usual fast-path match.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from pmip6d.security.esp import EspError, InboundSa, OutboundSa, SecurityAssociation
from pmip6d.wire.codec import checksum
from pmip6d.wire.constants import IPPROTO_MH

from .protocol import LMA_ADDRESS, SO_RCVBUFFORCE, SO_SNDBUFFORCE, SOCKET_BUFFER, mag_address

ALGORITHM = "aes256-gcm16"
KEY_BYTES = 36
IPPROTO_ESP = 50


def keys_file(tmp: Path) -> Path:
    """Where the generator finds the emulated MAGs' keys (the run's temporary folder)."""
    return tmp / "esp-keys.json"


def esp_variants(
    variants: list[tuple[str, dict[str, Any]]], mode: str, mags: int, keys_file: Path
) -> list[tuple[str, dict[str, Any]]]:
    """Each LMA variant as ``--esp`` asks: as is (none), with ESP (on), or both in turn."""
    if mode == "none":
        return variants
    security = lma_security(mags, keys_file)
    with_esp = []
    for kind, extra in variants:
        changed = {**extra, "signaling_security": security}
        if "state_file" in extra:  # not the bindings the run without ESP saved
            changed["state_file"] = extra["state_file"] + "-esp"
        with_esp.append((f"{kind}-esp", changed))
    if mode == "on":
        return with_esp
    return [run for pair in zip(variants, with_esp, strict=True) for run in pair]


def lma_security(mags: int, keys_file: Path) -> dict[str, Any]:
    """The LMA's ``signaling_security``; the generator's mirror image goes to ``keys_file``."""
    sas, mirror = [], []
    for m in range(mags):
        down, up = os.urandom(KEY_BYTES).hex(), os.urandom(KEY_BYTES).hex()
        down_spi, up_spi = 0x10000 + m, 0x20000 + m
        sas.append(
            {
                "peer": f"mag{m}",
                "algorithm": ALGORITHM,
                "outbound": {"spi": down_spi, "key": down},
                "inbound": {"spi": up_spi, "key": up},
            }
        )
        mirror.append({"out_spi": up_spi, "out_key": up, "in_spi": down_spi, "in_key": down})
    keys_file.write_text(json.dumps(mirror))
    keys_file.chmod(0o600)
    return {"mode": "esp", "implementation": "agent", "security_associations": sas}


def esp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_ESP)
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    return sock


class GeneratorEsp:
    """The emulated MAGs' SAs: seal a PBU from MAG m, open a PBA to any of them."""

    def __init__(self, keys_file: Path, mags: int) -> None:
        mirror = json.loads(keys_file.read_text())[:mags]
        self.outbound = [
            OutboundSa(SecurityAssociation(e["out_spi"], bytes.fromhex(e["out_key"]), ALGORITHM))
            for e in mirror
        ]
        self.inbound = {
            e["in_spi"]: InboundSa(
                SecurityAssociation(e["in_spi"], bytes.fromhex(e["in_key"]), ALGORITHM), 1024
            )
            for e in mirror
        }
        self.sources = [mag_address(m) for m in range(len(mirror))]
        self.open_errors = 0

    def seal(self, mag: int, mh: bytearray) -> bytes:
        mh[4:6] = checksum(self.sources[mag], LMA_ADDRESS, mh).to_bytes(2, "big")
        return self.outbound[mag].seal(IPPROTO_MH, bytes(mh))

    def open(self, packet: bytes) -> bytes | None:
        sa = self.inbound.get(int.from_bytes(packet[:4], "big")) if len(packet) >= 8 else None
        if sa is None:
            self.open_errors += 1
            return None
        try:
            _next_header, mh = sa.open(packet)
        except EspError:
            self.open_errors += 1
            return None
        return mh
