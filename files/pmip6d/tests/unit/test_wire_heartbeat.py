"""RFC 5847 Heartbeat message and Restart Counter option: bytes, decoding, hostile input.

The byte vectors are written out from the RFC 5847 §5.1/§5.2 figures; Wireshark's
dissector (tshark, installed by scripts/setup.sh) reads the same bytes as an
independent implementation.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmip6d.wire import Heartbeat, Malformed, RawOption, decode, encode, with_checksum
from pmip6d.wire.constants import HB_FLAG_R, HB_FLAG_U
from pmip6d.wire.describe import describe

REQUEST = bytes.fromhex(
    "3b 01 0d 00 0000"  # Payload Proto 59, Header Len 1 (16 octets), MH type 13, checksum 0
    "0000 0000002a"  # Reserved|U|R = 0, Sequence Number 42
    "01 02 0000"  # PadN to a multiple of 8
)
RESPONSE = bytes.fromhex(
    "3b 02 0d 00 0000"
    "0001 01020304"  # R set, Sequence Number 0x01020304
    "01 00"  # PadN(0): the option's Type must sit at 4n+2
    "1c 04 00000007"  # Restart Counter option (type 28, length 4), counter 7
    "01 02 0000"
)


def test_request_bytes():
    assert encode(Heartbeat(42)) == REQUEST
    assert decode(REQUEST) == Heartbeat(42)


def test_response_with_restart_counter_bytes():
    msg = Heartbeat(0x01020304, HB_FLAG_R, restart_counter=7)
    assert encode(msg) == RESPONSE
    back = decode(RESPONSE)
    assert back == msg and back.response and not back.unsolicited


def test_restart_counter_sits_at_4n_plus_2_and_the_message_pads_to_8():
    for others in ([], [RawOption(200, b"x")], [RawOption(200, b"xyz")]):
        data = encode(Heartbeat(1, HB_FLAG_R, restart_counter=0xFFFFFFFF, other=others))
        at = data.index(bytes((28, 4, 0xFF, 0xFF, 0xFF, 0xFF)))
        assert at % 4 == 2 and len(data) % 8 == 0


def test_reserved_bits_are_ignored_on_receipt_and_zero_on_the_wire():
    data = bytearray(REQUEST)
    data[6:8] = b"\xff\xfe"  # reserved bits set, U set, R clear
    msg = decode(bytes(data))
    assert isinstance(msg, Heartbeat) and msg.flags == HB_FLAG_U
    assert encode(Heartbeat(42, 0xFFFF))[6:8] == b"\x00\x03"


def test_unknown_options_are_kept():
    msg = decode(encode(Heartbeat(9, 0, other=[RawOption(201, b"ab")])))
    assert isinstance(msg, Heartbeat) and msg.other == [RawOption(201, b"ab")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("3b000d000000 0000"), "too-short"),  # 8 octets: no sequence number
        (bytes.fromhex("3b010d000000 0000 00000001 1c02 0000"), "option-length"),
        (
            bytes.fromhex("3b020d000000 0001 00000001 1c04 00000001 1c04 00000002"),
            "duplicate-option",
        ),
        (bytes.fromhex("3b010d000000 0001 00000001 1c06 0000"), "option-overrun"),
    ],
)
def test_malformed_heartbeats_are_reported_not_raised(data, reason):
    got = decode(data)
    assert isinstance(got, Malformed) and got.reason == reason


@given(st.binary(min_size=0, max_size=40))
def test_decode_never_raises_on_heartbeat_shaped_noise(tail):
    body = bytes.fromhex("0001 00000001") + tail
    body += bytes(-(6 + len(body)) % 8)
    data = bytes((59, (6 + len(body)) // 8 - 1, 13, 0, 0, 0)) + body
    assert isinstance(decode(data), Heartbeat | Malformed)


@given(
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0, HB_FLAG_R, HB_FLAG_R | HB_FLAG_U]),
    st.none() | st.integers(0, 0xFFFFFFFF),
)
def test_round_trip(sequence, flags, counter):
    msg = Heartbeat(sequence, flags, restart_counter=counter)
    assert decode(encode(msg)) == msg


def test_describe():
    assert describe(Heartbeat(3)) == "HB-request seq=3"
    assert (
        describe(Heartbeat(3, HB_FLAG_R | HB_FLAG_U, 9))
        == "HB-response unsolicited seq=3 restart_counter=9"
    )


# --------------------------------------------------------------------------- tshark


def _pcap(path: Path, packets: list[bytes]) -> None:
    """A classic pcap of raw IPv6 packets (LINKTYPE_IPV6 = 229)."""
    src, dst = "2001:db8:ffff::11", "2001:db8:ffff::1"
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 229))
    for mh in packets:
        mh = with_checksum(src, dst, mh)
        ip = struct.pack("!IHBB", 6 << 28, len(mh), 135, 64)
        ip += socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        out += struct.pack("<IIII", 0, 0, len(ip) + len(mh), len(ip) + len(mh)) + ip + mh
    path.write_bytes(bytes(out))


def test_wireshark_reads_our_heartbeats_as_we_do(tmp_path):
    messages = [
        Heartbeat(42),
        Heartbeat(0x01020304, HB_FLAG_R, restart_counter=7),
        Heartbeat(0xFFFFFFFF, HB_FLAG_R | HB_FLAG_U, restart_counter=0xFFFFFFFE),
    ]
    pcap = tmp_path / "hb.pcap"
    _pcap(pcap, [encode(m) for m in messages])
    fields = ["mip6.mhtype", "mip6.hb.u_flag", "mip6.hb.r_flag", "mip6.hb.seqnr", "mip6.rc"]
    args = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("|") for line in done.stdout.splitlines()]

    def flag(value: str) -> bool:
        return value in ("1", "True")

    got = [
        (int(t), flag(u), flag(r), int(seq), int(rc) if rc else None) for t, u, r, seq, rc in rows
    ]
    assert got == [(13, m.unsolicited, m.response, m.sequence, m.restart_counter) for m in messages]
    # No malformed-packet or bad-checksum complaints from the dissector either.
    expert = subprocess.run(
        ["tshark", "-r", str(pcap), "-z", "expert,warn", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Malformed" not in expert.stdout and "Bad checksum" not in expert.stdout, expert.stdout
