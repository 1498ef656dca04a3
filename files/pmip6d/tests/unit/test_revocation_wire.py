"""RFC 5846 Binding Revocation Indication / Acknowledgement on the wire.

Byte vectors written out by hand from the RFC 5846 §6.1/§6.2 figures, round trips,
malformed shapes, and Wireshark's mip6 dissector (an independent implementation)
reading our bytes from a pcap file.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from pmip6d.wire import (
    BindingRevocationAck,
    BindingRevocationIndication,
    Malformed,
    Prefix,
    RevocationStatus,
    RevocationTrigger,
    checksum,
    decode,
    encode,
    with_checksum,
)
from pmip6d.wire.constants import BR_FLAG_G, BR_FLAG_P, BR_FLAG_V
from pmip6d.wire.describe import describe

HNP = Prefix.parse("2001:db8:100:1::/64")


def bri(**changes) -> BindingRevocationIndication:
    fields = dict(
        trigger=RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE,
        sequence=0x1234,
        mn_id=b"mn1@x",
        home_network_prefixes=[HNP],
    )
    fields.update(changes)
    return BindingRevocationIndication(**fields)


# Payload Proto 59, Header Len 4 (40 octets), MH Type 16, reserved, checksum 0;
# B.R. Type 1, R. Trigger 2, Sequence 0x1234, P flag; MN-ID (type 8, len 6, NAI)
# ending at octet 20, where the HNP option may start (8n+4): type 22, len 18,
# reserved, /64, prefix.
BRI_BYTES = bytes.fromhex(
    "3b04 1000 0000"
    "01 02 1234 8000"
    "08 06 01 6d6e314078"
    "16 12 00 40 20010db8010000010000000000000000".replace(" ", "")
)

# B.R. Type 2, Status 128, Sequence 0x1234, P flag; MN-ID; 20 octets so far, padded
# with a PadN of 4 to 24.
BRA_BYTES = bytes.fromhex(
    "3b02 1000 000002 80 1234 800008 06 01 6d6e31407801 02 0000".replace(" ", "")
)


def test_bri_bytes_match_the_rfc_layout():
    assert encode(bri()) == BRI_BYTES
    assert decode(BRI_BYTES) == bri()


def test_bra_bytes_match_the_rfc_layout():
    bra = BindingRevocationAck(RevocationStatus.BINDING_DOES_NOT_EXIST, 0x1234, mn_id=b"mn1@x")
    assert encode(bra) == BRA_BYTES
    back = decode(BRA_BYTES)
    assert back == bra
    assert isinstance(back, BindingRevocationAck) and not back.accepted and back.proxy


def test_flags_are_the_top_bits_of_the_second_word():
    data = encode(bri(flags=BR_FLAG_P | BR_FLAG_V | BR_FLAG_G))
    assert struct.unpack_from("!H", data, 10)[0] == 0xE000
    assert decode(data).flags == BR_FLAG_P | BR_FLAG_V | BR_FLAG_G


def test_all_options_round_trip():
    full = bri(
        trigger=RevocationTrigger.ADMINISTRATIVE_REASON,
        home_network_prefixes=[HNP, Prefix.parse("2001:db8:100:2::/64")],
        handoff_indicator=3,
        access_technology_type=4,
        mn_link_layer_id=bytes.fromhex("020000000101"),
        link_local_address=bytes.fromhex("fe800000000000000000000000000001"),
        timestamp=123456789,
    )
    data = encode(full)
    assert len(data) % 8 == 0
    assert decode(data) == full


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BRI_BYTES[:8], "length-mismatch"),
        (bytes.fromhex("3b00100000000102"), "too-short"),
        (BRI_BYTES[:6] + b"\x03" + BRI_BYTES[7:], "revocation-type"),
        (BRI_BYTES[:6] + b"\x00" + BRI_BYTES[7:], "revocation-type"),
        # The MN-ID option's length runs past the end of the message.
        (BRI_BYTES[:13] + b"\xff" + BRI_BYTES[14:], "option-overrun"),
    ],
)
def test_malformed_revocations_are_values_not_exceptions(data, reason):
    out = decode(data)
    assert isinstance(out, Malformed) and out.reason == reason


def test_duplicate_mn_id_is_refused():
    body = bytearray(encode(bri(home_network_prefixes=[])))
    # Replace the padding after the first MN-ID with a second MN-ID of equal length.
    twice = bytearray(body[:12]) + body[12:20] + body[12:20]
    twice += bytes(-len(twice) % 8)
    twice[1] = len(twice) // 8 - 1
    out = decode(bytes(twice))
    assert isinstance(out, Malformed) and out.reason == "duplicate-option"


def test_describe_names_trigger_and_status():
    assert describe(bri()).startswith("BRI INTER_MAG_HANDOVER_SAME_ACCESS_TYPE seq=4660 mn=mn1@x")
    bra = BindingRevocationAck(RevocationStatus.SUCCESS, 7, mn_id=b"mn1@x")
    assert describe(bra) == "BRA SUCCESS seq=7 mn=mn1@x"
    assert describe(bri(trigger=250)).startswith("BRI TRIGGER_250 ")


# ------------------------------------------------------------------ independent check: tshark

SRC, DST = "2001:db8:ffff::1", "2001:db8:ffff::11"


def _pcap(path: Path, messages: list[bytes]) -> None:
    """A pcap (LINKTYPE_RAW) of IPv6 packets carrying ``messages`` with valid checksums."""
    from ipaddress import IPv6Address

    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for mh in messages:
        mh = with_checksum(SRC, DST, mh)
        ip = struct.pack("!IHBB", 6 << 28, len(mh), 135, 64)
        ip += IPv6Address(SRC).packed + IPv6Address(DST).packed
        packet = ip + mh
        out += struct.pack("<IIII", 0, 0, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))


FIELDS = [
    "mip6.mhtype",
    "mip6.bri_br.type",
    "mip6.bri_r.trigger",
    "mip6.bri_status",
    "mip6.bri_seqnr",
    "mip6.bri_ip",
    "mip6.bri_iv",
    "mip6.bri_ig",
    "mip6.bri_ap",
    "mip6.mnid.identifier",
    "mip6.nemo.mnp.mnp",
    "mip6.nemo.mnp.pfl",
    "_ws.malformed",
]


def test_wireshark_reads_our_bri_and_bra(tmp_path):
    indication = bri(sequence=4242)
    ack = BindingRevocationAck(RevocationStatus.SUCCESS, 4242, mn_id=b"mn1@x")
    pcap = tmp_path / "br.pcap"
    _pcap(pcap, [encode(indication), encode(ack)])
    args = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=\t"]
    for field in FIELDS:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]
    assert len(rows) == 2
    first, second = rows
    for row in rows:
        assert row["mip6.mhtype"] == "16"
        assert row["_ws.malformed"] == ""
        assert row["mip6.mnid.identifier"] == "mn1@x"
    assert first["mip6.bri_br.type"] == "1"
    assert first["mip6.bri_seqnr"] == "4242"
    assert first["mip6.bri_r.trigger"] == str(int(indication.trigger))
    assert first["mip6.bri_ip"] in ("True", "1")
    assert first["mip6.bri_iv"] in ("False", "0")
    assert first["mip6.bri_ig"] in ("False", "0")
    assert (first["mip6.nemo.mnp.mnp"], first["mip6.nemo.mnp.pfl"]) == ("2001:db8:100:1::", "64")
    assert second["mip6.bri_br.type"] == "2"
    assert second["mip6.bri_status"] == "0"
    assert second["mip6.bri_ap"] in ("True", "1")


def test_pcap_checksums_verify():
    # The helper above must produce what the kernel would: a checksum that verifies.
    mh = with_checksum(SRC, DST, encode(bri()))
    assert int.from_bytes(mh[4:6], "big") == checksum(SRC, DST, mh)
