"""Precompiled layouts of the common Proxy Binding Update and Acknowledgement.

Nearly every PBU a MAG sends, and every PBA an LMA answers it with, has the same
options in the same order: MN Identifier, one Home Network Prefix, Handoff
Indicator, Access Technology Type, MN Link-layer Identifier (a MAC-48 or EUI-64),
Link-local Address, Timestamp (RFC 5213 §6.9.1.1, §5.3.5). Given the length of
the MN-ID and of the link-layer identifier, every octet's position in such a
message is fixed, so one :class:`struct.Struct` reads or writes all of it in a
single call instead of an option walk (the general codec's ≈ 5 µs decode and
≈ 3 µs encode per message, the largest Python costs of an LMA's PBU).

A layout holds the octets that must be exactly as the general encoder writes
them (the MH header's Payload Proto, Header Len and MH Type; every option's
Type and Length; the Pad1/PadN between them) as ``s`` fields, compared as one
tuple; reserved octets and the checksum are skipped (``x``), as the general
decoder ignores them. Bytes that differ anywhere from the layout, or a prefix
length over 128, are not decided here: :func:`decode_common` returns None and
the general decoder (``codec.py``) handles them, with its Malformed reasons. So
for every input the fast path either returns what the general decoder would
or steps aside; ``tests/unit/test_codec_fastpath.py`` checks both directions
differentially, on random and mutated messages.

Layouts are made on first use and kept: at most 2 message types × 253 MN-ID
lengths × 2 link-layer identifier lengths, whatever arrives.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .alignment import PADDING, padding_before
from .constants import IPPROTO_NONE, MHType, OptionType
from .messages import ProxyBindingAck, ProxyBindingUpdate
from .prefix import Prefix

_BU = MHType.BINDING_UPDATE
_BA = MHType.BINDING_ACK
_MN_ID_AT = 12  # the first option: right after the 6-octet MH header and BU/BA fixed part
LINK_LAYER_ID_LENGTHS = (6, 8)
"""MAC-48 and EUI-64; other link-layer identifiers take the general path."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Every octet of one shape of common PBU or PBA."""

    struct: struct.Struct
    consts: tuple[bytes, ...]
    """The nine fixed runs, in order: MH header, then before each option its
    padding with its Type and Length, and the final padding."""
    link_layer_at: int
    """Where the Link-layer Identifier option's Type octet is (what comes before it
    depends on the MN-ID's length only)."""

    @property
    def size(self) -> int:
        return self.struct.size


def _build(mh_type: int, id_len: int, ll_len: int) -> Layout | None:
    """The layout of a common message with an MN-ID of ``id_len`` octets and a
    link-layer identifier of ``ll_len``, as the general encoder places it."""
    fixed = "3s3xHHH" if mh_type == _BU else "3s3xBBHH"  # RFC 6275 §6.1.7 / §6.1.8
    fmt = ["!", fixed]
    consts: list[bytes] = []
    pos = _MN_ID_AT
    # (option type, Length octet, fields after Type and Length, their size)
    options = (
        (OptionType.MN_IDENTIFIER, id_len + 1, f"B{id_len}s", id_len + 1),
        (OptionType.HOME_NETWORK_PREFIX, 18, "xB16s", 18),
        (OptionType.HANDOFF_INDICATOR, 2, "xB", 2),
        (OptionType.ACCESS_TECHNOLOGY_TYPE, 2, "xB", 2),
        (OptionType.MN_LINK_LAYER_IDENTIFIER, ll_len + 2, f"2x{ll_len}s", ll_len + 2),
        (OptionType.LINK_LOCAL_ADDRESS, 16, "16s", 16),
        (OptionType.TIMESTAMP, 8, "Q", 8),
    )
    link_layer_at = 0
    for otype, olen, fields, size in options:
        pad = padding_before(otype, pos)
        if otype == OptionType.MN_LINK_LAYER_IDENTIFIER:
            link_layer_at = pos + len(pad)
        head = pad + bytes((otype, olen))
        consts.append(head)
        fmt += (f"{len(head)}s", fields)
        pos += len(head) + size
    tail = PADDING[-pos % 8]
    consts.append(tail)
    fmt.append(f"{len(tail)}s")
    total = pos + len(tail)
    header_len = total // 8 - 1
    if header_len > 255:
        return None
    return Layout(
        struct.Struct("".join(fmt)),
        (bytes((IPPROTO_NONE, header_len, mh_type)), *consts),
        link_layer_at,
    )


_layouts: dict[tuple[int, int, int], Layout | None] = {}


def _layout(mh_type: int, id_len: int, ll_len: int) -> Layout | None:
    key = (mh_type, id_len, ll_len)
    try:
        return _layouts[key]
    except KeyError:
        pass
    layout = None
    if 0 < id_len < 254 and ll_len in LINK_LAYER_ID_LENGTHS:
        layout = _build(mh_type, id_len, ll_len)
    _layouts[key] = layout
    return layout


def _link_layer_id_at(mh_type: int, id_len: int) -> int:
    """Where the Link-layer Identifier option's Type octet is, or -1 for no layout."""
    layout = _layout(mh_type, id_len, LINK_LAYER_ID_LENGTHS[0])
    return -1 if layout is None else layout.link_layer_at


def decode_common(data: bytes) -> ProxyBindingUpdate | ProxyBindingAck | None:
    """The message if ``data`` is a common PBU or PBA, else None (take the general path)."""
    n = len(data)
    if n < 40 or data[_MN_ID_AT] != OptionType.MN_IDENTIFIER:
        return None
    mh_type = data[2]
    if mh_type != _BU and mh_type != _BA:
        return None
    id_len = data[_MN_ID_AT + 1] - 1
    ll_at = _link_layer_id_at(mh_type, id_len)
    if ll_at < 0 or ll_at + 1 >= n:
        return None
    layout = _layout(mh_type, id_len, data[ll_at + 1] - 2)
    if layout is None or layout.size != n:
        return None
    if mh_type == _BU:
        (k0, seq, flags, life, k1, subtype, mn_id, k2, plen, prefix, k3, hi, k4, att,
         k5, ll_id, k6, lla, k7, stamp, k8) = layout.struct.unpack(data)  # fmt: skip
        if (k0, k1, k2, k3, k4, k5, k6, k7, k8) != layout.consts or plen > 128:
            return None
        return ProxyBindingUpdate(
            seq, life, flags, mn_id, subtype, [Prefix(prefix, plen)], hi, att, ll_id, lla, stamp
        )
    (k0, status, flags, seq, life, k1, subtype, mn_id, k2, plen, prefix, k3, hi, k4, att,
     k5, ll_id, k6, lla, k7, stamp, k8) = layout.struct.unpack(data)  # fmt: skip
    if (k0, k1, k2, k3, k4, k5, k6, k7, k8) != layout.consts or plen > 128:
        return None
    return ProxyBindingAck(
        status, seq, life, flags, mn_id, subtype, [Prefix(prefix, plen)], hi, att, ll_id, lla,
        stamp,
    )  # fmt: skip


def encode_common(msg: ProxyBindingUpdate | ProxyBindingAck) -> bytes | None:
    """The bytes of a common PBU or PBA in one ``pack``, or None (take the general path).

    Values out of range raise :class:`struct.error`, as they do in the general
    encoder, whose caller turns both into an EncodeError.
    """
    mn_id = msg.mn_id
    prefixes = msg.home_network_prefixes
    ll_id = msg.mn_link_layer_id
    lla = msg.link_local_address
    stamp = msg.timestamp
    hi = msg.handoff_indicator
    att = msg.access_technology_type
    if (
        mn_id is None or ll_id is None or lla is None or stamp is None or hi is None
        or att is None or len(prefixes) != 1 or msg.other
    ):  # fmt: skip
        return None
    layout = _layout(msg.mh_type, len(mn_id), len(ll_id))
    if layout is None:
        return None
    address, plen = prefixes[0]
    # "16s" would pad or cut silently; the general encoder refuses these.
    if len(address) != 16 or len(lla) != 16 or not 0 <= plen <= 128:
        return None
    k = layout.consts
    if msg.mh_type == _BU:
        return layout.struct.pack(
            k[0], msg.sequence, msg.flags, msg.lifetime_units, k[1], msg.mn_id_subtype, mn_id,
            k[2], plen, address, k[3], hi, k[4], att, k[5], ll_id, k[6], lla, k[7], stamp, k[8],
        )  # fmt: skip
    return layout.struct.pack(
        k[0], msg.status, msg.flags, msg.sequence, msg.lifetime_units, k[1], msg.mn_id_subtype,
        mn_id, k[2], plen, address, k[3], hi, k[4], att, k[5], ll_id, k[6], lla, k[7], stamp,
        k[8],
    )  # fmt: skip
