"""Mobility Header wire format: constants, message values, encoder and decoder."""

from .codec import ALIGNMENT, EncodeError, checksum, decode, encode, with_checksum
from .constants import (
    AccessTechnologyType,
    HandoffIndicator,
    MHType,
    MNIdentifierSubtype,
    OptionType,
    RevocationStatus,
    RevocationTrigger,
    Status,
    revocation_status_name,
    status_name,
)
from .messages import (
    BindingError,
    BindingRevocationAck,
    BindingRevocationIndication,
    Malformed,
    Message,
    ProxyBindingAck,
    ProxyBindingUpdate,
    RawOption,
    UnsupportedMessage,
)
from .prefix import ZERO_PREFIX, Prefix, address_text, canonical_address

__all__ = [
    "ALIGNMENT",
    "ZERO_PREFIX",
    "AccessTechnologyType",
    "BindingError",
    "BindingRevocationAck",
    "BindingRevocationIndication",
    "EncodeError",
    "HandoffIndicator",
    "MHType",
    "MNIdentifierSubtype",
    "Malformed",
    "Message",
    "OptionType",
    "Prefix",
    "ProxyBindingAck",
    "ProxyBindingUpdate",
    "RawOption",
    "RevocationStatus",
    "RevocationTrigger",
    "Status",
    "UnsupportedMessage",
    "address_text",
    "canonical_address",
    "checksum",
    "decode",
    "encode",
    "revocation_status_name",
    "status_name",
    "with_checksum",
]
