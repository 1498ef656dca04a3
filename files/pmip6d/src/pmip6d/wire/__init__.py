"""Mobility Header wire format: constants, message values, encoder and decoder."""

from .codec import ALIGNMENT, EncodeError, checksum, decode, encode, with_checksum
from .constants import (
    AccessTechnologyType,
    HandoffIndicator,
    MHType,
    MNIdentifierSubtype,
    OptionType,
    Status,
    status_name,
)
from .messages import (
    BindingError,
    Heartbeat,
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
    "EncodeError",
    "HandoffIndicator",
    "Heartbeat",
    "MHType",
    "MNIdentifierSubtype",
    "Malformed",
    "Message",
    "OptionType",
    "Prefix",
    "ProxyBindingAck",
    "ProxyBindingUpdate",
    "RawOption",
    "Status",
    "UnsupportedMessage",
    "address_text",
    "canonical_address",
    "checksum",
    "decode",
    "encode",
    "status_name",
    "with_checksum",
]
