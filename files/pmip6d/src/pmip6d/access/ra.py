"""Router Advertisements for one mobile node, Router Solicitations from it (RFC 4861).

Pure functions on bytes: no sockets, no clock. The MAG emulates each mobile
node's home link, so every RA is built for exactly one MN: an Ethernet frame to
that MN's MAC (IPv6 destination ff02::1, RFC 6085, or the address of the
soliciting MN), carrying Prefix Information options for that MN's home network
prefixes only. The IPv6 source is the access-link link-local address and the
Source Link-Layer Address option the access-link MAC, both shared by all MAGs
of the domain (RFC 5213 §6.8), so the MN's default router survives a handover.

:class:`RaSettings` uses radvd's variables (snake_case here, radvd's spelling
accepted by :meth:`RaSettings.from_radvd`) with radvd's defaults and checks.
Interval lower bounds are the Mobile IPv6 ones radvd allows (RFC 6275 §7.5):
MaxRtrAdvInterval >= 0.07 s, MinRtrAdvInterval >= 0.03 s, MinDelayBetweenRAs
>= 0.03 s. Upper bounds follow RFC 8319 (65535 s).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

from ..wire.prefix import Prefix

ETH_P_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_ROUTER_SOLICIT = 133
ND_ROUTER_ADVERT = 134
ND_OPT_SOURCE_LINKADDR = 1
ND_OPT_PREFIX_INFORMATION = 3
ND_OPT_MTU = 5
PIO_FLAG_ON_LINK = 0x80
PIO_FLAG_AUTONOMOUS = 0x40

ALL_NODES = socket.inet_pton(socket.AF_INET6, "ff02::1")
ALL_ROUTERS = socket.inet_pton(socket.AF_INET6, "ff02::2")
UNSPECIFIED = bytes(16)
ALL_ROUTERS_MAC = bytes.fromhex("333300000002")
INFINITY = 0xFFFFFFFF
"""A prefix lifetime meaning "forever" (radvd's ``infinity``)."""

_ETH = 14
_IP6 = 40
_RS_HEADER = 8
_RA_HEADER = 16

# --------------------------------------------------------------------------- settings


@dataclass(slots=True, frozen=True)
class RaSettings:
    """What goes into the RAs and when; radvd names and defaults.

    ``None`` for :attr:`min_rtr_adv_interval` and :attr:`adv_default_lifetime`
    means radvd's derived default (0.33 × and 3 × MaxRtrAdvInterval); it is
    resolved at construction, so after that both are numbers. Construction
    raises ValueError, naming the radvd variable, for settings radvd rejects.
    """

    max_rtr_adv_interval: float = 600.0
    """MaxRtrAdvInterval, seconds: upper bound of the periodic RA interval."""
    min_rtr_adv_interval: float | None = None
    """MinRtrAdvInterval, seconds: lower bound; at most 0.75 × MaxRtrAdvInterval."""
    adv_default_lifetime: int | None = None
    """AdvDefaultLifetime, seconds: router lifetime; 0 or >= MaxRtrAdvInterval."""
    adv_valid_lifetime: int = 86_400
    """AdvValidLifetime of each home network prefix, seconds (0xFFFFFFFF: infinity)."""
    adv_preferred_lifetime: int = 14_400
    """AdvPreferredLifetime, seconds; at most AdvValidLifetime."""
    adv_cur_hop_limit: int = 64
    """AdvCurHopLimit; 0: unspecified."""
    adv_reachable_time: int = 0
    """AdvReachableTime, milliseconds; 0: unspecified."""
    adv_retrans_timer: int = 0
    """AdvRetransTimer, milliseconds; 0: unspecified. The MN also times its DAD with it."""
    adv_link_mtu: int = 0
    """AdvLinkMTU; 0: no MTU option."""
    adv_on_link: bool = True
    """AdvOnLink: the L flag of the Prefix Information options."""
    adv_autonomous: bool = True
    """AdvAutonomous: the A flag (SLAAC; works for /64 prefixes on Ethernet)."""
    min_delay_between_ras: float = 3.0
    """MinDelayBetweenRAs, seconds: answers to one MN's RSs are at least this far apart."""
    initial_ras: int = 3
    """RAs of the initial burst after serve(), the immediate one included (radvd: 3)."""
    initial_ra_interval: float = 0.5
    """Seconds between the RAs of the initial burst (radvd: up to 16 s)."""

    def __post_init__(self) -> None:
        if self.min_rtr_adv_interval is None:
            object.__setattr__(self, "min_rtr_adv_interval", 0.33 * self.max_rtr_adv_interval)
        if self.adv_default_lifetime is None:
            default = max(1, int(3 * self.max_rtr_adv_interval))
            object.__setattr__(self, "adv_default_lifetime", min(default, 0xFFFF))
        self._check()

    def _check(self) -> None:
        max_i, min_i = self.max_rtr_adv_interval, self.min_rtr_adv_interval
        assert min_i is not None and self.adv_default_lifetime is not None
        if not 0.07 <= max_i <= 65_535:
            raise ValueError(f"MaxRtrAdvInterval ({max_i}) must be between 0.07 and 65535")
        if not 0.03 <= min_i <= 0.75 * max_i:
            raise ValueError(
                f"MinRtrAdvInterval ({min_i}) must be at least 0.03 but no more than "
                f"3/4 of MaxRtrAdvInterval ({0.75 * max_i:g})"
            )
        life = self.adv_default_lifetime
        if life != 0 and not max_i <= life <= 0xFFFF:
            raise ValueError(
                f"AdvDefaultLifetime ({life}) must be zero or between "
                f"MaxRtrAdvInterval ({max_i:g}) and 65535"
            )
        _range("AdvValidLifetime", self.adv_valid_lifetime, 0, INFINITY)
        _range("AdvPreferredLifetime", self.adv_preferred_lifetime, 0, INFINITY)
        if self.adv_preferred_lifetime > self.adv_valid_lifetime:
            raise ValueError(
                f"AdvPreferredLifetime ({self.adv_preferred_lifetime}) must not be greater "
                f"than AdvValidLifetime ({self.adv_valid_lifetime})"
            )
        _range("AdvCurHopLimit", self.adv_cur_hop_limit, 0, 255)
        _range("AdvReachableTime", self.adv_reachable_time, 0, 3_600_000)
        _range("AdvRetransTimer", self.adv_retrans_timer, 0, INFINITY)
        if self.adv_link_mtu != 0:
            _range("AdvLinkMTU", self.adv_link_mtu, 1280, 131_072)
        flags = (("AdvOnLink", self.adv_on_link), ("AdvAutonomous", self.adv_autonomous))
        for name, value in flags:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, not {value!r}")
        if not 0.03 <= self.min_delay_between_ras <= 65_535:
            raise ValueError(
                f"MinDelayBetweenRAs ({self.min_delay_between_ras}) must be at least 0.03"
            )
        _range("InitialRtrAdvertisements", self.initial_ras, 1, 10)
        if not 0.01 <= self.initial_ra_interval <= 16:
            raise ValueError(
                f"InitialRtrAdvInterval ({self.initial_ra_interval}) must be between 0.01 and 16"
            )

    @classmethod
    def from_radvd(cls, values: dict[str, Any]) -> RaSettings:
        """Settings from radvd-style names (``{"MaxRtrAdvInterval": 10, ...}``).

        Names are matched case-insensitively, as radvd.conf does; ``"infinity"``
        is accepted for the prefix lifetimes; an unknown name raises ValueError.
        """
        known = {name.lower(): attr for name, attr in RADVD_NAMES.items()}
        kwargs = {}
        for name, value in values.items():
            attr = known.get(name.lower())
            if attr is None:
                raise ValueError(f"unknown RA setting {name!r}")
            if (
                attr in ("adv_valid_lifetime", "adv_preferred_lifetime")
                and isinstance(value, str)
                and value.lower() == "infinity"
            ):
                value = INFINITY
            kwargs[attr] = value
        return cls(**kwargs)

    def radvd(self) -> dict[str, Any]:
        """The resolved settings under their radvd names (for logs and status)."""
        return {name: getattr(self, attr) for name, attr in RADVD_NAMES.items()}


RADVD_NAMES: dict[str, str] = {
    "MaxRtrAdvInterval": "max_rtr_adv_interval",
    "MinRtrAdvInterval": "min_rtr_adv_interval",
    "AdvDefaultLifetime": "adv_default_lifetime",
    "AdvValidLifetime": "adv_valid_lifetime",
    "AdvPreferredLifetime": "adv_preferred_lifetime",
    "AdvCurHopLimit": "adv_cur_hop_limit",
    "AdvReachableTime": "adv_reachable_time",
    "AdvRetransTimer": "adv_retrans_timer",
    "AdvLinkMTU": "adv_link_mtu",
    "AdvOnLink": "adv_on_link",
    "AdvAutonomous": "adv_autonomous",
    "MinDelayBetweenRAs": "min_delay_between_ras",
    "InitialRtrAdvertisements": "initial_ras",
    "InitialRtrAdvInterval": "initial_ra_interval",
}
"""radvd variable → :class:`RaSettings` field. The last two are ours (radvd hard-codes them)."""


def _range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} ({value!r}) must be an integer between {low} and {high}")


# --------------------------------------------------------------------------- building


def build_ra(
    settings: RaSettings,
    prefixes: tuple[Prefix, ...] | list[Prefix],
    *,
    source_mac: bytes | None,
    deprecated: tuple[Prefix, ...] | list[Prefix] = (),
) -> bytes:
    """The ICMPv6 Router Advertisement message, checksum field zero.

    One Prefix Information option per prefix in ``prefixes`` (L/A from the
    settings, advertised lifetimes), then one per prefix in ``deprecated`` with
    both lifetimes zero (a prefix the MN had before a renumbering). ``source_mac``
    None leaves out the Source Link-Layer Address option.
    """
    assert settings.adv_default_lifetime is not None
    header = struct.pack(
        "!BBHBBHII",
        ND_ROUTER_ADVERT,
        0,
        0,
        settings.adv_cur_hop_limit,
        0,  # M=0, O=0, H=0, Prf=medium, P=0
        settings.adv_default_lifetime,
        settings.adv_reachable_time,
        settings.adv_retrans_timer,
    )
    parts = [header]
    if source_mac is not None:
        if len(source_mac) != 6:
            raise ValueError("the source link-layer address must be 6 bytes")
        parts.append(struct.pack("!BB6s", ND_OPT_SOURCE_LINKADDR, 1, source_mac))
    if settings.adv_link_mtu:
        parts.append(struct.pack("!BBHI", ND_OPT_MTU, 1, 0, settings.adv_link_mtu))
    flags = (PIO_FLAG_ON_LINK if settings.adv_on_link else 0) | (
        PIO_FLAG_AUTONOMOUS if settings.adv_autonomous else 0
    )
    for prefix in prefixes:
        parts.append(
            _pio(prefix, flags, settings.adv_valid_lifetime, settings.adv_preferred_lifetime)
        )
    for prefix in deprecated:
        parts.append(_pio(prefix, flags, 0, 0))
    return b"".join(parts)


def _pio(prefix: Prefix, flags: int, valid: int, preferred: int) -> bytes:
    address, length = prefix
    if len(address) != 16 or not 0 <= length <= 128:
        raise ValueError(f"not an IPv6 prefix: {prefix!r}")
    return struct.pack(
        "!BBBBIII16s", ND_OPT_PREFIX_INFORMATION, 4, length, flags, valid, preferred, 0, address
    )


def ipv6_header(src: bytes, dst: bytes, payload_length: int, hop_limit: int = 255) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, payload_length, IPPROTO_ICMPV6, hop_limit, src, dst)


def icmpv6_checksum(src: bytes, dst: bytes, message: bytes) -> int:
    """RFC 4443 §2.3 checksum of ``message`` (its checksum field zero) between src and dst."""
    total = _sum16(src + dst + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6) + message)
    return ~total & 0xFFFF


def icmpv6_checksum_ok(src: bytes, dst: bytes, message: bytes) -> bool:
    """True if ``message`` (checksum field included) carries a valid checksum."""
    pseudo = src + dst + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6)
    return _sum16(pseudo + message) == 0xFFFF


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def icmpv6_frame(
    message: bytes, *, src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes
) -> bytes:
    """Ethernet + IPv6 (hop limit 255) + ``message`` with its checksum filled in."""
    checksum = icmpv6_checksum(src_ip, dst_ip, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    return (
        dst_mac
        + src_mac
        + struct.pack("!H", ETH_P_IPV6)
        + ipv6_header(src_ip, dst_ip, len(message))
        + message
    )


def build_ra_frame(
    settings: RaSettings,
    prefixes: tuple[Prefix, ...] | list[Prefix],
    *,
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes = ALL_NODES,
    deprecated: tuple[Prefix, ...] | list[Prefix] = (),
) -> bytes:
    """A complete RA frame for one MN: to ``dst_mac``, from ``src_mac`` (also the SLLA option).

    ``src_ip`` is the (shared) link-local address, ``dst_ip`` ff02::1 or the
    address of the MN that solicited.
    """
    for name, mac in (("src_mac", src_mac), ("dst_mac", dst_mac)):
        if len(mac) != 6:
            raise ValueError(f"{name} must be 6 bytes")
    for name, address in (("src_ip", src_ip), ("dst_ip", dst_ip)):
        if len(address) != 16:
            raise ValueError(f"{name} must be 16 bytes")
    message = build_ra(settings, prefixes, source_mac=src_mac, deprecated=deprecated)
    return icmpv6_frame(message, src_mac=src_mac, dst_mac=dst_mac, src_ip=src_ip, dst_ip=dst_ip)


# --------------------------------------------------------------------------- parsing


@dataclass(slots=True, frozen=True)
class RouterSolicitation:
    """A valid RS as received: who sent it (L2 and IPv6) and its SLLA option if present."""

    src_mac: bytes
    src_ip: bytes
    """16 bytes; all zero (``::``) when the MN has no address yet."""
    slla: bytes | None
    dst_mac: bytes
    dst_ip: bytes


def parse_rs(frame: bytes) -> RouterSolicitation | None:
    """An Ethernet frame → the Router Solicitation it carries, or None. Never raises.

    Applies RFC 4861 §6.1.1: IPv6 hop limit 255, ICMPv6 code 0, length at least
    8, valid checksum, no option of length zero, and no SLLA option when the
    source is the unspecified address. Frames with IPv6 extension headers or an
    802.1Q tag are not RSs here (Linux hosts send neither).
    """
    try:
        return _parse_rs(bytes(frame))
    except Exception:  # belt and braces: bad input must never take the emitter down
        return None


def _parse_rs(frame: bytes) -> RouterSolicitation | None:
    if len(frame) < _ETH + _IP6 + _RS_HEADER:
        return None
    if frame[12:14] != b"\x86\xdd":
        return None
    ip = frame[_ETH : _ETH + _IP6]
    if ip[0] >> 4 != 6 or ip[6] != IPPROTO_ICMPV6 or ip[7] != 255:
        return None
    (payload_length,) = struct.unpack_from("!H", ip, 4)
    message = frame[_ETH + _IP6 : _ETH + _IP6 + payload_length]
    if payload_length < _RS_HEADER or len(message) != payload_length:
        return None  # truncated; bytes past payload_length (Ethernet padding) are ignored
    if message[0] != ND_ROUTER_SOLICIT or message[1] != 0:
        return None
    src_ip, dst_ip = ip[8:24], ip[24:40]
    if not icmpv6_checksum_ok(src_ip, dst_ip, message):
        return None
    slla = None
    offset = _RS_HEADER
    while offset < len(message):
        if offset + 2 > len(message):
            return None
        kind, units = message[offset], message[offset + 1]
        length = units * 8
        if length == 0 or offset + length > len(message):
            return None
        if kind == ND_OPT_SOURCE_LINKADDR and slla is None and length >= 8:
            slla = message[offset + 2 : offset + 8]
        offset += length
    if src_ip == UNSPECIFIED and slla is not None:
        return None
    return RouterSolicitation(
        src_mac=frame[6:12], src_ip=src_ip, slla=slla, dst_mac=frame[0:6], dst_ip=dst_ip
    )


__all__ = [
    "ALL_NODES",
    "ALL_ROUTERS",
    "INFINITY",
    "RADVD_NAMES",
    "UNSPECIFIED",
    "RaSettings",
    "RouterSolicitation",
    "build_ra",
    "build_ra_frame",
    "icmpv6_checksum",
    "icmpv6_checksum_ok",
    "icmpv6_frame",
    "parse_rs",
]
