"""Packet captures → lightweight frame records (pure: reads files, opens no socket).

Captures are read raw (scapy's ``RawPcapReader``: libpcap or pcapng, micro- or
nanosecond stamps) and each frame is cut up here with ``struct``: Ethernet
(or Linux cooked capture), IPv4/IPv6 with the IPv6 extension-header chain,
then the upper layer. That is fast enough for tens of thousands of frames per
capture, and it keeps the one thing the analysis needs exact: the kernel's
capture timestamp of each frame. Tunnelled packets (IPv6-in-IPv6, next header
41, or IPv6-in-IPv4) also get their inner packet decoded.

A capture cut short (a capture process killed, a disk full) yields the frames
read until the damage, never an exception: a run's analysis then says what it
could not measure.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

ETH_P_IPV4 = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_VLAN = (0x8100, 0x88A8)

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_IPIP = 4
IPPROTO_ICMPV6 = 58
IPPROTO_MH = 135

# IPv6 extension headers walked over to reach the upper layer (RFC 8200 §4).
_EXT_GENERIC = {0, 43, 60}  # hop-by-hop, routing, destination options: (len + 1) * 8
_EXT_FRAGMENT = 44
_EXT_AH = 51

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass(slots=True)
class Packet:
    """One IP packet: addresses as packed bytes, upper layer as captured."""

    version: int
    src: bytes
    dst: bytes
    proto: int
    """Upper-layer protocol after the IPv6 extension headers (135 for a Mobility Header)."""
    l4: bytes
    """Upper-layer bytes as captured (may be cut short by the snap length)."""
    l4_len: int
    """Upper-layer length on the wire (from the IP header), whatever was captured."""
    inner: Packet | None = None
    """The encapsulated packet of an IP-in-IP tunnel packet."""

    # ---------------------------------------------------------------- UDP
    @property
    def ports(self) -> tuple[int, int] | None:
        if self.proto in (IPPROTO_UDP, IPPROTO_TCP) and len(self.l4) >= 4:
            return struct.unpack_from("!HH", self.l4)
        return None

    @property
    def udp_payload(self) -> bytes:
        return self.l4[8:] if self.proto == IPPROTO_UDP else b""

    # ---------------------------------------------------------------- TCP
    @property
    def tcp(self) -> tuple[int, int, int, int, int, int] | None:
        """(sport, dport, seq, ack, flags, payload length on the wire) of a TCP segment."""
        if self.proto != IPPROTO_TCP or len(self.l4) < 20:
            return None
        sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", self.l4)
        header = (off_flags >> 12) * 4
        return sport, dport, seq, ack, off_flags & 0x3F, max(0, self.l4_len - header)

    # ---------------------------------------------------------------- ICMPv6
    @property
    def icmp6_type(self) -> int | None:
        if self.proto == IPPROTO_ICMPV6 and self.l4:
            return self.l4[0]
        return None


@dataclass(slots=True)
class Frame:
    """One captured frame."""

    ts: float
    """Capture timestamp, Unix seconds (the capturing kernel's clock)."""
    eth_src: bytes | None
    eth_dst: bytes | None
    """None where the link type has no destination MAC (Linux cooked captures)."""
    ip: Packet | None
    """None for non-IP frames (ARP, LLDP...)."""


def ip_bytes(address: str) -> bytes:
    """Packed form of an IPv4 or IPv6 address text (for comparing with frame addresses)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.inet_pton(family, address)


def ip_text(packed: bytes) -> str:
    family = socket.AF_INET6 if len(packed) == 16 else socket.AF_INET
    return socket.inet_ntop(family, packed)


def mac_bytes(mac: str) -> bytes:
    """``02:00:00:00:01:01``, ``0200.0000.0101`` or ``02-00-…`` → 6 bytes."""
    digits = "".join(c for c in mac if c not in ":-.")
    if len(digits) != 12:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes.fromhex(digits)


def cisco_mac(mac: bytes) -> str:
    """The Cisco IOS spelling of a MAC, as the APs' syslog lines write it: ``0200.0000.0101``."""
    h = mac.hex()
    return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"


# --------------------------------------------------------------------------- parsing


def parse_ip(data: bytes, depth: int = 0) -> Packet | None:
    """An IPv4 or IPv6 packet (from its first octet) → :class:`Packet`, or None if not IP."""
    if not data:
        return None
    version = data[0] >> 4
    if version == 6:
        packet = _parse_ipv6(data)
    elif version == 4:
        packet = _parse_ipv4(data)
    else:
        return None
    if packet is not None and packet.proto in (IPPROTO_IPV6, IPPROTO_IPIP) and depth < 2:
        packet.inner = parse_ip(packet.l4, depth + 1)
    return packet


def _parse_ipv6(data: bytes) -> Packet | None:
    if len(data) < 40:
        return None
    payload_length, nh = struct.unpack_from("!HB", data, 4)
    src, dst = data[8:24], data[24:40]
    pos, end = 40, 40 + payload_length
    while True:
        if nh in _EXT_GENERIC or nh == _EXT_AH:
            if len(data) < pos + 2:
                break
            length = (data[pos + 1] + 1) * 8 if nh != _EXT_AH else (data[pos + 1] + 2) * 4
            nh = data[pos]
            pos += length
        elif nh == _EXT_FRAGMENT:
            if len(data) < pos + 8:
                break
            offset = struct.unpack_from("!H", data, pos + 2)[0] >> 3
            nh = data[pos]
            pos += 8
            if offset:
                nh = -1  # not the first fragment: no upper-layer header here
                break
        else:
            break
    return Packet(6, src, dst, nh, data[pos:end], max(0, end - pos))


def _parse_ipv4(data: bytes) -> Packet | None:
    if len(data) < 20:
        return None
    ihl = (data[0] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xH1xB", data, 2)
    if frag & 0x1FFF:
        proto = -1
    return Packet(4, data[12:16], data[16:20], proto, data[ihl:total], max(0, total - ihl))


def parse_frame(data: bytes, linktype: int, ts: float) -> Frame:
    eth_src = eth_dst = None
    ethertype = None
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return Frame(ts, None, None, None)
        eth_dst, eth_src = data[0:6], data[6:12]
        ethertype = struct.unpack_from("!H", data, 12)[0]
        pos = 14
        while ethertype in ETH_P_VLAN and len(data) >= pos + 4:
            ethertype = struct.unpack_from("!H", data, pos + 2)[0]
            pos += 4
        body = data[pos:]
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return Frame(ts, None, None, None)
        halen = struct.unpack_from("!H", data, 4)[0]
        eth_src = data[6 : 6 + min(halen, 8)] if halen == 6 else None
        ethertype = struct.unpack_from("!H", data, 14)[0]
        body = data[16:]
    elif linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return Frame(ts, None, None, None)
        ethertype = struct.unpack_from("!H", data, 0)[0]
        halen = data[11]
        eth_src = data[12:18] if halen == 6 else None
        body = data[20:]
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        body = data
    else:
        return Frame(ts, None, None, None)
    if ethertype is not None and ethertype not in (ETH_P_IPV4, ETH_P_IPV6):
        return Frame(ts, eth_src, eth_dst, None)
    return Frame(ts, eth_src, eth_dst, parse_ip(body))


def read_frames(path: Path | str) -> list[Frame]:
    """Every frame of a pcap or pcapng file, in file order. A damaged tail is dropped quietly."""
    from scapy.utils import RawPcapNgReader, RawPcapReader

    frames: list[Frame] = []
    try:
        reader = RawPcapReader(str(path))
    except Exception:  # not a capture at all, or empty
        return frames
    ng = isinstance(reader, RawPcapNgReader)
    nano = bool(getattr(reader, "nano", False))
    linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
    try:
        for data, meta in reader:
            if ng:
                ts = ((meta.tshigh << 32) | meta.tslow) / float(meta.tsresol)
                frames.append(parse_frame(data, meta.linktype, ts))
            else:
                ts = meta.sec + meta.usec / (1e9 if nano else 1e6)
                frames.append(parse_frame(data, linktype, ts))
    except Exception:  # a cut-short file: keep what was read
        pass
    finally:
        reader.close()
    return frames
