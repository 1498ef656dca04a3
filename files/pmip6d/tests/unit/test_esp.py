"""The agent's RFC 4303/4106 ESP: round trips, an independent implementation, every refusal."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.security.esp import (
    AuthenticationFailed,
    EspError,
    InboundSa,
    Malformed,
    OutboundSa,
    Replayed,
    SecurityAssociation,
    SequenceExhausted,
    peek_spi,
)

KEYS = {"aes128-gcm16": bytes(range(20)), "aes256-gcm16": bytes(range(100, 136))}
MH = 135


def pair(algorithm: str = "aes256-gcm16", window: int = 64) -> tuple[OutboundSa, InboundSa]:
    sa = SecurityAssociation(4097, KEYS[algorithm], algorithm)
    return OutboundSa(sa, iv_mask=bytes(8)), InboundSa(sa, window)


@pytest.mark.parametrize("algorithm", sorted(KEYS))
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 31, 1000])
def test_round_trip_and_4_byte_alignment(algorithm: str, size: int) -> None:
    out, inbound = pair(algorithm)
    payload = bytes(range(size % 256)) * (size // 256) + bytes(range(size % 256))
    packet = out.seal(MH, payload)
    assert (len(packet) - 16) % 4 == 0  # header + IV, then aligned ciphertext (§2.4)
    assert size < 8 or payload not in packet
    assert peek_spi(packet) == 4097
    assert packet[4:8] == (1).to_bytes(4, "big")  # the first sequence number is 1
    assert packet[8:16] == (1).to_bytes(8, "big")  # the explicit IV: the counter
    assert inbound.open(packet) == (MH, payload)


def test_same_bytes_as_scapy_ipsec() -> None:
    # An independent RFC 4106 implementation (scapy's) must produce the same packet
    # for the same SPI, sequence number, IV and key, and read ours.
    from scapy.layers.inet6 import IPv6
    from scapy.layers.ipsec import ESP
    from scapy.layers.ipsec import SecurityAssociation as ScapySa
    from scapy.packet import Raw

    for algorithm, key in KEYS.items():
        scapy_sa = ScapySa(ESP, spi=4097, crypt_algo="AES-GCM", crypt_key=key, auth_algo="NULL")
        clear = IPv6(src="2001:db8::1", dst="2001:db8::2", nh=MH) / Raw(b"proxy binding")
        theirs = bytes(scapy_sa.encrypt(clear, seq_num=1, iv=(1).to_bytes(8, "big"))[ESP])
        out, inbound = pair(algorithm)
        ours = out.seal(MH, b"proxy binding")
        assert ours == theirs
        assert inbound.open(theirs) == (MH, b"proxy binding")
        back = scapy_sa.decrypt(IPv6(src="2001:db8::1", dst="2001:db8::2") / ESP(ours))
        assert back.nh == MH and bytes(back.payload) == b"proxy binding"


@pytest.mark.parametrize("where", [0, 5, 9, 20, -1])
def test_any_changed_byte_fails(where: int) -> None:
    out, inbound = pair()
    packet = bytearray(out.seal(MH, b"x" * 22))
    packet[where] ^= 0x01
    with pytest.raises(EspError) as caught:
        inbound.open(bytes(packet))
    # A changed SPI is not this SA's packet; everything else fails the ICV.
    assert isinstance(caught.value, Malformed if 0 <= where < 4 else AuthenticationFailed)


def test_wrong_key_fails_authentication() -> None:
    out, _unused = pair()
    other = InboundSa(SecurityAssociation(4097, bytes(36), "aes256-gcm16"))
    with pytest.raises(AuthenticationFailed):
        other.open(out.seal(MH, b"pbu"))


def test_forged_packet_does_not_move_the_window() -> None:
    out, inbound = pair()
    forged = bytearray(out.seal(MH, b"a"))
    forged[4:8] = (1000).to_bytes(4, "big")  # a far-ahead sequence number, bad ICV
    with pytest.raises(AuthenticationFailed):
        inbound.open(bytes(forged))
    assert inbound.highest == 0
    first = OutboundSa(out.sa).seal(MH, b"b")
    assert inbound.open(first) == (MH, b"b")


def test_replay_and_window_edges() -> None:
    out, inbound = pair(window=32)
    packets = [out.seal(MH, bytes([n])) for n in range(1, 41)]  # sequence n+1 in packets[n]
    inbound.open(packets[0])
    with pytest.raises(Replayed):
        inbound.open(packets[0])
    inbound.open(packets[39])  # sequence 40: the window is now 9..40
    inbound.open(packets[8])  # sequence 9: the window's left edge, accepted once
    with pytest.raises(Replayed):
        inbound.open(packets[8])
    with pytest.raises(Replayed):
        inbound.open(packets[7])  # sequence 8: left of the window
    for n in range(9, 39):  # every one inside, out of order, once
        inbound.open(packets[n])
    with pytest.raises(Replayed):
        inbound.open(packets[20])
    assert inbound.highest == 40


def test_sequence_zero_is_refused() -> None:
    out, inbound = pair()
    packet = bytearray(out.seal(MH, b"a"))
    packet[4:8] = bytes(4)
    with pytest.raises(Replayed):
        inbound.open(bytes(packet))


def test_outbound_refuses_to_wrap() -> None:
    out, inbound = pair()
    out.sequence = 2**32 - 2
    last = out.seal(MH, b"last")
    assert last[4:8] == b"\xff\xff\xff\xff"
    with pytest.raises(SequenceExhausted):
        out.seal(MH, b"one more")
    assert inbound.open(last) == (MH, b"last")


def _sealed(plaintext: bytes, sequence: int = 1) -> bytes:
    """An authentic packet with a hand-made plaintext (pad bytes and trailer)."""
    sa = SecurityAssociation(4097, KEYS["aes256-gcm16"], "aes256-gcm16")
    aead, salt = sa.cipher()
    header = (4097).to_bytes(4, "big") + sequence.to_bytes(4, "big")
    iv = sequence.to_bytes(8, "big")
    return header + iv + aead.encrypt(salt + iv, plaintext, header)


def test_bad_padding_is_malformed() -> None:
    _unused, inbound = pair()
    with pytest.raises(Malformed, match="padding"):
        inbound.open(_sealed(b"abcd" + b"\x07\x07" + b"\x02\x87"))
    with pytest.raises(Malformed, match="pad length"):
        inbound.open(_sealed(b"\x01\x02" + b"\x09\x87", sequence=2))
    assert inbound.open(_sealed(b"abcd\x01\x02\x02\x87", sequence=3)) == (MH, b"abcd")


@pytest.mark.parametrize("size", [0, 7, 8, 15, 33, 35])
def test_truncated_packets_are_malformed(size: int) -> None:
    out, inbound = pair()
    with pytest.raises(Malformed):
        inbound.open(out.seal(MH, b"x" * 30)[:size])


def test_peek_spi_of_a_short_packet() -> None:
    with pytest.raises(Malformed):
        peek_spi(b"\x00\x00\x10")


def test_security_association_checks_and_hides_the_key() -> None:
    sa = SecurityAssociation(4097, KEYS["aes256-gcm16"], "aes256-gcm16")
    assert KEYS["aes256-gcm16"].hex() not in repr(sa)
    assert "key" not in repr(sa)
    assert "key" not in repr(OutboundSa(sa)) and "key" not in repr(InboundSa(sa))
    with pytest.raises(ValueError, match="32\\+4"):
        SecurityAssociation(4097, bytes(20), "aes256-gcm16")
    with pytest.raises(ValueError, match="SPI"):
        SecurityAssociation(255, bytes(36), "aes256-gcm16")
    with pytest.raises(ValueError, match="algorithm"):
        SecurityAssociation(4097, bytes(36), "aes256-cbc")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 3))
def test_open_raises_nothing_but_esp_errors(data: bytes, prefix: int) -> None:
    out, inbound = pair()
    # Some inputs start with this SA's real SPI (and a real packet's head), to get past it.
    head = out.seal(MH, b"pbu")[: prefix * 4]
    with contextlib.suppress(EspError):
        inbound.open(head + data)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=6, max_size=300),
)
def test_the_socket_checksum_is_the_codec_checksum(src: bytes, dst: bytes, mh: bytes) -> None:
    import socket

    from pmip6d.daemon.espsocket import mh_checksum
    from pmip6d.wire.codec import checksum

    text = (socket.inet_ntop(socket.AF_INET6, src), socket.inet_ntop(socket.AF_INET6, dst))
    assert mh_checksum(src, dst, mh) == checksum(*text, mh)


def test_a_restart_never_repeats_an_iv_under_the_same_key() -> None:
    # Static keys: an agent that restarts counts from 1 again. Its IVs (the counter
    # XOR a mask drawn at set-up) must differ from the last run's, or GCM's nonce
    # would repeat under one key (RFC 4106 §2).
    sa = SecurityAssociation(4097, KEYS["aes256-gcm16"], "aes256-gcm16")
    runs = [OutboundSa(sa) for _unused in range(3)]
    ivs = [{run.seal(MH, b"x")[8:16] for _unused in range(100)} for run in runs]
    assert all(len(run_ivs) == 100 for run_ivs in ivs)
    assert not (ivs[0] & ivs[1]) and not (ivs[0] & ivs[2]) and not (ivs[1] & ivs[2])
    inbound = InboundSa(sa, 0)
    assert inbound.open(OutboundSa(sa).seal(MH, b"y")) == (MH, b"y")


def test_without_a_window_a_restarted_peer_is_heard_and_forgeries_still_fail() -> None:
    sa = SecurityAssociation(4097, KEYS["aes128-gcm16"], "aes128-gcm16")
    inbound = InboundSa(sa, 0)
    before = OutboundSa(sa)
    for n in range(100):
        inbound.open(before.seal(MH, bytes([n])))
    restarted = OutboundSa(sa)  # the peer restarted: sequence numbers from 1 again
    assert inbound.open(restarted.seal(MH, b"again")) == (MH, b"again")
    with_window = InboundSa(sa, 64)
    for n in range(100):
        with_window.open(before.seal(MH, bytes([n])))
    with pytest.raises(Replayed):  # what a window would do to the restarted peer
        with_window.open(OutboundSa(sa).seal(MH, b"again"))
    forged = bytearray(restarted.seal(MH, b"z"))
    forged[-1] ^= 1
    with pytest.raises(AuthenticationFailed):
        inbound.open(bytes(forged))


def test_the_socket_checksum_where_the_sum_is_a_multiple_of_0xffff() -> None:
    # The one case the big-integer remainder must special-case (RFC 1071's 0 vs 0xFFFF).
    import socket

    from pmip6d.daemon.espsocket import mh_checksum
    from pmip6d.wire.codec import checksum

    src, dst = socket.inet_pton(socket.AF_INET6, "2001:db8::1"), bytes(16)
    for last in range(0x10000):  # the word that makes the total a multiple
        mh = bytes((59, 1, 6, 0, 0, 0)) + bytes(8) + last.to_bytes(2, "big")
        pseudo = src + dst + len(mh).to_bytes(4, "big") + bytes((0, 0, 0, 135))
        if int.from_bytes(pseudo + mh, "big") % 0xFFFF == 0:
            break
    text = (socket.inet_ntop(socket.AF_INET6, src), "::")
    assert checksum(*text, mh) == 0 == mh_checksum(src, dst, mh)
