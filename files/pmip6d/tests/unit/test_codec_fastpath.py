"""The common PBU/PBA fast path (wire/fastpath.py) against the general codec, differentially.

For every input the fast path must give exactly what the general encoder or
decoder gives, or step aside; and for the messages the agents actually send it
must be taken (else it would be dead weight that merely looks fast).
"""

from __future__ import annotations

import pytest
from conftest import LMA, MAC1, MAG1, make_lma, make_mag
from hypothesis import given
from hypothesis import strategies as st

from pmip6d.actions import Send
from pmip6d.wire import fastpath
from pmip6d.wire.codec import EncodeError, decode, decode_general, encode, encode_general
from pmip6d.wire.messages import Malformed, ProxyBindingAck, ProxyBindingUpdate, RawOption
from pmip6d.wire.prefix import Prefix

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)


addresses = st.binary(min_size=16, max_size=16)


@st.composite
def common_messages(draw, ll_lengths=fastpath.LINK_LAYER_ID_LENGTHS):
    """PBUs and PBAs with every option of the common layout and any values."""
    ll_length = draw(st.sampled_from(ll_lengths))
    fields = dict(
        mn_id=draw(st.binary(min_size=1, max_size=253)),
        mn_id_subtype=draw(u8),
        home_network_prefixes=[Prefix(draw(addresses), draw(st.integers(0, 128)))],
        handoff_indicator=draw(u8),
        access_technology_type=draw(u8),
        mn_link_layer_id=draw(st.binary(min_size=ll_length, max_size=ll_length)),
        link_local_address=draw(addresses),
        timestamp=draw(st.integers(0, 2**64 - 1)),
    )
    if draw(st.booleans()):
        return ProxyBindingUpdate(draw(u16), draw(u16), draw(u16), **fields)
    return ProxyBindingAck(draw(u8), draw(u16), draw(u16), draw(u8), **fields)


@given(common_messages())
def test_common_messages_take_the_fast_path_with_the_general_codecs_bytes(msg):
    wire = encode(msg)
    assert fastpath.encode_common(msg) == wire == encode_general(msg)
    assert fastpath.decode_common(wire) == msg
    assert decode(wire) == msg == decode_general(wire)


@given(common_messages(), st.data())
def test_any_one_octet_changed_decodes_as_the_general_decoder_says(msg, data):
    wire = bytearray(encode(msg))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] = data.draw(u8)
    assert decode(bytes(wire)) == decode_general(bytes(wire))


@given(common_messages(), st.data())
def test_cut_or_extended_messages_decode_as_the_general_decoder_says(msg, data):
    wire = encode(msg)
    cut = wire[: data.draw(st.integers(0, len(wire) - 1))]
    longer = wire + data.draw(st.binary(min_size=1, max_size=16))
    for candidate in (cut, longer):
        assert fastpath.decode_common(candidate) is None
        assert decode(candidate) == decode_general(candidate)


@given(common_messages(), st.sampled_from(["two-hnps", "no-ts", "other", "ll-id"]))
def test_other_shapes_step_aside_and_match_the_general_codec(msg, change):
    if change == "two-hnps":
        msg.home_network_prefixes.append(Prefix(bytes(16), 0))
    elif change == "no-ts":
        msg.timestamp = None
    elif change == "other":
        msg.other.append(RawOption(200, b"xy"))
    msg.mn_link_layer_id = b"\x01" * (3 if change == "ll-id" else 6)
    assert fastpath.encode_common(msg) is None
    wire = encode(msg)
    assert wire == encode_general(msg)
    assert fastpath.decode_common(wire) is None
    assert decode(wire) == decode_general(wire) == msg


def test_a_prefix_length_over_128_is_malformed_as_before():
    msg = ProxyBindingUpdate(1, 2, mn_id=b"mn", home_network_prefixes=[Prefix(bytes(16), 64)],
                             handoff_indicator=1, access_technology_type=4,
                             mn_link_layer_id=bytes(6), link_local_address=bytes(16),
                             timestamp=1)  # fmt: skip
    wire = bytearray(encode(msg))
    at = wire.index(bytes((22, 18))) + 3  # HNP option: Type, Length, Reserved, Prefix Length
    wire[at] = 129
    assert decode(bytes(wire)) == Malformed("prefix-length", "home network prefix length 129")


@pytest.mark.parametrize(
    "change",
    [
        {"sequence": 0x10000},
        {"home_network_prefixes": [Prefix(bytes(16), 129)]},
        {"link_local_address": bytes(15)},
        {"home_network_prefixes": [Prefix(bytes(15), 64)]},
        {"handoff_indicator": 256},
    ],
)
def test_values_out_of_range_are_refused_as_by_the_general_encoder(change):
    fields = dict(mn_id=b"mn@x", home_network_prefixes=[Prefix(bytes(16), 64)],
                  handoff_indicator=1, access_technology_type=4, mn_link_layer_id=bytes(6),
                  link_local_address=bytes(16), timestamp=1)  # fmt: skip
    fields.update({k: v for k, v in change.items() if k != "sequence"})
    msg = ProxyBindingUpdate(change.get("sequence", 1), 2, **fields)
    with pytest.raises(EncodeError):
        encode(msg)
    with pytest.raises(EncodeError):
        encode_general(msg)


def test_what_the_mag_sends_and_the_lma_answers_takes_the_fast_path(clock):
    mag, lma = make_mag(clock), make_lma(clock)
    sent = [a for a in mag.attach(MAC1) if isinstance(a, Send)]
    assert len(sent) == 1 and sent[0].destination == LMA
    pbu = encode(sent[0].message)
    assert fastpath.decode_common(pbu) == sent[0].message
    answers = [a for a in lma.receive(MAG1, pbu) if isinstance(a, Send)]
    assert answers[0].message.status == 0
    assert fastpath.encode_common(answers[0].message) == encode_general(answers[0].message)


@pytest.mark.parametrize("kind", [ProxyBindingUpdate, ProxyBindingAck])
@pytest.mark.parametrize("id_len", [1, 6, 17])
@pytest.mark.parametrize("ll_len", fastpath.LINK_LAYER_ID_LENGTHS)
def test_every_octet_changed_decodes_as_the_general_decoder_says(kind, id_len, ll_len):
    # Exhaustive over positions (a random one rarely lands on the few Type, Length
    # and padding octets the fast path must check).
    fields = dict(mn_id=b"m" * id_len, home_network_prefixes=[Prefix(bytes(range(16)), 64)],
                  handoff_indicator=3, access_technology_type=4, mn_link_layer_id=b"\x02" * ll_len,
                  link_local_address=b"\xfe\x80" + bytes(14), timestamp=5)  # fmt: skip
    msg = kind(1, 2, 3, **fields) if kind is ProxyBindingUpdate else kind(0, 1, 2, **fields)
    wire = encode(msg)
    for at in range(len(wire)):
        for value in sorted({0, 1, 2, 255, wire[at] ^ 1, (wire[at] + 2) % 256}):
            changed = wire[:at] + bytes((value,)) + wire[at + 1 :]
            assert decode(changed) == decode_general(changed), (at, value)
