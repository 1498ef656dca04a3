"""IPv6 prefixes as compact, hashable values.

Bindings are looked up by prefix on every message, so a prefix is a plain
(16-byte address, length) tuple rather than an ``ipaddress`` object: it hashes
fast, costs little memory at a million bindings and converts on demand.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

ZERO_ADDRESS = bytes(16)


class Prefix(NamedTuple):
    address: bytes
    """The 16 bytes of the prefix, bits past ``length`` zero."""
    length: int

    @classmethod
    def parse(cls, text: str) -> Prefix:
        """``"2001:db8::/64"`` → Prefix; host bits must be zero (ValueError otherwise)."""
        net = ipaddress.IPv6Network(text, strict=True)
        return cls(net.network_address.packed, net.prefixlen)

    @property
    def is_zero(self) -> bool:
        """The all-zero prefix a MAG sends to ask the LMA for an assignment (RFC 5213 §6.9.1.1)."""
        return self.address == ZERO_ADDRESS

    def network(self) -> ipaddress.IPv6Network:
        return ipaddress.IPv6Network((self.address, self.length), strict=False)

    def __str__(self) -> str:
        return f"{socket.inet_ntop(socket.AF_INET6, self.address)}/{self.length}"


ZERO_PREFIX = Prefix(ZERO_ADDRESS, 0)


def address_text(packed: bytes) -> str:
    """16 bytes → the canonical compressed text form, as the kernel reports addresses."""
    return socket.inet_ntop(socket.AF_INET6, packed)


def canonical_address(text: str) -> str:
    """Any spelling of an IPv6 address → the canonical compressed form (ValueError if invalid)."""
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
