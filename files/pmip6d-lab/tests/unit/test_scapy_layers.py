"""Independent-peer checks of the Mobility Header codec against scapy.

Why: a codec tested only against itself can be consistently wrong. Scapy shares
no code with :mod:`pmip6d.wire`; with the RFC 5213 options of
:mod:`pmip6d_lab.scapy_layers` it builds and dissects Proxy Binding Updates and
Acknowledgements on its own. Every test here crosses the boundary: scapy builds
and our decoder reads, or our encoder writes and scapy dissects, and the field
values must agree. Expected values are written as literals (or derived from the
other side), never from the codec under test.
"""

from __future__ import annotations

import itertools
import socket
import struct
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers import inet6
from scapy.layers.inet6 import (
    MIP6MH_BA,
    MIP6MH_BU,
    IPv6,
    MIP6OptMNID,
    MIP6OptUnknown,
    Pad1,
    PadN,
    in6_chksum,
)
from scapy.packet import Packet

from pmip6d.wire import (
    AccessTechnologyType,
    HandoffIndicator,
    Malformed,
    Prefix,
    ProxyBindingAck,
    ProxyBindingUpdate,
    Status,
    checksum,
    decode,
    encode,
    with_checksum,
)
from pmip6d.wire.constants import (
    BA_FLAG_K,
    BA_FLAG_P,
    BU_FLAG_A,
    BU_FLAG_F,
    BU_FLAG_H,
    BU_FLAG_K,
    BU_FLAG_L,
    BU_FLAG_M,
    BU_FLAG_P,
    BU_FLAG_R,
    BU_FLAG_T,
)
from pmip6d.wire.timestamp import from_unix, to_unix
from pmip6d_lab import scapy_layers
from pmip6d_lab.scapy_layers import (
    MIP6OptAccessTechnologyType,
    MIP6OptHandoffIndicator,
    MIP6OptHomeNetworkPrefix,
    MIP6OptLinkLocalAddress,
    MIP6OptMNLinkLayerID,
    MIP6OptTimestamp,
)

KINDS = ("bu", "ba")

# Alignment xn+y of each option's Type octet from the start of the Mobility
# Header, copied from the RFC text (not from either implementation).
RFC_ALIGNMENT: dict[int, tuple[int, int]] = {
    22: (8, 4),  # Home Network Prefix, RFC 5213 §8.3
    25: (2, 0),  # MN Link-layer Identifier, RFC 5213 §8.6
    26: (8, 6),  # Link-local Address, RFC 5213 §8.7
    27: (8, 2),  # Timestamp, RFC 5213 §8.8
}

LAYERS: dict[int, type[Packet]] = {
    22: MIP6OptHomeNetworkPrefix,
    23: MIP6OptHandoffIndicator,
    24: MIP6OptAccessTechnologyType,
    25: MIP6OptMNLinkLayerID,
    26: MIP6OptLinkLocalAddress,
    27: MIP6OptTimestamp,
}

OPTIONS_START = 12  # both BU and BA have 12 octets before their options


# --------------------------------------------------------------------------- helpers


def ntop(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, packed)


def pton(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def our_msg(
    kind: str,
    *,
    seq: int = 0x1234,
    lifetime: int = 0x0100,
    flags: int | None = None,
    status: int = 0,
    **options: Any,
) -> ProxyBindingUpdate | ProxyBindingAck:
    """One of our messages with the given fixed part and option fields."""
    if kind == "bu":
        bu_flags = BU_FLAG_A | BU_FLAG_P if flags is None else flags
        return ProxyBindingUpdate(seq, lifetime, bu_flags, **options)
    ba_flags = BA_FLAG_P if flags is None else flags
    return ProxyBindingAck(status, seq, lifetime, ba_flags, **options)


def scapy_msg(
    kind: str,
    options: list[Packet],
    *,
    seq: int = 0x1234,
    lifetime: int = 0x0100,
    flags: int | None = None,
    status: int = 0,
    cksum: int | None = 0,
) -> Packet:
    """A scapy BU/BA; ``flags`` is the whole 16-bit (BU) or 8-bit (BA) flags word."""
    if kind == "bu":
        word = BU_FLAG_A | BU_FLAG_P if flags is None else flags
        # scapy: 7 named flag bits (A H L K M R P), then 9 reserved bits.
        return MIP6MH_BU(
            cksum=cksum,
            seq=seq,
            flags=word >> 9,
            reserved=word & 0x1FF,
            mhtime=lifetime,
            options=options,
        )
    word = BA_FLAG_P if flags is None else flags
    # scapy: 3 named flag bits (K R P), then 5 reserved bits.
    return MIP6MH_BA(
        cksum=cksum,
        status=status,
        flags=word >> 5,
        res2=word & 0x1F,
        seq=seq,
        mhtime=lifetime,
        options=options,
    )


def scapy_options(msg: ProxyBindingUpdate | ProxyBindingAck) -> list[Packet]:
    """Scapy options carrying ``msg``'s fields, in the order our encoder writes them."""
    opts: list[Packet] = []
    if msg.mn_id is not None:
        opts.append(MIP6OptMNID(subtype=msg.mn_id_subtype, id=msg.mn_id))
    for p in msg.home_network_prefixes:
        opts.append(MIP6OptHomeNetworkPrefix(plen=p.length, prefix=ntop(p.address)))
    if msg.handoff_indicator is not None:
        opts.append(MIP6OptHandoffIndicator(hi=msg.handoff_indicator))
    if msg.access_technology_type is not None:
        opts.append(MIP6OptAccessTechnologyType(att=msg.access_technology_type))
    if msg.mn_link_layer_id is not None:
        opts.append(MIP6OptMNLinkLayerID(lli=msg.mn_link_layer_id))
    if msg.link_local_address is not None:
        opts.append(MIP6OptLinkLocalAddress(lladdr=ntop(msg.link_local_address)))
    if msg.timestamp is not None:
        opts.append(MIP6OptTimestamp(seconds=msg.timestamp >> 16, fraction=msg.timestamp & 0xFFFF))
    return opts


def scapy_of(msg: ProxyBindingUpdate | ProxyBindingAck, **kw: Any) -> Packet:
    kind = "bu" if isinstance(msg, ProxyBindingUpdate) else "ba"
    status = msg.status if isinstance(msg, ProxyBindingAck) else 0
    return scapy_msg(
        kind,
        scapy_options(msg),
        seq=msg.sequence,
        lifetime=msg.lifetime_units,
        flags=msg.flags,
        status=status,
        **kw,
    )


def scapy_view(pkt: Packet) -> dict[str, Any]:
    """Everything a BU/BA says, read with scapy's field names only."""
    if isinstance(pkt, MIP6MH_BU):
        view: dict[str, Any] = {"mhtype": 5, "flags": (int(pkt.flags) << 9) | pkt.reserved}
    else:
        assert isinstance(pkt, MIP6MH_BA)
        view = {"mhtype": 6, "flags": (int(pkt.flags) << 5) | (pkt.res2 or 0)}
        view["status"] = pkt.status
    assert pkt.mhtype == view["mhtype"]
    view.update(
        seq=pkt.seq,
        lifetime=pkt.mhtime,
        mn_id=None,
        hnp=[],
        hi=None,
        att=None,
        lli=None,
        lladdr=None,
        timestamp=None,
    )
    singletons = {
        MIP6OptMNID: "mn_id",
        MIP6OptHandoffIndicator: "hi",
        MIP6OptAccessTechnologyType: "att",
        MIP6OptMNLinkLayerID: "lli",
        MIP6OptLinkLocalAddress: "lladdr",
        MIP6OptTimestamp: "timestamp",
    }
    for opt in pkt.options:
        if isinstance(opt, (Pad1, PadN)):
            continue
        # A known type dissected as "unknown" means the registration failed.
        assert not isinstance(opt, MIP6OptUnknown), opt.otype
        if isinstance(opt, MIP6OptHomeNetworkPrefix):
            assert opt.reserved == 0
            view["hnp"].append((opt.prefix, opt.plen))
            continue
        key = singletons[type(opt)]
        assert view[key] is None, f"{key} twice"
        if isinstance(opt, MIP6OptMNID):
            view[key] = (opt.subtype, opt.id)
        elif isinstance(opt, MIP6OptHandoffIndicator):
            view[key] = opt.hi
        elif isinstance(opt, MIP6OptAccessTechnologyType):
            view[key] = opt.att
        elif isinstance(opt, MIP6OptMNLinkLayerID):
            view[key] = opt.lli
        elif isinstance(opt, MIP6OptLinkLocalAddress):
            view[key] = opt.lladdr
        else:
            view[key] = (opt.seconds, opt.fraction)
    return view


def our_view(msg: ProxyBindingUpdate | ProxyBindingAck) -> dict[str, Any]:
    """The same view as :func:`scapy_view`, read from one of our message values."""
    view: dict[str, Any] = {"mhtype": int(msg.mh_type), "flags": msg.flags}
    if isinstance(msg, ProxyBindingAck):
        view["status"] = msg.status
    ts = msg.timestamp
    lla = msg.link_local_address
    view.update(
        seq=msg.sequence,
        lifetime=msg.lifetime_units,
        mn_id=None if msg.mn_id is None else (msg.mn_id_subtype, msg.mn_id),
        hnp=[(ntop(p.address), p.length) for p in msg.home_network_prefixes],
        hi=msg.handoff_indicator,
        att=msg.access_technology_type,
        lli=msg.mn_link_layer_id,
        lladdr=None if lla is None else ntop(lla),
        timestamp=None if ts is None else (ts >> 16, ts & 0xFFFF),
    )
    return view


def dissect(kind: str, data: bytes) -> Packet:
    return (MIP6MH_BU if kind == "bu" else MIP6MH_BA)(data)


def decoded(data: bytes) -> ProxyBindingUpdate | ProxyBindingAck:
    msg = decode(data)
    assert isinstance(msg, (ProxyBindingUpdate, ProxyBindingAck)), msg
    return msg


def walk_options(mh: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, type, body) of every option, padding included, by walking the bytes."""
    out = []
    pos = OPTIONS_START
    while pos < len(mh):
        otype = mh[pos]
        if otype == 0:
            out.append((pos, 0, b""))
            pos += 1
            continue
        olen = mh[pos + 1]
        out.append((pos, otype, mh[pos + 2 : pos + 2 + olen]))
        pos += 2 + olen
    assert pos == len(mh), "last option runs past the message"
    return out


def full_options(mn_id_len: int = 15, lli_len: int = 6) -> dict[str, Any]:
    """Every RFC 5213 option once (HNP twice), as fields of our message."""
    return {
        "mn_id": bytes(range(0x61, 0x61 + mn_id_len)),
        "home_network_prefixes": [
            Prefix(pton("2001:db8:1:2::"), 64),
            Prefix(pton("2001:db8:ff00::"), 40),
        ],
        "handoff_indicator": HandoffIndicator.NEW_INTERFACE,
        "access_technology_type": AccessTechnologyType.IEEE_802_11,
        "mn_link_layer_id": bytes(range(0xA0, 0xA0 + lli_len)),
        "link_local_address": pton("fe80::1:2:3:4"),
        "timestamp": (1_700_000_123 << 16) | 0x4000,
    }


# --------------------------------------------------------------------------- registration


def test_layers_registered_for_dissection() -> None:
    for otype, cls in LAYERS.items():
        assert inet6.moboptcls[otype] is cls
        assert otype in inet6._mobopttypes
        assert cls().otype == otype
    # The generic option class dispatches on the type octet.
    raw = bytes(MIP6OptHandoffIndicator(hi=2))
    assert isinstance(MIP6OptUnknown(raw), MIP6OptHandoffIndicator)


def test_layer_alignment_is_the_rfcs() -> None:
    for otype, cls in LAYERS.items():
        assert (cls.x, cls.y) == RFC_ALIGNMENT.get(otype, (0, 0)), cls.__name__


def test_option_sizes_are_the_rfcs() -> None:
    sizes = {22: 20, 23: 4, 24: 4, 26: 18, 27: 10}  # Type + Length + body
    for otype, size in sizes.items():
        raw = bytes(LAYERS[otype]())
        assert len(raw) == size and raw[0] == otype and raw[1] == size - 2
    raw = bytes(MIP6OptMNLinkLayerID(lli=b"\x01\x02\x03"))
    assert raw == bytes((25, 5, 0, 0, 1, 2, 3))


def test_status_names_registered_and_match_ours() -> None:
    assert set(scapy_layers.PMIP6_BA_STATUS) == set(range(152, 163))
    for code, name in scapy_layers.PMIP6_BA_STATUS.items():
        assert inet6.bastatus[code] == name
        assert Status(code).name == name
        assert MIP6MH_BA(status=code).sprintf("%MIP6MH_BA.status%") == name
        assert MIP6MH_BA(status=name).status == code


def test_enum_tables_cover_rfc_values() -> None:
    assert set(scapy_layers.HANDOFF_INDICATORS) == {int(v) for v in HandoffIndicator}
    assert set(scapy_layers.ACCESS_TECHNOLOGY_TYPES) == {int(v) for v in AccessTechnologyType}
    hi = MIP6OptHandoffIndicator(hi=5)
    assert hi.sprintf("%hi%") == "Handoff state not changed (Re-registration)"
    att = MIP6OptAccessTechnologyType(att=3)
    assert att.sprintf("%att%") == "IEEE 802.3"


def test_agents_never_import_scapy() -> None:
    code = (
        "import importlib, pkgutil, sys, pmip6d\n"
        "for m in pkgutil.walk_packages(pmip6d.__path__, 'pmip6d.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'scapy' or n.startswith('scapy.'))\n"
        "assert not bad, bad\n"
        "assert not any(n.startswith('pmip6d_lab') for n in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- per option

# (scapy option as built by hand, our message fields it must decode to)
OPTION_CASES = [
    pytest.param(
        [MIP6OptMNID(subtype=1, id=b"mn1@example.net")],
        {"mn_id": b"mn1@example.net", "mn_id_subtype": 1},
        id="mn-id",
    ),
    pytest.param(
        [MIP6OptHomeNetworkPrefix(plen=48, prefix="2001:db8:aa::")],
        {"home_network_prefixes": [Prefix(bytes.fromhex("20010db800aa") + bytes(10), 48)]},
        id="hnp",
    ),
    pytest.param(
        [MIP6OptHomeNetworkPrefix(plen=0, prefix="::")],
        {"home_network_prefixes": [Prefix(bytes(16), 0)]},
        id="hnp-zero",
    ),
    pytest.param(
        [
            MIP6OptHomeNetworkPrefix(plen=64, prefix="2001:db8:0:1::"),
            MIP6OptHomeNetworkPrefix(plen=128, prefix="2001:db8::ffff"),
        ],
        {
            "home_network_prefixes": [
                Prefix(bytes.fromhex("20010db8000000010000000000000000"), 64),
                Prefix(bytes.fromhex("20010db800000000000000000000ffff"), 128),
            ]
        },
        id="hnp-two",
    ),
    pytest.param(
        [MIP6OptHandoffIndicator(hi=3)],
        {"handoff_indicator": HandoffIndicator.SAME_INTERFACE},
        id="hi",
    ),
    pytest.param(
        [MIP6OptAccessTechnologyType(att=4)],
        {"access_technology_type": AccessTechnologyType.IEEE_802_11},
        id="att",
    ),
    pytest.param(
        [MIP6OptMNLinkLayerID(lli=bytes.fromhex("02005e00aabb"))],
        {"mn_link_layer_id": bytes.fromhex("02005e00aabb")},
        id="ll-id",
    ),
    pytest.param(
        [MIP6OptMNLinkLayerID(lli=b"\x07")],
        {"mn_link_layer_id": b"\x07"},
        id="ll-id-1-octet",
    ),
    pytest.param(
        [MIP6OptLinkLocalAddress(lladdr="fe80::211:22ff:fe33:4455")],
        {"link_local_address": bytes.fromhex("fe80000000000000021122fffe334455")},
        id="link-local",
    ),
    pytest.param(
        [MIP6OptTimestamp(seconds=0x6553F100, fraction=0x8001)],
        {"timestamp": 0x6553F100_8001},
        id="timestamp",
    ),
    pytest.param(
        [MIP6OptTimestamp(seconds=(1 << 48) - 1, fraction=0xFFFF)],
        {"timestamp": (1 << 64) - 1},
        id="timestamp-max",
    ),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("options", "fields"), OPTION_CASES)
def test_option_scapy_built_our_decode(
    kind: str, options: list[Packet], fields: dict[str, Any]
) -> None:
    msg = decoded(bytes(scapy_msg(kind, options)))
    expected = our_msg(kind, **fields)
    assert msg == expected
    assert msg.other == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("options", "fields"), OPTION_CASES)
def test_option_our_encode_scapy_dissect(
    kind: str, options: list[Packet], fields: dict[str, Any]
) -> None:
    pkt = dissect(kind, encode(our_msg(kind, **fields)))
    got = [o for o in pkt.options if not isinstance(o, (Pad1, PadN))]
    assert len(got) == len(options)
    for have, want in zip(got, options, strict=True):
        assert have.__class__ is want.__class__
        assert have.olen == len(bytes(want)) - 2
        for fld in want.fields_desc:
            if fld.name != "olen":
                assert getattr(have, fld.name) == getattr(want, fld.name), fld.name


def test_timestamp_epoch_is_1970() -> None:
    """RFC 5213 §8.8: 48-bit seconds since 1970 + 16-bit fractions, not NTP's 1900."""
    opt = MIP6OptTimestamp(seconds=1_700_000_000, fraction=0x8000)
    msg = decoded(bytes(scapy_msg("bu", [opt])))
    assert msg.timestamp is not None
    assert to_unix(msg.timestamp) == 1_700_000_000.5
    pkt = MIP6MH_BU(encode(our_msg("bu", timestamp=from_unix(1_234_567_890.25))))
    ts = pkt[MIP6OptTimestamp]
    assert (ts.seconds, ts.fraction) == (1_234_567_890, 0x4000)
    assert "2009-02-13T23:31:30" in ts.sprintf("%seconds%")


# --------------------------------------------------------------------------- fixed part

BU_FLAG_CASES = [
    ("AP", BU_FLAG_A | BU_FLAG_P),
    ("P", BU_FLAG_P),
    ("A", BU_FLAG_A),
    ("AHLKMRP", BU_FLAG_A | BU_FLAG_H | BU_FLAG_L | BU_FLAG_K | BU_FLAG_M | BU_FLAG_R | BU_FLAG_P),
    ("", 0),
]


@pytest.mark.parametrize(("scapy_flags", "ours"), BU_FLAG_CASES)
def test_bu_fixed_part_both_ways(scapy_flags: str, ours: int) -> None:
    pkt = MIP6MH_BU(cksum=0, seq=0xBEEF, flags=scapy_flags, mhtime=0xFFFE)
    msg = decoded(bytes(pkt))
    assert isinstance(msg, ProxyBindingUpdate)
    assert (msg.sequence, msg.lifetime_units, msg.flags) == (0xBEEF, 0xFFFE, ours)
    assert msg.proxy == ("P" in scapy_flags)
    back = MIP6MH_BU(encode(ProxyBindingUpdate(0xBEEF, 0xFFFE, ours)))
    assert (back.nh, back.mhtype, back.len) == (59, 5, 1)
    assert (back.seq, back.mhtime, back.reserved) == (0xBEEF, 0xFFFE, 0)
    assert back.flags == pkt.flags
    assert back.flags.P is ("P" in scapy_flags)


def test_bu_flags_beyond_scapys_names() -> None:
    """F and T (RFC 5555, RFC 5845) sit in what scapy calls the reserved bits."""
    pkt = MIP6MH_BU(cksum=0, seq=1, flags="AP", reserved=0x180, mhtime=1)
    msg = decoded(bytes(pkt))
    assert msg.flags == BU_FLAG_A | BU_FLAG_P | BU_FLAG_F | BU_FLAG_T
    back = MIP6MH_BU(encode(msg))
    assert back.reserved == 0x180 and back.flags == pkt.flags


def test_bu_deregistration_lifetime_zero() -> None:
    msg = decoded(bytes(MIP6MH_BU(cksum=0, seq=9, flags="AP", mhtime=0)))
    assert isinstance(msg, ProxyBindingUpdate) and msg.is_deregistration
    assert MIP6MH_BU(encode(ProxyBindingUpdate(9, 0))).mhtime == 0


@pytest.mark.parametrize("status", [0, 1, 128, 129, 130, 133, *range(152, 163), 255])
@pytest.mark.parametrize(("scapy_flags", "ours"), [("P", BA_FLAG_P), ("KP", BA_FLAG_K | BA_FLAG_P)])
def test_ba_fixed_part_both_ways(status: int, scapy_flags: str, ours: int) -> None:
    pkt = MIP6MH_BA(cksum=0, status=status, flags=scapy_flags, seq=0x8001, mhtime=0x0E10)
    msg = decoded(bytes(pkt))
    assert isinstance(msg, ProxyBindingAck)
    assert (msg.status, msg.sequence, msg.lifetime_units) == (status, 0x8001, 0x0E10)
    assert msg.flags == ours and msg.proxy
    assert msg.accepted == (status < 128)
    back = MIP6MH_BA(encode(ProxyBindingAck(status, 0x8001, 0x0E10, ours)))
    assert (back.nh, back.mhtype, back.len) == (59, 6, 1)
    assert (back.status, back.seq, back.mhtime, back.res2) == (status, 0x8001, 0x0E10, 0)
    assert back.flags == pkt.flags and back.flags.P


# --------------------------------------------------------------------------- whole messages


@pytest.mark.parametrize("kind", KINDS)
def test_full_message_both_ways_and_same_bytes(kind: str) -> None:
    msg = our_msg(kind, status=Status.ACCEPTED, **full_options())
    ours = encode(msg)
    theirs = bytes(scapy_of(msg))
    # Both pad minimally with Pad1/PadN, so the same options in the same order
    # must give identical bytes.
    assert ours == theirs
    assert scapy_view(dissect(kind, ours)) == our_view(msg)
    assert decoded(theirs) == msg


# --------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lli_len", range(1, 10))
@pytest.mark.parametrize("mn_id_len", range(1, 17))
def test_our_encoding_is_aligned(kind: str, mn_id_len: int, lli_len: int) -> None:
    msg = our_msg(kind, **full_options(mn_id_len, lli_len))
    mh = encode(msg)
    assert len(mh) % 8 == 0
    assert mh[1] == len(mh) // 8 - 1
    seen = set()
    for pos, otype, body in walk_options(mh):
        if otype in (0, 1):
            assert body == bytes(len(body)), "padding must be zeros"
            continue
        seen.add(otype)
        x, y = RFC_ALIGNMENT.get(otype, (1, 0))
        assert pos % x == y, f"option {otype} at {pos}"
    assert seen == {8, *LAYERS}
    # The same positions, as scapy's dissection sees them.
    pos = OPTIONS_START
    for opt in dissect(kind, mh).options:
        if type(opt) in LAYERS.values() and opt.x:
            assert pos % opt.x == opt.y, f"{type(opt).__name__} at {pos}"
        pos += len(bytes(opt))
    assert pos == len(mh)


ALONE = {
    22: {"home_network_prefixes": [Prefix(pton("2001:db8:7::"), 48)]},
    25: {"mn_link_layer_id": b"\x01\x02\x03"},
    26: {"link_local_address": pton("fe80::9")},
    27: {"timestamp": 0x0102030405060708},
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mn_id_len", range(1, 9))
@pytest.mark.parametrize("otype", sorted(ALONE))
def test_each_aligned_option_alone(kind: str, otype: int, mn_id_len: int) -> None:
    """After an MN-ID of every length mod 8, the option still lands on xn+y."""
    fields = {"mn_id": b"m" * mn_id_len, **ALONE[otype]}
    mh = encode(our_msg(kind, **fields))
    assert len(mh) % 8 == 0
    placed = [pos for pos, t, _unused in walk_options(mh) if t == otype]
    x, y = RFC_ALIGNMENT[otype]
    assert len(placed) == 1 and placed[0] % x == y
    # scapy, padding for its own layer's alignment, writes the very same bytes
    theirs = scapy_msg(kind, scapy_options(our_msg(kind, **fields)))
    assert mh == bytes(theirs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lli_len", [1, 2, 5])
@pytest.mark.parametrize("mn_id_len", [1, 4, 7])
def test_scapy_padding_any_order_decodes(kind: str, mn_id_len: int, lli_len: int) -> None:
    """Scapy pads each option for its own alignment; our decoder must take any order."""
    msg = our_msg(kind, **full_options(mn_id_len, lli_len))
    options = scapy_options(msg)
    for order in itertools.islice(itertools.permutations(options), 0, None, 997):
        pkt = scapy_msg(kind, list(order), seq=msg.sequence, lifetime=msg.lifetime_units)
        raw = bytes(pkt)
        for pos, otype, _body in walk_options(raw):
            if otype in RFC_ALIGNMENT:
                x, y = RFC_ALIGNMENT[otype]
                assert pos % x == y
        got = decoded(raw)
        assert our_view(got) == scapy_view(pkt)


# --------------------------------------------------------------------------- checksum

ADDRESS_PAIRS = [
    ("2001:db8::1", "2001:db8::2"),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "2001:db8:1::ffff"),
    ("fe80::1", "ff02::1"),
    ("::1", "::1"),
]


def scapy_ip_checksum(src: str, dst: str, mh: Packet) -> tuple[int, bytes]:
    """(checksum scapy fills in, the Mobility Header bytes it sends)."""
    wire = bytes(IPv6(src=src, dst=dst) / mh)
    assert wire[6] == 135  # Next Header: Mobility Header
    body = wire[40:]
    return struct.unpack_from("!H", body, 4)[0], body


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("src", "dst"), ADDRESS_PAIRS)
def test_checksum_matches_scapy(kind: str, src: str, dst: str) -> None:
    msg = our_msg(kind, **full_options())
    scapy_ck, scapy_mh = scapy_ip_checksum(src, dst, scapy_of(msg, cksum=None))
    assert scapy_ck != 0
    mh = encode(msg)
    assert checksum(src, dst, mh) == scapy_ck
    assert checksum(src, dst, scapy_mh) == scapy_ck  # its own field is taken as zero
    assert with_checksum(src, dst, mh) == scapy_mh
    # and scapy's checksum routine agrees directly
    upper = (IPv6(src=src, dst=dst) / dissect(kind, mh))[MIP6MH_BU if kind == "bu" else MIP6MH_BA]
    assert in6_chksum(135, upper, mh) == scapy_ck
    # a receiver summing over everything, checksum included, gets zero
    assert in6_chksum(135, upper, with_checksum(src, dst, mh)) == 0


def test_checksum_follows_one_bit() -> None:
    mh = encode(our_msg("bu", **full_options()))
    a, b = ADDRESS_PAIRS[0]
    flipped = bytearray(mh)
    flipped[7] ^= 0x01  # low bit of the sequence number
    pkt = MIP6MH_BU(bytes(flipped))
    pkt.cksum = None  # let scapy compute it
    ck, _unused = scapy_ip_checksum(a, b, pkt)
    assert checksum(a, b, bytes(flipped)) == ck != checksum(a, b, mh)


def test_checksum_when_ones_complement_sum_is_all_ones() -> None:
    """When the sum is 0xFFFF the complement is 0x0000, as scapy and the kernel send it.

    RFC 6275 §6.1.1 has no UDP-style "send 0 as 0xFFFF" rule, so the codec must
    give 0x0000 too.
    """
    src, dst = ADDRESS_PAIRS[0]
    c0, _unused = scapy_ip_checksum(src, dst, MIP6MH_BU(cksum=None, seq=0, flags="AP", mhtime=1))
    # Adding c0 (= 0xFFFF - sum) to the sum through the sequence number makes it 0xFFFF.
    pkt = MIP6MH_BU(cksum=None, seq=c0, flags="AP", mhtime=1)
    scapy_ck, scapy_mh = scapy_ip_checksum(src, dst, pkt)
    assert scapy_ck == 0
    ours = checksum(src, dst, scapy_mh)
    assert ours == 0x0000
    # A receiver sums everything, checksum included, and must find zero.
    upper = (IPv6(src=src, dst=dst) / MIP6MH_BU(scapy_mh))[MIP6MH_BU]
    assert in6_chksum(135, upper, with_checksum(src, dst, scapy_mh)) == 0


# --------------------------------------------------------------------------- property

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)


def _masked(addr: bytes, length: int) -> bytes:
    value = int.from_bytes(addr, "big")
    mask = ((1 << length) - 1) << (128 - length) if length else 0
    return (value & mask).to_bytes(16, "big")


prefixes = st.builds(
    lambda addr, length: Prefix(_masked(addr, length), length),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 128),
)


@st.composite
def messages(draw: st.DrawFn) -> ProxyBindingUpdate | ProxyBindingAck:
    mn_id = draw(st.none() | st.binary(min_size=1, max_size=64))
    fields: dict[str, Any] = {
        "mn_id": mn_id,
        "mn_id_subtype": 1 if mn_id is None else draw(u8),
        "home_network_prefixes": draw(st.lists(prefixes, max_size=4)),
        "handoff_indicator": draw(st.none() | u8),
        "access_technology_type": draw(st.none() | u8),
        "mn_link_layer_id": draw(st.none() | st.binary(min_size=1, max_size=32)),
        "link_local_address": draw(st.none() | st.binary(min_size=16, max_size=16)),
        "timestamp": draw(st.none() | st.integers(0, (1 << 64) - 1)),
    }
    if draw(st.booleans()):
        return ProxyBindingUpdate(draw(u16), draw(u16), draw(u16), **fields)
    return ProxyBindingAck(draw(u8), draw(u16), draw(u16), draw(u8), **fields)


@settings(deadline=None, max_examples=200)
@given(msg=messages(), data=st.data())
def test_property_scapy_build_our_decode(
    msg: ProxyBindingUpdate | ProxyBindingAck, data: st.DataObject
) -> None:
    options = data.draw(st.permutations(scapy_options(msg)), label="option order")
    kind = "bu" if isinstance(msg, ProxyBindingUpdate) else "ba"
    status = msg.status if isinstance(msg, ProxyBindingAck) else 0
    pkt = scapy_msg(
        kind, options, seq=msg.sequence, lifetime=msg.lifetime_units, flags=msg.flags, status=status
    )
    got = decode(bytes(pkt))
    assert not isinstance(got, Malformed), got
    assert got.__class__ is msg.__class__
    assert our_view(got) == scapy_view(pkt)
    assert got.other == []


@settings(deadline=None, max_examples=200)
@given(msg=messages())
def test_property_our_encode_scapy_dissect(msg: ProxyBindingUpdate | ProxyBindingAck) -> None:
    mh = encode(msg)
    kind = "bu" if isinstance(msg, ProxyBindingUpdate) else "ba"
    pkt = dissect(kind, mh)
    assert pkt.len == len(mh) // 8 - 1 and len(mh) % 8 == 0
    assert scapy_view(pkt) == our_view(msg)
    assert mh == bytes(scapy_of(msg))


ipv6_addresses = st.binary(min_size=16, max_size=16).map(ntop)


@settings(deadline=None, max_examples=200)
@given(msg=messages(), src=ipv6_addresses, dst=ipv6_addresses)
def test_property_checksum_matches_scapy(
    msg: ProxyBindingUpdate | ProxyBindingAck, src: str, dst: str
) -> None:
    scapy_ck, scapy_mh = scapy_ip_checksum(src, dst, scapy_of(msg, cksum=None))
    ours = checksum(src, dst, encode(msg))
    if scapy_ck == 0:  # see test_checksum_when_ones_complement_sum_is_all_ones
        assert ours == 0x0000
    else:
        assert ours == scapy_ck
        assert with_checksum(src, dst, encode(msg)) == scapy_mh
