"""Scapy layers for the RFC 5213 mobility options that scapy lacks.

Why: the agents' Mobility Header codec (:mod:`pmip6d.wire`) should be checked
against an implementation it shares no code with. Scapy already dissects
Binding Updates and Acknowledgements; what it misses are the Proxy Mobile IPv6
options (RFC 5213 §8.3–8.8) and status codes (§8.9). This module adds them.

Importing it has side effects only: the option classes are registered into
``scapy.layers.inet6`` so that ``MIP6MH_BU`` / ``MIP6MH_BA`` dissect them and
scapy's automatic padding places them at their RFC alignment.

This module is for tests and packet-crafting tools. It needs scapy, and the
agents never import it: nothing in the daemon depends on scapy. The tables
below are written from the RFC, deliberately not from :mod:`pmip6d.wire`, so
the two sides stay independent.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from scapy.fields import (
    BitField,
    ByteEnumField,
    ByteField,
    FieldLenField,
    IP6Field,
    ShortField,
    StrLenField,
)
from scapy.layers import inet6
from scapy.layers.inet6 import MIP6MH_BA, _MIP6OptAlign

__all__ = [
    "ACCESS_TECHNOLOGY_TYPES",
    "HANDOFF_INDICATORS",
    "PMIP6_BA_STATUS",
    "PMIP6_OPTION_TYPES",
    "MIP6OptAccessTechnologyType",
    "MIP6OptHandoffIndicator",
    "MIP6OptHomeNetworkPrefix",
    "MIP6OptLinkLocalAddress",
    "MIP6OptMNLinkLayerID",
    "MIP6OptTimestamp",
]

PMIP6_OPTION_TYPES: dict[int, str] = {
    22: "Home Network Prefix (RFC5213)",
    23: "Handoff Indicator (RFC5213)",
    24: "Access Technology Type (RFC5213)",
    25: "Mobile Node Link-layer Identifier (RFC5213)",
    26: "Link-local Address (RFC5213)",
    27: "Timestamp (RFC5213)",
}
"""Mobility option type numbers assigned by RFC 5213 §12 (IANA)."""

HANDOFF_INDICATORS: dict[int, str] = {
    0: "Reserved",
    1: "Attachment over a new interface",
    2: "Handoff between two different interfaces of the mobile node",
    3: "Handoff between mobile access gateways for the same interface",
    4: "Handoff state unknown",
    5: "Handoff state not changed (Re-registration)",
}
"""Handoff Indicator values (RFC 5213 §8.4)."""

ACCESS_TECHNOLOGY_TYPES: dict[int, str] = {
    0: "Reserved",
    1: "Virtual",
    2: "PPP",
    3: "IEEE 802.3",
    4: "IEEE 802.11a/b/g",
    5: "IEEE 802.16e",
}
"""Access Technology Type values (RFC 5213 §8.5)."""

PMIP6_BA_STATUS: dict[int, str] = {
    152: "PROXY_REG_NOT_ENABLED",
    153: "NOT_LMA_FOR_THIS_MOBILE_NODE",
    154: "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
    155: "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
    156: "TIMESTAMP_MISMATCH",
    157: "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
    158: "MISSING_HOME_NETWORK_PREFIX_OPTION",
    159: "BCE_PBU_PREFIX_SET_DO_NOT_MATCH",
    160: "MISSING_MN_IDENTIFIER_OPTION",
    161: "MISSING_HANDOFF_INDICATOR_OPTION",
    162: "MISSING_ACCESS_TECH_TYPE_OPTION",
}
"""Binding Acknowledgement status codes added by RFC 5213 §8.9."""

# The option classes' ``otype`` fields copy this table when they are created,
# so it is extended before the classes below are defined.
inet6._mobopttypes.update(PMIP6_OPTION_TYPES)


class _UnixSecondsField(BitField):
    """48-bit seconds since 1970 (not the NTP 1900 epoch), shown as a UTC date."""

    def i2repr(self, pkt: Any, x: int | None) -> str:
        if x is None:
            return repr(x)
        try:
            when = datetime.fromtimestamp(x, tz=timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            return str(x)
        return f"{x} ({when})"


class MIP6OptHomeNetworkPrefix(_MIP6OptAlign):
    """Home Network Prefix option (RFC 5213 §8.3): the mobile node's prefix, 8n+4."""

    name = "PMIPv6 Option - Home Network Prefix"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 22, inet6._mobopttypes),
        ByteField("olen", 18),
        ByteField("reserved", 0),
        ByteField("plen", 0),
        IP6Field("prefix", "::"),
    ]
    x = 8
    y = 4  # alignment requirement: 8n+4


class MIP6OptHandoffIndicator(_MIP6OptAlign):
    """Handoff Indicator option (RFC 5213 §8.4): why the MAG registers; no alignment."""

    name = "PMIPv6 Option - Handoff Indicator"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 23, inet6._mobopttypes),
        ByteField("olen", 2),
        ByteField("reserved", 0),
        ByteEnumField("hi", 1, HANDOFF_INDICATORS),
    ]
    x = 0
    y = 0  # alignment requirement: none


class MIP6OptAccessTechnologyType(_MIP6OptAlign):
    """Access Technology Type option (RFC 5213 §8.5): the attachment's link; no alignment."""

    name = "PMIPv6 Option - Access Technology Type"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 24, inet6._mobopttypes),
        ByteField("olen", 2),
        ByteField("reserved", 0),
        ByteEnumField("att", 1, ACCESS_TECHNOLOGY_TYPES),
    ]
    x = 0
    y = 0  # alignment requirement: none


class MIP6OptMNLinkLayerID(_MIP6OptAlign):
    """Mobile Node Link-layer Identifier option (RFC 5213 §8.6): variable length, 2n."""

    name = "PMIPv6 Option - Mobile Node Link-layer Identifier"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 25, inet6._mobopttypes),
        FieldLenField("olen", None, length_of="lli", fmt="B", adjust=lambda pkt, x: x + 2),
        ShortField("reserved", 0),
        StrLenField("lli", b"", length_from=lambda pkt: max(pkt.olen - 2, 0)),
    ]
    x = 2
    y = 0  # alignment requirement: 2n


class MIP6OptLinkLocalAddress(_MIP6OptAlign):
    """Link-local Address option (RFC 5213 §8.7): the MAG's link-local address, 8n+6."""

    name = "PMIPv6 Option - Link-local Address"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 26, inet6._mobopttypes),
        ByteField("olen", 16),
        IP6Field("lladdr", "::"),
    ]
    x = 8
    y = 6  # alignment requirement: 8n+6


class MIP6OptTimestamp(_MIP6OptAlign):
    """Timestamp option (RFC 5213 §8.8): 48-bit seconds since 1970 + 16-bit 1/65536 s, 8n+2.

    The two parts are separate fields so that a dissection shows the date and a
    1900-epoch (NTP) mistake stands out.
    """

    name = "PMIPv6 Option - Timestamp"
    fields_desc: ClassVar[list[Any]] = [
        ByteEnumField("otype", 27, inet6._mobopttypes),
        ByteField("olen", 8),
        _UnixSecondsField("seconds", 0, 48),
        BitField("fraction", 0, 16),
    ]
    x = 8
    y = 2  # alignment requirement: 8n+2

    @property
    def timestamp(self) -> int:
        """The whole 64-bit field, as one integer (seconds << 16 | fraction)."""
        return (self.seconds << 16) | self.fraction


# Dissection: MIP6OptUnknown.dispatch_hook looks option types up in this table.
inet6.moboptcls.update(
    {
        22: MIP6OptHomeNetworkPrefix,
        23: MIP6OptHandoffIndicator,
        24: MIP6OptAccessTechnologyType,
        25: MIP6OptMNLinkLayerID,
        26: MIP6OptLinkLocalAddress,
        27: MIP6OptTimestamp,
    }
)

# Status names: MIP6MH_BA's status field copied ``bastatus`` when it was
# created, so the field's own lookup tables are extended as well.
inet6.bastatus.update(PMIP6_BA_STATUS)
_status_field = next(f for f in MIP6MH_BA.fields_desc if f.name == "status")
for _code, _name in PMIP6_BA_STATUS.items():
    _status_field.i2s[_code] = _name
    _status_field.s2i[_name] = _code
del _status_field, _code, _name
