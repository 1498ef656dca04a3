"""The Mobility Header codec: round trips, alignment, and every malformed shape."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.wire import (
    ALIGNMENT,
    BindingError,
    Malformed,
    OptionType,
    Prefix,
    ProxyBindingAck,
    ProxyBindingUpdate,
    RawOption,
    Status,
    UnsupportedMessage,
    checksum,
    decode,
    encode,
    with_checksum,
)
from pmip6d.wire import timestamp as ts
from pmip6d.wire.codec import EncodeError
from pmip6d.wire.constants import BA_FLAG_P, BU_FLAG_A, BU_FLAG_P

LL = bytes.fromhex("fe800000000000000000000000000001")


def full_pbu(**changes) -> ProxyBindingUpdate:
    fields = dict(
        sequence=4242,
        lifetime_units=150,
        flags=BU_FLAG_A | BU_FLAG_P,
        mn_id=b"mn1@lab.example",
        home_network_prefixes=[
            Prefix.parse("2001:db8:100:1::/64"),
            Prefix.parse("2001:db8:100:2::/64"),
        ],
        handoff_indicator=3,
        access_technology_type=4,
        mn_link_layer_id=bytes.fromhex("020000000101"),
        link_local_address=LL,
        timestamp=ts.from_unix(1_700_000_000.25),
    )
    fields.update(changes)
    return ProxyBindingUpdate(**fields)


def full_pba(**changes) -> ProxyBindingAck:
    pbu = full_pbu()
    fields = dict(
        status=Status.ACCEPTED,
        sequence=pbu.sequence,
        lifetime_units=75,
        flags=BA_FLAG_P,
        mn_id=pbu.mn_id,
        home_network_prefixes=pbu.home_network_prefixes,
        handoff_indicator=pbu.handoff_indicator,
        access_technology_type=pbu.access_technology_type,
        mn_link_layer_id=pbu.mn_link_layer_id,
        link_local_address=pbu.link_local_address,
        timestamp=pbu.timestamp,
    )
    fields.update(changes)
    return ProxyBindingAck(**fields)


def option_positions(data: bytes, start: int = 12) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every option, padding included, walking the raw bytes."""
    out = []
    pos = start
    while pos < len(data):
        otype = data[pos]
        if otype == 0:
            out.append((pos, 0, 0))
            pos += 1
            continue
        out.append((pos, otype, data[pos + 1]))
        pos += 2 + data[pos + 1]
    assert pos == len(data), "options must end exactly at the end of the message"
    return out


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "msg",
    [
        full_pbu(),
        full_pbu(home_network_prefixes=[Prefix(bytes(16), 0)], mn_link_layer_id=None),
        full_pbu(lifetime_units=0, timestamp=None, link_local_address=None),
        full_pbu(other=[RawOption(200, b"\x01\x02\x03"), RawOption(201, b"")]),
        ProxyBindingUpdate(sequence=0, lifetime_units=0, flags=0),
        full_pba(),
        full_pba(status=Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, lifetime_units=0),
        ProxyBindingAck(
            status=Status.MISSING_MN_IDENTIFIER_OPTION, sequence=65535, lifetime_units=0
        ),
        BindingError(status=2, home_address=LL),
    ],
    ids=[
        "pbu",
        "pbu-zero-hnp",
        "pbu-dereg",
        "pbu-unknown-options",
        "bu-empty",
        "pba",
        "pba-reject",
        "pba-no-options",
        "binding-error",
    ],
)
def test_round_trip(msg):
    data = encode(msg)
    assert len(data) % 8 == 0
    assert data[0] == 59 and (data[1] + 1) * 8 == len(data)
    assert decode(data) == msg


def test_unsupported_type_round_trip():
    msg = UnsupportedMessage(mh_type=17, body=b"\x00\x01" + b"\x00\x00\x00\x07\x00\x00\x00\x09")
    assert decode(encode(msg)) == msg


def test_fixed_header_fields_on_the_wire():
    data = encode(full_pbu())
    payload, _hlen, mh_type, reserved, csum = struct.unpack_from("!BBBBH", data)
    seq, flags, lifetime = struct.unpack_from("!HHH", data, 6)
    assert (payload, mh_type, reserved, csum) == (59, 5, 0, 0)
    assert (seq, lifetime) == (4242, 150)
    assert flags == 0x8200  # A and P, nothing else
    data = encode(full_pba(status=155))
    status, flags, seq, lifetime = struct.unpack_from("!BBHH", data, 6)
    assert (status, flags, seq, lifetime) == (155, 0x20, 4242, 75)


def test_mn_identifier_option_layout():
    data = encode(ProxyBindingUpdate(1, 1, mn_id=b"a@b"))
    assert data[12:18] == bytes([8, 4, 1]) + b"a@b"


# ------------------------------------------------------------------ alignment


@pytest.mark.parametrize("mn_id_len", range(1, 20))
def test_every_option_sits_at_its_alignment(mn_id_len):
    # The MN-ID's length shifts every later option, so walk many lengths to hit
    # both Pad1 and PadN paths before each aligned option.
    data = encode(full_pbu(mn_id=b"x" * mn_id_len))
    seen = set()
    for offset, otype, _length in option_positions(data):
        if otype in ALIGNMENT:
            x, y = ALIGNMENT[otype]
            assert offset % x == y, f"option {otype} at {offset} breaks {x}n+{y}"
            seen.add(otype)
    assert seen == set(ALIGNMENT) - {OptionType.RESTART_COUNTER}  # a heartbeat's option


def test_alignment_table_matches_rfc5213():
    assert ALIGNMENT == {
        OptionType.HOME_NETWORK_PREFIX: (8, 4),
        OptionType.MN_LINK_LAYER_IDENTIFIER: (2, 0),
        OptionType.LINK_LOCAL_ADDRESS: (8, 6),
        OptionType.TIMESTAMP: (8, 2),
        OptionType.RESTART_COUNTER: (4, 2),  # RFC 5847 §5.2
    }


def test_pad1_and_padn_both_used():
    kinds = set()
    for n in range(1, 20):
        for _off, otype, length in option_positions(encode(full_pbu(mn_id=b"x" * n))):
            if otype in (0, 1):
                kinds.add((otype, length))
    assert (0, 0) in kinds, "Pad1 never produced"
    assert any(t == 1 for t, _unused in kinds), "PadN never produced"


def test_decoder_accepts_unaligned_options():
    # Alignment binds senders; a receiver is liberal (RFC 6275 §6.2).
    body = bytes([23, 2, 0, 1]) + bytes([22, 18, 0, 64]) + bytes(16)
    body += bytes((-(12 + len(body))) % 8)
    data = bytes([59, (12 + len(body)) // 8 - 1, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1]) + body
    msg = decode(data)
    assert isinstance(msg, ProxyBindingUpdate)
    assert msg.handoff_indicator == 1
    assert msg.home_network_prefixes == [Prefix(bytes(16), 64)]


# ------------------------------------------------------------------ malformed input


def pbu_with_options(options: bytes) -> bytes:
    body = options + bytes((-(12 + len(options))) % 8)
    total = 12 + len(body)
    return bytes([59, total // 8 - 1, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1]) + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too-short"),
        (b"\x3b\x00\x05\x00\x00\x00\x00", "too-short"),
        (bytes([6, 0, 5, 0, 0, 0, 0, 0]), "payload-proto"),
        (bytes([59, 1, 5, 0, 0, 0, 0, 0]), "length-mismatch"),
        (bytes([59, 0, 5, 0, 0, 0, 0, 0]) + b"\x00" * 8, "length-mismatch"),
        (bytes([59, 0, 5, 0, 0, 0, 0, 0]), "too-short"),
        (bytes([59, 0, 6, 0, 0, 0, 0, 0]), "too-short"),
        (bytes([59, 1, 7, 0, 0, 0, 0, 0]) + bytes(8), "too-short"),
        (pbu_with_options(bytes([1, 1, 0, 22])), "option-truncated"),
        (pbu_with_options(bytes([8, 30, 1]) + b"abc"), "option-overrun"),
        (pbu_with_options(bytes([22, 17, 0, 64]) + bytes(15)), "option-length"),
        (pbu_with_options(bytes([22, 18, 0, 129]) + bytes(16)), "prefix-length"),
        (pbu_with_options(bytes([23, 3, 0, 1, 0])), "option-length"),
        (pbu_with_options(bytes([24, 1, 4])), "option-length"),
        (pbu_with_options(bytes([26, 8]) + bytes(8)), "option-length"),
        (pbu_with_options(bytes([27, 4]) + bytes(4)), "option-length"),
        (pbu_with_options(bytes([8, 1, 1])), "option-length"),
        (pbu_with_options(bytes([25, 2, 0, 0])), "option-length"),
        (pbu_with_options(bytes([8, 2, 1, 97, 8, 2, 1, 98])), "duplicate-option"),
        (pbu_with_options(bytes([23, 2, 0, 1, 23, 2, 0, 3])), "duplicate-option"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_shapes(data, reason):
    result = decode(data)
    assert isinstance(result, Malformed), result
    assert result.reason == reason


def test_multiple_prefixes_are_not_duplicates():
    data = pbu_with_options(bytes([22, 18, 0, 64]) + bytes(16) + bytes([22, 18, 0, 48]) + bytes(16))
    msg = decode(data)
    assert [p.length for p in msg.home_network_prefixes] == [64, 48]


def test_unknown_option_is_skipped_but_kept():
    data = pbu_with_options(bytes([99, 3, 7, 7, 7, 23, 2, 0, 4]))
    msg = decode(data)
    assert msg.handoff_indicator == 4
    assert msg.other == [RawOption(99, b"\x07\x07\x07")]


def test_unknown_mh_type_is_reported_not_dropped():
    msg = decode(bytes([59, 0, 42, 0, 0, 0, 1, 2]))
    assert msg == UnsupportedMessage(42, b"\x01\x02")


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_decode_never_raises_on_random_bytes(data):
    assert decode(data) is not None


@settings(max_examples=2000, deadline=None)
@given(st.data())
def test_decode_never_raises_on_mutated_messages(data):
    raw = bytearray(encode(full_pbu()))
    for _unused in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    result = decode(bytes(raw[:cut]))
    assert isinstance(
        result, (Malformed, ProxyBindingUpdate, ProxyBindingAck, BindingError, UnsupportedMessage)
    )


prefixes = st.builds(
    lambda a, n: Prefix(
        (a >> n << n if n < 128 else a).to_bytes(16, "big") if n else bytes(16), 128 - n
    ),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)


@settings(max_examples=500, deadline=None)
@given(
    seq=st.integers(0, 0xFFFF),
    life=st.integers(0, 0xFFFF),
    flags=st.integers(0, 0xFFFF),
    mn_id=st.one_of(st.none(), st.binary(min_size=1, max_size=200)),
    hnps=st.lists(prefixes, max_size=4),
    hi=st.one_of(st.none(), st.integers(0, 255)),
    att=st.one_of(st.none(), st.integers(0, 255)),
    ll=st.one_of(st.none(), st.binary(min_size=1, max_size=20)),
    lla=st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
    stamp=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
)
def test_pbu_round_trip_property(seq, life, flags, mn_id, hnps, hi, att, ll, lla, stamp):
    msg = ProxyBindingUpdate(seq, life, flags, mn_id, 1, hnps, hi, att, ll, lla, stamp)
    assert decode(encode(msg)) == msg


def test_encode_refuses_impossible_messages():
    with pytest.raises(EncodeError):
        encode(full_pbu(mn_id=b""))
    with pytest.raises(EncodeError):
        encode(full_pbu(mn_id=b"x" * 255))
    with pytest.raises(EncodeError):
        encode(full_pbu(link_local_address=b"\x00" * 4))
    with pytest.raises(EncodeError):
        encode(full_pbu(home_network_prefixes=[Prefix(bytes(16), 129)]))


# ------------------------------------------------------------------ checksum, timestamp


def test_checksum_verifies_to_zero():
    src, dst = "2001:db8:ffff::11", "2001:db8:ffff::1"
    data = with_checksum(src, dst, encode(full_pbu()))
    assert struct.unpack_from("!H", data, 4)[0] == checksum(src, dst, data)
    # Summing the pseudo-header and the message with its checksum gives all ones.
    import socket

    pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    pseudo += struct.pack("!I3xB", len(data), 135)
    words = pseudo + data
    total = sum(struct.unpack(f"!{len(words) // 2}H", words))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


def test_checksum_changes_with_addresses():
    data = encode(full_pbu())
    assert checksum("2001:db8::1", "2001:db8::2", data) != checksum(
        "2001:db8::1", "2001:db8::3", data
    )


def test_timestamp_is_48_16_since_1970():
    assert ts.from_unix(1704067200.0) == 1704067200 << 16
    assert ts.from_unix(1.5) == (1 << 16) | 0x8000
    assert ts.to_unix(ts.from_unix(1_700_000_000.125)) == pytest.approx(1_700_000_000.125)
    assert ts.from_milliseconds(300) == int(0.3 * 65536)


def test_describe_for_logs():
    from pmip6d.wire.describe import describe

    text = describe(full_pbu())
    assert text.startswith("PBU seq=4242 lifetime=600s mn=mn1@lab.example")
    assert "hi=3" in text and "lla=fe80::1" in text and "ts=2023-11-14T22:13:20.250+00:00" in text
    assert describe(full_pba(status=155)).startswith(
        "PBA NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX seq=4242"
    )
    assert describe(BindingError(2)) == "BE status=2 home=::"


@pytest.mark.parametrize(
    "msg",
    [
        ProxyBindingUpdate(70000, 1),
        ProxyBindingAck(300, 1, 1),
        full_pbu(handoff_indicator=256),
        full_pbu(timestamp=2**64),
    ],
)
def test_out_of_range_fields_raise_encode_error(msg):
    with pytest.raises(EncodeError):
        encode(msg)


def test_zero_checksum_is_not_replaced():
    # RFC 6275 has no UDP-style "0 is sent as 0xFFFF" rule (found by the scapy cross-check).
    mh = bytes.fromhex("3b0105000000e0ee8200000101020000")
    assert checksum("2001:db8::1", "2001:db8::2", mh) == 0
