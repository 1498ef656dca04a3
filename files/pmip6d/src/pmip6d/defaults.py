"""The agents' protocol defaults, each written once.

The configuration schemas (``config.py``) and the sans-IO machines' settings
(``LmaSettings``, ``MagSettings``) take their defaults from here; this module
imports nothing, so the machines stay free of pydantic and YAML. The roles'
``defaults/main.yml`` and ``meta/argument_specs.yml`` repeat them for Ansible, and
``tests/ansible/test_role_defaults.py`` fails, naming the variable, when one drifts.
"""

from __future__ import annotations

from typing import Final

REPLAY_PROTECTION: Final = "timestamp"
"""RFC 5213 §5.5: timestamps (the default there) or sequence numbers."""

# --- LMA (the three RFC 5213 §9 configuration variables, at their defaults) ----------

TIMESTAMP_VALIDITY_WINDOW_MS: Final = 300
"""TimestampValidityWindow."""
MIN_DELAY_BEFORE_BCE_DELETE_MS: Final = 10_000
"""MinDelayBeforeBCEDelete."""
MAX_DELAY_BEFORE_NEW_BCE_ASSIGN_MS: Final = 1_500
"""MaxDelayBeforeNewBCEAssign."""
MAX_BINDING_LIFETIME: Final = 3600
"""The longest lifetime the LMA grants, in seconds (it grants at most what is asked)."""

# --- MAG (PBU lifetime and the RFC 6275 §12/§13 retransmission timers) -----------------

REQUESTED_LIFETIME: Final = 600
"""The lifetime a MAG asks for, in seconds."""
REFRESH_FRACTION: Final = 0.8
"""Re-register when this fraction of the granted lifetime has passed."""
INITIAL_BINDACK_TIMEOUT_FIRST_REG_MS: Final = 1_500
"""InitialBindackTimeoutFirstReg (RFC 6275 §13: 1.5 s)."""
INITIAL_BINDACK_TIMEOUT_MS: Final = 1_000
"""INITIAL_BINDACK_TIMEOUT (RFC 6275 §12: 1 s)."""
MAX_BINDACK_TIMEOUT_MS: Final = 32_000
"""MAX_BINDACK_TIMEOUT (RFC 6275 §12: 32 s)."""
KEEP_REGISTERING: Final = True
"""After the back-off, retry an unanswered registration every MAX_BINDACK_TIMEOUT while
the MN stays attached (RFC 6275 §11.8 allows it); False gives up, as RFC 5213 minimally does."""
ACCESS_TECHNOLOGY_TYPE: Final = 4
"""IEEE 802.11a/b/g (RFC 5213 §8.5)."""
LINK_LOCAL_ADDRESS: Final = "fe80::1"
"""The link-local address every MAG uses on its access links (RFC 5213 §6.8)."""

# --- Heartbeat between MAG and LMA (RFC 5847 §7) ---------------------------------------

HEARTBEAT_INTERVAL: Final = 60
"""HEARTBEAT_INTERVAL, seconds between two Heartbeat Requests to a peer."""
MISSING_HEARTBEATS_ALLOWED: Final = 3
"""MISSING_HEARTBEATS_ALLOWED: unanswered requests in a row before the peer is down."""
PEER_DOWN_GRACE: Final = None
"""LMA: seconds a MAG may stay down before its bindings are removed; None: never (they
expire with their lifetime). Off by default: a partition between a healthy MAG and the
LMA looks the same as a dead MAG, and removing the bindings would cut its MNs off for
longer than the partition lasted."""

# --- RFC 5846 binding revocation (its §11 configuration variables, at their defaults) --

MIN_DELAY_BRIS_MS: Final = 1_000
"""MINDelayBRIs: the wait for a BRA before the first retransmission (doubles after each)."""
BRI_MAX_RETRIES_NUMBER: Final = 1
"""BRIMaxRetriesNumber: retransmissions of an unanswered BRI before the LMA gives up."""

SOCKET_BUFFER: Final = 8 * 1024 * 1024
"""Bytes of receive and send buffer for the Mobility Header (and ESP) socket. Set with
SO_RCVBUFFORCE/SO_SNDBUFFORCE (CAP_NET_ADMIN, which the agents have), so the host's
net.core.rmem_max (Debian: 208 KiB, ≈ 300 queued PBUs) does not cap it: a burst of
PBUs (a MAG's restart, a handover storm) waits in the socket instead of being dropped."""

METRICS_PORT = 9461
"""The agents' Prometheus endpoint port when ``metrics`` gives none (one default for
both roles: on a host that runs both, give one of them another)."""
