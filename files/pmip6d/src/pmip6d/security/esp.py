"""RFC 4303 ESP with AES-GCM (RFC 4106), transport mode, pure: bytes in, bytes out.

The agent's own ESP for the Mobility Header between a MAG and its LMA, for
kernels without esp6/rfc4106. One ESP packet, as it follows the IPv6 header::

    SPI (4) | sequence number (4) | IV (8) | ciphertext | ICV (16)

The plaintext is payload | padding 1, 2, 3... | pad length | next header,
padded so that pad length and next header end on a 4-byte boundary (RFC 4303
§2.4). The GCM nonce is the 4-byte salt followed by the explicit IV (RFC 4106
§4); the additional authenticated data is SPI || sequence number (§5, no ESN).
The IV is the 64-bit packet counter XOR a mask drawn at random when the SA is
set up (as Linux's seqiv does): unique under one key within a run (§3.1), and,
since the keys are static (no IKE) and the counter starts again at 1 when an
agent restarts, not the previous run's IVs either — reusing a GCM nonce under
one key would give away the authentication key (RFC 4106 §2, §10).

Sequence numbers are 32 bits, without extended sequence numbers: an outbound
SA refuses to wrap (RFC 4303 §3.3.3). The receiver may keep a sliding
anti-replay window that it moves only after a packet has authenticated
(§3.4.3), so forged packets can neither replay nor advance it; with static
keys a restarted peer starts again at 1 and a window would refuse it until
the receiver restarts too, so the agents' default is no window (0), and
replayed PBUs are refused by RFC 5213's timestamps instead (§5.5).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Algorithm name -> AES key length in bytes; every key is followed by a 4-byte salt.
ALGORITHMS = {"aes128-gcm16": 16, "aes256-gcm16": 32}
SALT_SIZE = 4
IV_SIZE = 8
ICV_SIZE = 16
HEADER_SIZE = 8  # SPI + sequence number
MIN_SPI = 256  # 1..255 are reserved by IANA (RFC 4303 §2.1)
MAX_SEQUENCE = 2**32 - 1
OVERHEAD = HEADER_SIZE + IV_SIZE + ICV_SIZE + 2
_HEADER = struct.Struct("!II")


class EspError(Exception):
    """A packet that is not accepted; the message never contains key material."""


class Malformed(EspError):
    pass


class AuthenticationFailed(EspError):
    pass


class Replayed(EspError):
    pass


class SequenceExhausted(EspError):
    """The outbound SA has sent 2^32-1 packets: it needs new keys (no wrap)."""


@dataclass(frozen=True)
class SecurityAssociation:
    spi: int
    # The AES key followed by the salt (RFC 4106 §8.1). Left out of repr: keys never get logged.
    key: bytes = field(repr=False)
    algorithm: str

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown ESP algorithm {self.algorithm!r}")
        if len(self.key) != ALGORITHMS[self.algorithm] + SALT_SIZE:
            raise ValueError(
                f"{self.algorithm} needs {ALGORITHMS[self.algorithm]}+{SALT_SIZE} key bytes"
            )
        if not MIN_SPI <= self.spi <= MAX_SEQUENCE:
            raise ValueError(f"SPI {self.spi} out of range {MIN_SPI}..{MAX_SEQUENCE}")

    def cipher(self) -> tuple[AESGCM, bytes]:
        return AESGCM(self.key[:-SALT_SIZE]), self.key[-SALT_SIZE:]


def peek_spi(packet: bytes) -> int:
    """The SPI of an ESP packet, to find its inbound SA (Malformed if too short)."""
    if len(packet) < HEADER_SIZE:
        raise Malformed("ESP packet shorter than its header")
    return _HEADER.unpack_from(packet)[0]


class OutboundSa:
    def __init__(self, sa: SecurityAssociation, iv_mask: bytes | None = None) -> None:
        self.sa = sa
        self.sequence = 0  # the last one sent; the first packet carries 1
        self._aead, self._salt = sa.cipher()
        # Fresh for every set-up of the SA (see the module docstring); given only by tests.
        mask = os.urandom(IV_SIZE) if iv_mask is None else iv_mask
        if len(mask) != IV_SIZE:
            raise ValueError(f"the IV mask has {IV_SIZE} bytes")
        self._iv_mask = int.from_bytes(mask, "big")

    def __repr__(self) -> str:
        return f"OutboundSa(spi={self.sa.spi}, sequence={self.sequence})"

    def seal(self, next_header: int, payload: bytes) -> bytes:
        if self.sequence >= MAX_SEQUENCE:
            raise SequenceExhausted(f"outbound SA {self.sa.spi} has no sequence number left")
        self.sequence += 1
        header = _HEADER.pack(self.sa.spi, self.sequence)
        iv = (self.sequence ^ self._iv_mask).to_bytes(IV_SIZE, "big")
        pad = -(len(payload) + 2) % 4
        plaintext = payload + bytes(range(1, pad + 1)) + bytes((pad, next_header))
        return header + iv + self._aead.encrypt(self._salt + iv, plaintext, header)


class InboundSa:
    def __init__(self, sa: SecurityAssociation, replay_window: int = 64) -> None:
        if replay_window < 0:
            raise ValueError("replay window must be 0 (none) or more packets")
        self.sa = sa
        self.window = replay_window
        self.highest = 0  # highest authenticated sequence number
        self.bitmap = 0  # bit i set: highest - i was received
        self._aead, self._salt = sa.cipher()

    def __repr__(self) -> str:
        return f"InboundSa(spi={self.sa.spi}, highest={self.highest}, window={self.window})"

    def _fresh(self, sequence: int) -> bool:
        if sequence == 0:
            return False  # never sent: the first packet carries 1
        if self.window == 0 or sequence > self.highest:  # 0: no anti-replay (§3.4.3)
            return True
        offset = self.highest - sequence
        return offset < self.window and not self.bitmap >> offset & 1

    def _record(self, sequence: int) -> None:
        if self.window == 0:
            self.highest = max(self.highest, sequence)
            return
        mask = (1 << self.window) - 1
        if sequence > self.highest:
            self.bitmap = (self.bitmap << (sequence - self.highest) | 1) & mask
            self.highest = sequence
        else:
            self.bitmap |= 1 << (self.highest - sequence)

    def open(self, packet: bytes) -> tuple[int, bytes]:
        """(next header, payload) of an ESP packet for this SA, or an EspError."""
        if len(packet) < OVERHEAD or (len(packet) - HEADER_SIZE - IV_SIZE) % 4:
            raise Malformed(f"ESP packet of {len(packet)} bytes")
        spi, sequence = _HEADER.unpack_from(packet)
        if spi != self.sa.spi:
            raise Malformed(f"SPI {spi} is not this SA's ({self.sa.spi})")
        # Cheap early reject of a replay before spending the decryption on it (§3.4.3).
        if not self._fresh(sequence):
            raise Replayed(f"sequence {sequence} outside the window or already seen")
        header = packet[:HEADER_SIZE]
        iv = packet[HEADER_SIZE : HEADER_SIZE + IV_SIZE]
        try:
            ciphertext = packet[HEADER_SIZE + IV_SIZE :]
            plaintext = self._aead.decrypt(self._salt + iv, ciphertext, header)
        except InvalidTag:
            raise AuthenticationFailed(f"ICV check failed (SPI {spi}, seq {sequence})") from None
        # Only an authenticated packet moves the window.
        self._record(sequence)
        pad, next_header = plaintext[-2], plaintext[-1]
        if pad > len(plaintext) - 2:
            raise Malformed(f"pad length {pad} longer than the payload")
        end = len(plaintext) - 2 - pad
        if plaintext[end : end + pad] != bytes(range(1, pad + 1)):
            raise Malformed("padding is not 1, 2, 3... (RFC 4303 §2.4)")
        return next_header, plaintext[:end]
