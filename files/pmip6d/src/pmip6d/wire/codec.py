"""Mobility Header encoder and decoder (RFC 6275 §6.1, RFC 5213 §8, RFC 4283, RFC 5846 §6).

Rules of this file:

* ``decode`` never raises. Bytes that are not a well-formed message come back
  as a :class:`Malformed` value with a stable reason, which the agents count
  and log; a daemon is never killed by what arrives on its socket.
* ``encode`` places every option at the alignment its RFC asks for (``xn+y``
  from the start of the Mobility Header), fills the gaps with Pad1/PadN and
  pads the message to a multiple of 8 octets.
* Field positions come from ``struct`` layouts named after the RFC figures,
  never from scattered numeric offsets.
* The common PBU and PBA (one HNP, the usual options in the usual order) take a
  precompiled layout first (``fastpath.py``); it returns exactly what the
  general path would, or steps aside.
"""

from __future__ import annotations

import socket
import struct

from ..errors import PmipError
from .alignment import ALIGNMENT, PADDING
from .constants import (
    IPPROTO_MH,
    IPPROTO_NONE,
    MHType,
    OptionType,
    RevocationType,
)
from .fastpath import decode_common, encode_common
from .messages import (
    BindingError,
    BindingRevocationAck,
    BindingRevocationIndication,
    Heartbeat,
    Malformed,
    Message,
    ProxyBindingAck,
    ProxyBindingUpdate,
    RawOption,
    UnsupportedMessage,
)
from .prefix import Prefix

# RFC 6275 §6.1.1: Payload Proto, Header Len, MH Type, Reserved, Checksum.
_MH_HEADER = struct.Struct("!BBBBH")
# RFC 6275 §6.1.7: Sequence #, flags (A|H|L|K|M|R|P|F|T + reserved), Lifetime.
_BU_FIXED = struct.Struct("!HHH")
# RFC 6275 §6.1.8: Status, flags (K|R|P|T + reserved), Sequence #, Lifetime.
_BA_FIXED = struct.Struct("!BBHH")
# RFC 6275 §6.1.9: Status, Reserved, Home Address.
_BE_FIXED = struct.Struct("!BB16s")
# RFC 5847 §5.1: Reserved (14 bits) | U | R, Sequence Number (32 bits).
_HB_FIXED = struct.Struct("!HI")
# RFC 5847 §5.2: the Restart Counter option's body.
_U32 = struct.Struct("!I")
# RFC 5846 §6.1/§6.2: B.R. Type, R. Trigger (BRI) or Status (BRA), Sequence #,
# flags (P|V|G + reserved).
_BR_FIXED = struct.Struct("!BBHH")
_U64 = struct.Struct("!Q")

_MH_HEADER_LEN = _MH_HEADER.size  # 6
_BU_OPTIONS_AT = _MH_HEADER_LEN + _BU_FIXED.size  # 12
_BA_OPTIONS_AT = _MH_HEADER_LEN + _BA_FIXED.size  # 12
_BE_OPTIONS_AT = _MH_HEADER_LEN + _BE_FIXED.size  # 24
_HB_OPTIONS_AT = _MH_HEADER_LEN + _HB_FIXED.size  # 12
_BR_OPTIONS_AT = _MH_HEADER_LEN + _BR_FIXED.size  # 12

# Exact option body lengths (octets after Type and Length) of fixed-size options.
_FIXED_LENGTH: dict[int, int] = {
    OptionType.HOME_NETWORK_PREFIX: 18,
    OptionType.HANDOFF_INDICATOR: 2,
    OptionType.ACCESS_TECHNOLOGY_TYPE: 2,
    OptionType.LINK_LOCAL_ADDRESS: 16,
    OptionType.TIMESTAMP: 8,
}


class EncodeError(ValueError, PmipError):
    """A message object that cannot be put on the wire (a bug in the caller)."""


# --------------------------------------------------------------------------- encode


def _put_option(buf: bytearray, otype: int, body: bytes) -> None:
    """Generic path: any option type, aligned per ``ALIGNMENT``."""
    align = ALIGNMENT.get(otype)
    if align is not None:
        x, y = align
        buf += PADDING[(y - len(buf)) % x]
    if len(body) > 255:
        raise EncodeError(f"option {otype} body of {len(body)} octets exceeds 255")
    buf.append(otype)
    buf.append(len(body))
    buf += body


_WithOptions = (
    ProxyBindingUpdate | ProxyBindingAck | BindingRevocationIndication | BindingRevocationAck
)
"""Messages that carry the RFC 5213 options in named fields."""


def _put_common_options(buf: bytearray, msg: _WithOptions) -> None:
    # Written out option by option (rather than through _put_option) because
    # every PBU and PBA passes here; the alignments are those of ALIGNMENT.
    mn_id = msg.mn_id
    if mn_id is not None:
        if not 0 < len(mn_id) < 255:
            raise EncodeError(f"mobile node identifier of {len(mn_id)} octets")
        buf += bytes((OptionType.MN_IDENTIFIER, len(mn_id) + 1, msg.mn_id_subtype))
        buf += mn_id
    for address, length in msg.home_network_prefixes:
        if len(address) != 16 or not 0 <= length <= 128:
            raise EncodeError(f"bad home network prefix {address!r}/{length}")
        buf += PADDING[(4 - len(buf)) % 8]  # 8n+4
        buf += bytes((OptionType.HOME_NETWORK_PREFIX, 18, 0, length))
        buf += address
    if msg.handoff_indicator is not None:
        buf += bytes((OptionType.HANDOFF_INDICATOR, 2, 0, msg.handoff_indicator))
    if msg.access_technology_type is not None:
        buf += bytes((OptionType.ACCESS_TECHNOLOGY_TYPE, 2, 0, msg.access_technology_type))
    ll_id = msg.mn_link_layer_id
    if ll_id is not None:
        if not 0 < len(ll_id) < 254:
            raise EncodeError(f"mobile node link-layer identifier of {len(ll_id)} octets")
        buf += PADDING[len(buf) % 2]  # 2n
        buf += bytes((OptionType.MN_LINK_LAYER_IDENTIFIER, len(ll_id) + 2, 0, 0))
        buf += ll_id
    lla = msg.link_local_address
    if lla is not None:
        if len(lla) != 16:
            raise EncodeError("link-local address must be 16 octets")
        buf += PADDING[(6 - len(buf)) % 8]  # 8n+6
        buf += bytes((OptionType.LINK_LOCAL_ADDRESS, 16))
        buf += lla
    if msg.timestamp is not None:
        buf += PADDING[(2 - len(buf)) % 8]  # 8n+2
        buf += bytes((OptionType.TIMESTAMP, 8))
        buf += _U64.pack(msg.timestamp)
    for opt in msg.other:
        _put_option(buf, opt.type, opt.data)


def _put_heartbeat(buf: bytearray, msg: Heartbeat) -> None:
    # The Reserved bits go out as zero whatever ``flags`` holds beyond U and R.
    buf += _HB_FIXED.pack(msg.flags & 0x0003, msg.sequence)
    if msg.restart_counter is not None:
        _put_option(buf, OptionType.RESTART_COUNTER, _U32.pack(msg.restart_counter))
    for opt in msg.other:
        _put_option(buf, opt.type, opt.data)


def _finish(buf: bytearray, mh_type: int) -> bytes:
    buf += PADDING[-len(buf) % 8]
    header_len = len(buf) // 8 - 1
    if header_len > 255:
        raise EncodeError("message longer than a Mobility Header can be")
    _MH_HEADER.pack_into(buf, 0, IPPROTO_NONE, header_len, mh_type, 0, 0)
    return bytes(buf)


def encode(msg: Message, *, fast: bool = True) -> bytes:
    """Message → Mobility Header bytes with a zero checksum.

    The checksum is left for the kernel (``IPV6_CHECKSUM`` at offset 4) or for
    :func:`with_checksum` when the addresses are known. A field out of range
    raises :class:`EncodeError`. ``fast=False`` skips the common PBU/PBA layouts
    of ``fastpath.py`` (differential tests, benchmarks): the bytes are the same.
    """
    try:
        kind = type(msg)
        if fast and (kind is ProxyBindingAck or kind is ProxyBindingUpdate):
            # The common PBU/PBA in one struct call (fastpath.py); None: general path.
            encoded = encode_common(msg)
            if encoded is not None:
                return encoded
        return _encode(msg)
    except (struct.error, ValueError, TypeError) as exc:
        if isinstance(exc, EncodeError):
            raise
        raise EncodeError(f"cannot encode {type(msg).__name__}: {exc}") from exc


def _encode(msg: Message) -> bytes:
    buf = bytearray(_MH_HEADER_LEN)
    if isinstance(msg, ProxyBindingUpdate):
        buf += _BU_FIXED.pack(msg.sequence, msg.flags, msg.lifetime_units)
        _put_common_options(buf, msg)
    elif isinstance(msg, ProxyBindingAck):
        buf += _BA_FIXED.pack(msg.status, msg.flags, msg.sequence, msg.lifetime_units)
        _put_common_options(buf, msg)
    elif isinstance(msg, BindingRevocationIndication):
        buf += _BR_FIXED.pack(RevocationType.INDICATION, msg.trigger, msg.sequence, msg.flags)
        _put_common_options(buf, msg)
    elif isinstance(msg, BindingRevocationAck):
        buf += _BR_FIXED.pack(RevocationType.ACKNOWLEDGEMENT, msg.status, msg.sequence, msg.flags)
        _put_common_options(buf, msg)
    elif isinstance(msg, BindingError):
        buf += _BE_FIXED.pack(msg.status, 0, msg.home_address)
        for opt in msg.other:
            _put_option(buf, opt.type, opt.data)
    elif isinstance(msg, Heartbeat):
        _put_heartbeat(buf, msg)
    elif isinstance(msg, UnsupportedMessage):
        buf += msg.body
    else:
        raise EncodeError(f"cannot encode {type(msg).__name__}")
    return _finish(buf, msg.mh_type)


def encode_general(msg: Message) -> bytes:
    """:func:`encode` without the common PBU/PBA fast path (differential tests, benchmarks)."""
    return encode(msg, fast=False)


def checksum(src: str, dst: str, mh: bytes) -> int:
    """The Mobility Header checksum over the IPv6 pseudo-header (RFC 6275 §6.1.1).

    Computed with the checksum field of ``mh`` taken as zero.
    """
    data = bytearray(socket.inet_pton(socket.AF_INET6, src))
    data += socket.inet_pton(socket.AF_INET6, dst)
    data += struct.pack("!I3xB", len(mh), IPPROTO_MH)
    body = bytearray(mh)
    body[4:6] = b"\x00\x00"
    data += body
    if len(data) % 2:
        data.append(0)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    # No UDP-style 0 → 0xFFFF substitution: RFC 6275 §6.1.1 has none, and the
    # kernel's IPV6_CHECKSUM fills in a plain one's complement.
    return ~total & 0xFFFF


def with_checksum(src: str, dst: str, mh: bytes) -> bytes:
    """``mh`` with its checksum field filled in for the given addresses."""
    out = bytearray(mh)
    struct.pack_into("!H", out, 4, checksum(src, dst, mh))
    return bytes(out)


# --------------------------------------------------------------------------- decode


class _Bad(Exception):
    """Internal: raised inside the decoder, turned into Malformed at its edge."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def decode(data: bytes, *, fast: bool = True) -> Message | Malformed:
    """Mobility Header bytes (as read from a raw socket) → a message or :class:`Malformed`.

    ``fast=False`` skips the common PBU/PBA layouts of ``fastpath.py`` (differential
    tests, benchmarks): the result is the same."""
    try:
        if not isinstance(data, bytes):
            data = bytes(data)  # slices become dict keys (MN-ID, prefixes): must be hashable
        # The common PBU/PBA in one struct call (fastpath.py): what _decode would
        # return, or None when it is not that exact layout.
        return (fast and decode_common(data)) or _decode(data)
    except _Bad as bad:
        return Malformed(bad.reason, bad.detail)
    except Exception as exc:  # the codec promises never to raise
        return Malformed("decoder-error", f"{type(exc).__name__}: {exc}")


def decode_general(data: bytes) -> Message | Malformed:
    """:func:`decode` without the common PBU/PBA fast path (differential tests, benchmarks)."""
    return decode(data, fast=False)


def _decode(data: bytes) -> Message | Malformed:
    if len(data) < 8:
        raise _Bad("too-short", f"{len(data)} octets")
    payload_proto, header_len, mh_type, _reserved, _csum = _MH_HEADER.unpack_from(data)
    if payload_proto != IPPROTO_NONE:
        raise _Bad("payload-proto", f"payload proto {payload_proto}, expected 59")
    length = (header_len + 1) * 8
    if length != len(data):
        raise _Bad("length-mismatch", f"header says {length} octets, got {len(data)}")
    if mh_type == MHType.BINDING_UPDATE:
        if length < _BU_OPTIONS_AT:
            raise _Bad("too-short", "binding update shorter than its fixed part")
        sequence, flags, lifetime = _BU_FIXED.unpack_from(data, _MH_HEADER_LEN)
        msg: ProxyBindingUpdate | ProxyBindingAck = ProxyBindingUpdate(sequence, lifetime, flags)
        _decode_options(data, _BU_OPTIONS_AT, msg)
        return msg
    if mh_type == MHType.BINDING_ACK:
        if length < _BA_OPTIONS_AT:
            raise _Bad("too-short", "binding acknowledgement shorter than its fixed part")
        status, flags, sequence, lifetime = _BA_FIXED.unpack_from(data, _MH_HEADER_LEN)
        msg = ProxyBindingAck(status, sequence, lifetime, flags)
        _decode_options(data, _BA_OPTIONS_AT, msg)
        return msg
    if mh_type == MHType.BINDING_REVOCATION:
        return _decode_revocation(data)
    if mh_type == MHType.BINDING_ERROR:
        if length < _BE_OPTIONS_AT:
            raise _Bad("too-short", "binding error shorter than its fixed part")
        status, _res, home = _BE_FIXED.unpack_from(data, _MH_HEADER_LEN)
        err = BindingError(status, home)
        for otype, body in _iter_options(data, _BE_OPTIONS_AT):
            err.other.append(RawOption(otype, body))
        return err
    if mh_type == MHType.HEARTBEAT:
        return _decode_heartbeat(data)
    return UnsupportedMessage(mh_type, bytes(data[_MH_HEADER_LEN:]))


def _decode_heartbeat(data: bytes) -> Heartbeat:
    if len(data) < _HB_OPTIONS_AT:
        raise _Bad("too-short", "heartbeat shorter than its fixed part")
    flags, sequence = _HB_FIXED.unpack_from(data, _MH_HEADER_LEN)
    # RFC 5847 §5.1: Reserved is ignored by the receiver; only U and R mean something.
    msg = Heartbeat(sequence, flags & 0x0003)
    for otype, body in _iter_options(data, _HB_OPTIONS_AT):
        if otype == OptionType.RESTART_COUNTER:
            if len(body) != _U32.size:
                raise _Bad("option-length", f"restart counter has length {len(body)}, expected 4")
            if msg.restart_counter is not None:
                raise _Bad("duplicate-option", f"option {otype} appears twice")
            msg.restart_counter = _U32.unpack(body)[0]
        else:
            msg.other.append(RawOption(otype, body))
    return msg


def _decode_revocation(data: bytes) -> BindingRevocationIndication | BindingRevocationAck:
    if len(data) < _BR_OPTIONS_AT:
        raise _Bad("too-short", "binding revocation shorter than its fixed part")
    br_type, code, sequence, flags = _BR_FIXED.unpack_from(data, _MH_HEADER_LEN)
    msg: BindingRevocationIndication | BindingRevocationAck
    if br_type == RevocationType.INDICATION:
        msg = BindingRevocationIndication(code, sequence, flags)
    elif br_type == RevocationType.ACKNOWLEDGEMENT:
        msg = BindingRevocationAck(code, sequence, flags)
    else:
        # RFC 5846 defines types 1 and 2 only; anything else cannot be answered.
        raise _Bad("revocation-type", f"B.R. Type {br_type}")
    _decode_options(data, _BR_OPTIONS_AT, msg)
    return msg


def _iter_options(data: bytes, pos: int):
    """Yield (type, body) of each option from ``pos`` to the end, padding skipped."""
    end = len(data)
    while pos < end:
        otype = data[pos]
        if otype == OptionType.PAD1:
            pos += 1
            continue
        if pos + 2 > end:
            raise _Bad("option-truncated", f"option {otype} at {pos} has no length octet")
        olen = data[pos + 1]
        body_at = pos + 2
        pos = body_at + olen
        if pos > end:
            raise _Bad("option-overrun", f"option {otype} of length {olen} runs past the message")
        if otype == OptionType.PADN:
            continue
        yield otype, data[body_at:pos]


# Options that may appear once: a second copy would make the message ambiguous
# (which identifier is the mobile node?), so it is refused rather than guessed.
_SINGLETON_TYPES = frozenset(
    (
        OptionType.MN_IDENTIFIER,
        OptionType.HANDOFF_INDICATOR,
        OptionType.ACCESS_TECHNOLOGY_TYPE,
        OptionType.MN_LINK_LAYER_IDENTIFIER,
        OptionType.LINK_LOCAL_ADDRESS,
        OptionType.TIMESTAMP,
    )
)


def _decode_options(data: bytes, pos: int, msg: _WithOptions) -> None:
    # The option walk of _iter_options, inlined: this runs for every PBU and PBA.
    seen: set[int] = set()
    prefixes = msg.home_network_prefixes
    end = len(data)
    while pos < end:
        otype = data[pos]
        if otype == 0:  # Pad1
            pos += 1
            continue
        if pos + 2 > end:
            raise _Bad("option-truncated", f"option {otype} at {pos} has no length octet")
        olen = data[pos + 1]
        body_at = pos + 2
        pos = body_at + olen
        if pos > end:
            raise _Bad("option-overrun", f"option {otype} of length {olen} runs past the message")
        if otype == 1:  # PadN
            continue
        expected = _FIXED_LENGTH.get(otype)
        if expected is not None and olen != expected:
            raise _Bad("option-length", f"option {otype} has length {olen}, expected {expected}")
        if otype == OptionType.HOME_NETWORK_PREFIX:
            plen = data[body_at + 1]
            if plen > 128:
                raise _Bad("prefix-length", f"home network prefix length {plen}")
            prefixes.append(Prefix(data[body_at + 2 : pos], plen))
            continue
        if otype in _SINGLETON_TYPES:
            if otype in seen:
                raise _Bad("duplicate-option", f"option {otype} appears twice")
            seen.add(otype)
        if otype == OptionType.MN_IDENTIFIER:
            if olen < 2:
                raise _Bad("option-length", "mobile node identifier is empty")
            msg.mn_id_subtype = data[body_at]
            msg.mn_id = data[body_at + 1 : pos]
        elif otype == OptionType.HANDOFF_INDICATOR:
            msg.handoff_indicator = data[body_at + 1]
        elif otype == OptionType.ACCESS_TECHNOLOGY_TYPE:
            msg.access_technology_type = data[body_at + 1]
        elif otype == OptionType.MN_LINK_LAYER_IDENTIFIER:
            if olen < 3:
                raise _Bad("option-length", "mobile node link-layer identifier is empty")
            msg.mn_link_layer_id = data[body_at + 2 : pos]
        elif otype == OptionType.LINK_LOCAL_ADDRESS:
            msg.link_local_address = data[body_at:pos]
        elif otype == OptionType.TIMESTAMP:
            msg.timestamp = _U64.unpack_from(data, body_at)[0]
        else:
            # RFC 6275 §6.2.1: options we do not understand are skipped, but kept
            # so that a relay or a log can still show them.
            msg.other.append(RawOption(otype, data[body_at:pos]))
