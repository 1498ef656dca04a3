"""Decoded Mobility Header messages: plain values, no behaviour.

A Proxy Binding Update and a Proxy Binding Acknowledgement carry the same
RFC 5213 options, so both hold them in the same named fields: one field per
option kind, ``None`` when the option was absent. Options this codec does not
interpret travel in ``other`` untouched, so nothing that was received is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .constants import (
    BA_FLAG_P,
    BR_FLAG_P,
    BU_FLAG_A,
    BU_FLAG_P,
    HB_FLAG_R,
    HB_FLAG_U,
    LIFETIME_UNIT,
    MHType,
    MNIdentifierSubtype,
)
from .prefix import Prefix


@dataclass(slots=True, frozen=True)
class RawOption:
    """A mobility option kept as received: type and the bytes after the length octet."""

    type: int
    data: bytes


@dataclass(slots=True)
class ProxyBindingUpdate:
    """A Binding Update (MH type 5); a *proxy* one when the P flag is set (RFC 5213 §8.1)."""

    sequence: int
    lifetime_units: int
    """Lifetime in units of 4 seconds, as on the wire; 0 means de-registration."""
    flags: int = BU_FLAG_A | BU_FLAG_P
    mn_id: bytes | None = None
    mn_id_subtype: int = MNIdentifierSubtype.NAI
    home_network_prefixes: list[Prefix] = field(default_factory=list)
    handoff_indicator: int | None = None
    access_technology_type: int | None = None
    mn_link_layer_id: bytes | None = None
    link_local_address: bytes | None = None
    timestamp: int | None = None
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.BINDING_UPDATE

    @property
    def proxy(self) -> bool:
        return bool(self.flags & BU_FLAG_P)

    @property
    def lifetime(self) -> int:
        """Requested lifetime in seconds."""
        return self.lifetime_units * LIFETIME_UNIT

    @property
    def is_deregistration(self) -> bool:
        return self.lifetime_units == 0


@dataclass(slots=True)
class ProxyBindingAck:
    """Binding Acknowledgement (MH type 6); a *proxy* one with the P flag (RFC 5213 §8.2)."""

    status: int
    sequence: int
    lifetime_units: int
    flags: int = BA_FLAG_P
    mn_id: bytes | None = None
    mn_id_subtype: int = MNIdentifierSubtype.NAI
    home_network_prefixes: list[Prefix] = field(default_factory=list)
    handoff_indicator: int | None = None
    access_technology_type: int | None = None
    mn_link_layer_id: bytes | None = None
    link_local_address: bytes | None = None
    timestamp: int | None = None
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.BINDING_ACK

    @property
    def proxy(self) -> bool:
        return bool(self.flags & BA_FLAG_P)

    @property
    def lifetime(self) -> int:
        """Granted lifetime in seconds."""
        return self.lifetime_units * LIFETIME_UNIT

    @property
    def accepted(self) -> bool:
        return self.status < 128


@dataclass(slots=True)
class BindingError:
    """Binding Error (MH type 7, RFC 6275 §6.1.9): the answer to a message we cannot process."""

    status: int
    home_address: bytes = bytes(16)
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.BINDING_ERROR


@dataclass(slots=True)
class Heartbeat:
    """Heartbeat (MH type 13, RFC 5847 §5.1): a request, or with the R flag its response."""

    sequence: int
    """32 bits; a response carries the sequence number of the request it answers."""
    flags: int = 0
    restart_counter: int | None = None
    """The Restart Counter option (RFC 5847 §5.2): the sender's restarts, 32 bits."""
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.HEARTBEAT

    @property
    def response(self) -> bool:
        return bool(self.flags & HB_FLAG_R)

    @property
    def unsolicited(self) -> bool:
        return bool(self.flags & HB_FLAG_U)


@dataclass(slots=True)
class BindingRevocationIndication:
    """Binding Revocation Indication (MH type 16, B.R. Type 1; RFC 5846 §6.1).

    Carries the same mobility options as a PBU in the same fields; a PMIPv6 one
    (P flag) names the mobile node with its MN-Identifier option.
    """

    trigger: int
    sequence: int
    flags: int = BR_FLAG_P
    mn_id: bytes | None = None
    mn_id_subtype: int = MNIdentifierSubtype.NAI
    home_network_prefixes: list[Prefix] = field(default_factory=list)
    handoff_indicator: int | None = None
    access_technology_type: int | None = None
    mn_link_layer_id: bytes | None = None
    link_local_address: bytes | None = None
    timestamp: int | None = None
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.BINDING_REVOCATION

    @property
    def proxy(self) -> bool:
        return bool(self.flags & BR_FLAG_P)


@dataclass(slots=True)
class BindingRevocationAck:
    """Binding Revocation Acknowledgement (MH type 16, B.R. Type 2; RFC 5846 §6.2)."""

    status: int
    sequence: int
    flags: int = BR_FLAG_P
    mn_id: bytes | None = None
    mn_id_subtype: int = MNIdentifierSubtype.NAI
    home_network_prefixes: list[Prefix] = field(default_factory=list)
    handoff_indicator: int | None = None
    access_technology_type: int | None = None
    mn_link_layer_id: bytes | None = None
    link_local_address: bytes | None = None
    timestamp: int | None = None
    other: list[RawOption] = field(default_factory=list)

    mh_type = MHType.BINDING_REVOCATION

    @property
    def proxy(self) -> bool:
        return bool(self.flags & BR_FLAG_P)

    @property
    def accepted(self) -> bool:
        return self.status < 128


@dataclass(slots=True)
class UnsupportedMessage:
    """A well-formed Mobility Header of a type this agent does not process."""

    mh_type: int
    body: bytes
    """Message data after the 6-octet fixed part of the Mobility Header."""


@dataclass(slots=True, frozen=True)
class Malformed:
    """What decoding returns instead of raising: why the bytes were not a valid message.

    ``reason`` is a short stable label, fit to be a counter name; ``detail`` is
    for the log.
    """

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


Message = (
    ProxyBindingUpdate
    | ProxyBindingAck
    | BindingError
    | Heartbeat
    | BindingRevocationIndication
    | BindingRevocationAck
    | UnsupportedMessage
)
