# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules a PMIPv6 domain's values follow, written once for the agent and the collection.

MAC addresses, IPv6 addresses and prefixes, names, and the checks across them
(a value claimed twice, prefixes that overlap). The agent's schemas
(``pmip6d.config``, ``pmip6d.policy``) and its I/O-free cores use them, and so
does the collection's inventory filter (``plugins/filter/pmipv6.py``), so an
inventory the filter accepts is a policy the agent loads and the other way round.

Two copies, one text: this file is ``files/pmip6d/src/pmip6d/rules.py`` in the
agent and, byte for byte, ``plugins/module_utils/pmip_rules.py`` in the
collection (Ansible ships module_utils, not the agent's package). Edit the
agent's copy and run ``scripts/sync-module-utils.sh``; a test fails while they
differ. Hence: the standard library only, and Python 3.8 (module_utils may
run on older controllers and targets than the agent's 3.10).

Every check raises ``ValueError`` with the problem and the value; the caller
prefixes the file and the field (or the host and the variable).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# --------------------------------------------------------------------------- names

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""A policy entry's name (MAGs, LMAs): the inventory host name in the collection."""
NAME_MAX_LENGTH = 64
INTERFACE_PATTERN = r"^[A-Za-z0-9_.:@-]{1,15}$"
"""A Linux interface name (IFNAMSIZ - 1 characters)."""
MN_ID_MAX_LENGTH = 250
"""A mobile node identifier (NAI, RFC 4282); the MN-ID option holds at most 255 octets."""
HNP_LENGTH = 64
"""Length of the home network prefixes an LMA hands out of its pool (the agent's default)."""

_NAME = re.compile(NAME_PATTERN)
_INTERFACE = re.compile(INTERFACE_PATTERN)


def is_name(value: Any) -> bool:
    """True for a policy entry name."""
    return isinstance(value, str) and len(value) <= NAME_MAX_LENGTH and bool(_NAME.match(value))


def is_interface_name(value: Any) -> bool:
    """True for a Linux interface name."""
    return isinstance(value, str) and bool(_INTERFACE.match(value))


def domain_name(value: Any) -> str:
    """The realm of mobile node identifiers (``name@realm``): no ``@``, no white space."""
    if not isinstance(value, str) or not value or "@" in value or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a domain name")
    return value


# --------------------------------------------------------------------------- MAC addresses

_MAC_HEX = re.compile(r"^[0-9a-fA-F]{12}$")


def parse_mac(text: str) -> bytes:
    """``02:00:5e:00:53:01``, ``02-00-5e-00-53-01`` or Cisco's ``0200.5e00.5301`` → 6 bytes."""
    digits = text.replace(":", "").replace("-", "").replace(".", "")
    if not _MAC_HEX.match(digits):
        raise ValueError(f"{text!r} is not a MAC address")
    return bytes.fromhex(digits)


def mac_text(mac: bytes) -> str:
    """6 bytes → ``02:00:5e:00:53:01``."""
    return ":".join(f"{b:02x}" for b in mac)


def is_multicast_mac(mac: bytes) -> bool:
    """The group bit (broadcast included): never a station's or an interface's address."""
    return bool(mac[0] & 0x01)


def is_zero_mac(mac: bytes) -> bool:
    return mac == bytes(6)


def mac_address(value: Any) -> str:
    """Any of the three spellings, as read from YAML → canonical text."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads some unquoted MACs (12:34:56:...) as base-60 numbers.
        raise ValueError(
            f"{value!r} is not a MAC address: quote MAC addresses, YAML read this one as a number"
        )
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a MAC address")
    return mac_text(parse_mac(value))


def unicast_mac(value: Any) -> str:
    """A MAC a mobile node or an access link can have: not multicast, not all-zero."""
    text = mac_address(value)
    mac = parse_mac(text)
    if is_multicast_mac(mac):
        raise ValueError(f"{value} is a multicast MAC address")
    if is_zero_mac(mac):
        raise ValueError(f"{value} is the all-zero MAC address")
    return text


# --------------------------------------------------------------------------- IP addresses


def _ipv6(value: Any) -> ipaddress.IPv6Address:
    if not isinstance(value, str) or "%" in value:  # no zone index: none is meant here
        raise ValueError(f"{value!r} is not an IPv6 address")
    try:
        return ipaddress.IPv6Address(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv6 address") from None


def ipv6_address(value: Any) -> str:
    """Any spelling of an IPv6 address → its canonical (compressed) text."""
    return _ipv6(value).compressed


def routable_address(value: Any) -> str:
    """A MAG's Proxy-CoA or an LMA's LMAA: unicast, and neither unspecified nor link-local."""
    address = _ipv6(value)
    for kind, wrong in (
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("link-local", address.is_link_local),
    ):
        if wrong:
            raise ValueError(f"{value} is a {kind} address; a routable unicast address is needed")
    return address.compressed


def link_local_address(value: Any) -> str:
    """The access links' shared link-local address (RFC 5213 §6.8): in fe80::/10."""
    address = _ipv6(value)
    if not address.is_link_local:
        raise ValueError(f"{address.compressed} is not a link-local (fe80::/10) address")
    return address.compressed


def ip_address(value: Any) -> str:
    """An IPv4 or IPv6 address (an access point's, which may be either)."""
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


# --------------------------------------------------------------------------- prefixes


def ipv6_prefix(value: Any) -> ipaddress.IPv6Network:
    """``2001:db8:100::/48`` → IPv6Network; host bits set are an error, not rounded away."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IPv6 prefix")
    try:
        return ipaddress.IPv6Network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv6 prefix ({exc})") from None


def overlapping(
    net: ipaddress.IPv6Network, claims: Iterable[tuple[ipaddress.IPv6Network, str]]
) -> Iterator[tuple[ipaddress.IPv6Network, str]]:
    """The claims ``(network, where)`` that overlap ``net``, in order."""
    for other, where in claims:
        if net.overlaps(other):
            yield other, where


def overlaps(
    claims: Sequence[tuple[ipaddress.IPv6Network, str]],
) -> Iterator[tuple[ipaddress.IPv6Network, str, ipaddress.IPv6Network, str]]:
    """Every pair of overlapping prefixes in ``claims``, a list of ``(network, where)``.

    Yields ``(network, where, other, other_where)``, each claim against the ones
    before it, in order: the later one is reported, naming the earlier.
    """
    for i, (net, where) in enumerate(claims):
        for other, other_where in overlapping(net, claims[:i]):
            yield net, where, other, other_where


# --------------------------------------------------------------------------- uniqueness


class Unique:
    """Values that must not repeat (names, addresses, MACs): the first claim owns one."""

    def __init__(self) -> None:
        self._owner: dict[Any, str] = {}

    def claim(self, value: Any, where: str) -> str | None:
        """Record ``value`` for ``where``; the earlier claimant if it was taken (then no change)."""
        if value in self._owner:
            return self._owner[value]
        self._owner[value] = where
        return None

    def __contains__(self, value: Any) -> bool:
        return value in self._owner
