"""Numbers from the IANA "Mobile IPv6 parameters" registry used by RFC 5213.

Every value here is a protocol constant; nothing in this file knows about state.
"""

from __future__ import annotations

from enum import IntEnum

IPPROTO_MH = 135
"""IPv6 Next Header value of the Mobility Header (RFC 6275 §6.1)."""

IPPROTO_NONE = 59
"""Payload Proto of a Mobility Header: no payload follows (RFC 6275 §6.1.1)."""

MH_CHECKSUM_OFFSET = 4
"""Offset of the checksum inside the Mobility Header, for IPV6_CHECKSUM."""

LIFETIME_UNIT = 4
"""Binding lifetimes travel in units of 4 seconds (RFC 6275 §6.1.7)."""

MAX_LIFETIME_UNITS = 0xFFFF


class MHType(IntEnum):
    """Mobility Header types (RFC 6275 §6.1, RFC 5847 §5.1, RFC 5846 §6.1)."""

    BINDING_REFRESH_REQUEST = 0
    HOME_TEST_INIT = 1
    CARE_OF_TEST_INIT = 2
    HOME_TEST = 3
    CARE_OF_TEST = 4
    BINDING_UPDATE = 5
    BINDING_ACK = 6
    BINDING_ERROR = 7
    HEARTBEAT = 13
    BINDING_REVOCATION = 16


class OptionType(IntEnum):
    """Mobility option types (RFC 6275 §6.2, RFC 4283, RFC 5213 §8)."""

    PAD1 = 0
    PADN = 1
    BINDING_REFRESH_ADVICE = 2
    ALTERNATE_COA = 3
    NONCE_INDICES = 4
    BINDING_AUTH_DATA = 5
    MOBILE_NETWORK_PREFIX = 6
    LINK_LAYER_ADDRESS = 7
    MN_IDENTIFIER = 8
    HOME_NETWORK_PREFIX = 22
    HANDOFF_INDICATOR = 23
    ACCESS_TECHNOLOGY_TYPE = 24
    MN_LINK_LAYER_IDENTIFIER = 25
    LINK_LOCAL_ADDRESS = 26
    TIMESTAMP = 27
    RESTART_COUNTER = 28
    """RFC 5847 §5.2."""


class MNIdentifierSubtype(IntEnum):
    """Subtypes of the Mobile Node Identifier option (RFC 4283 §3)."""

    NAI = 1


class HandoffIndicator(IntEnum):
    """Handoff Indicator option values (RFC 5213 §8.4)."""

    RESERVED = 0
    NEW_INTERFACE = 1
    """Attachment over a new interface."""
    DIFFERENT_INTERFACE = 2
    """Handoff between two different interfaces of the mobile node."""
    SAME_INTERFACE = 3
    """Handoff between mobile access gateways for the same interface."""
    UNKNOWN = 4
    """Handoff state unknown."""
    NOT_CHANGED = 5
    """Handoff state not changed (re-registration)."""


class AccessTechnologyType(IntEnum):
    """Access Technology Type option values (RFC 5213 §8.5)."""

    RESERVED = 0
    VIRTUAL = 1
    PPP = 2
    IEEE_802_3 = 3
    IEEE_802_11 = 4
    IEEE_802_16E = 5


class Status(IntEnum):
    """Binding Acknowledgement status codes (RFC 6275 §6.1.8, RFC 5213 §8.9)."""

    ACCEPTED = 0
    ACCEPTED_PREFIX_DISCOVERY = 1
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    NOT_HOME_SUBNET = 132
    NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE = 133
    DUPLICATE_ADDRESS_DETECTION_FAILED = 134
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    PROXY_REG_NOT_ENABLED = 152
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    TIMESTAMP_MISMATCH = 156
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    MISSING_MN_IDENTIFIER_OPTION = 160
    MISSING_HANDOFF_INDICATOR_OPTION = 161
    MISSING_ACCESS_TECH_TYPE_OPTION = 162

    @property
    def accepted(self) -> bool:
        return self < 128


def status_name(code: int) -> str:
    """Registry name of a status code, or its number when it is not one we know."""
    try:
        return Status(code).name
    except ValueError:
        return f"STATUS_{code}"


class BindingErrorStatus(IntEnum):
    """Binding Error status codes (RFC 6275 §6.1.9)."""

    UNKNOWN_BINDING_FOR_HOME_ADDRESS = 1
    UNRECOGNIZED_MH_TYPE = 2


# Binding Update flags (RFC 6275 §6.1.7, RFC 3963, RFC 5213 §8.1, RFC 5845).
BU_FLAG_A = 0x8000
BU_FLAG_H = 0x4000
BU_FLAG_L = 0x2000
BU_FLAG_K = 0x1000
BU_FLAG_M = 0x0800
BU_FLAG_R = 0x0400
BU_FLAG_P = 0x0200
BU_FLAG_F = 0x0100
BU_FLAG_T = 0x0080

# Binding Acknowledgement flags (RFC 6275 §6.1.8, RFC 3963, RFC 5213 §8.2).
BA_FLAG_K = 0x80
BA_FLAG_R = 0x40
BA_FLAG_P = 0x20
BA_FLAG_T = 0x10

# Heartbeat flags (RFC 5847 §5.1): the low bits of the 16-bit word before the sequence number.
HB_FLAG_U = 0x0002
"""Unsolicited: a response sent without a request."""
HB_FLAG_R = 0x0001
"""Response; clear in a request."""

# --- RFC 5846 binding revocation --------------------------------------------------------


class RevocationType(IntEnum):
    """B.R. Type of a Binding Revocation message (RFC 5846 §6.1)."""

    INDICATION = 1
    ACKNOWLEDGEMENT = 2


class RevocationTrigger(IntEnum):
    """Revocation Trigger values of a BRI (RFC 5846 §6.1.2, IANA registry)."""

    UNSPECIFIED = 0
    ADMINISTRATIVE_REASON = 1
    INTER_MAG_HANDOVER_SAME_ACCESS_TYPE = 2
    INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE = 3
    INTER_MAG_HANDOVER_UNKNOWN = 4
    USER_INITIATED_SESSION_TERMINATION = 5
    ACCESS_NETWORK_SESSION_TERMINATION = 6
    POSSIBLE_OUT_OF_SYNC_BCE_STATE = 7
    PER_PEER_POLICY = 128
    REVOKING_MOBILITY_NODE_LOCAL_POLICY = 129


class RevocationStatus(IntEnum):
    """Status of a Binding Revocation Acknowledgement (RFC 5846 §6.2, IANA registry).

    Below 128 the revocation succeeded. (Wireshark's dissector names the failures
    after an early draft, numbered 2-6; the RFC and the registry number them from 128.)
    """

    SUCCESS = 0
    PARTIAL_SUCCESS = 1
    BINDING_DOES_NOT_EXIST = 128
    IPV4_HOME_ADDRESS_OPTION_REQUIRED = 129
    GLOBAL_REVOCATION_NOT_AUTHORIZED = 130
    REVOKED_MOBILE_NODES_IDENTITY_REQUIRED = 131
    REVOCATION_FAILED_MN_IS_ATTACHED = 132
    REVOCATION_TRIGGER_NOT_SUPPORTED = 133
    REVOCATION_FUNCTION_NOT_SUPPORTED = 134


def revocation_status_name(code: int) -> str:
    """Registry name of a BRA status, or its number when it is not one we know."""
    try:
        return RevocationStatus(code).name
    except ValueError:
        return f"STATUS_{code}"


# Binding Revocation flags, BRI and BRA alike (RFC 5846 §6.1, §6.2).
BR_FLAG_P = 0x8000
"""Proxy binding: the revocation is about a PMIPv6 binding."""
BR_FLAG_V = 0x4000
"""IPv4 HoA binding only (RFC 5844); this agent never sets it."""
BR_FLAG_G = 0x2000
"""Global: every binding of the peer (this agent revokes per MN only)."""
