"""Layer-2 triggers: how the MAG learns that a mobile node attached or left.

Sources (:mod:`.sources`) read access points — Cisco IOS syslog over UDP,
hostapd's control socket — and hand :class:`L2Event` values to a sink; the
parsing behind them (:mod:`.syslog`, :mod:`.cisco`, :mod:`.hostapd`) is pure.
"""

from .apsyslog import parse_ap_datagram, parse_hostapd_syslog
from .cisco import parse_cisco, parse_cisco_datagram, parse_dot11
from .events import (
    Ignored,
    L2Event,
    ParseResult,
    Unparsable,
    handoff_indicator,
    looks_like_mac,
    station_mac,
)
from .hostapd import parse_hostapd_event, parse_sta_reply
from .sources import (
    AccessPoint,
    HostapdSource,
    Sink,
    SyslogListener,
    TriggerSource,
    build_sources,
    normalize_address,
    register_source_type,
)
from .syslog import MAX_DATAGRAM, CiscoTag, SyslogMessage, parse_syslog
from .tracker import StationTracker

__all__ = [
    "MAX_DATAGRAM",
    "AccessPoint",
    "CiscoTag",
    "HostapdSource",
    "Ignored",
    "L2Event",
    "ParseResult",
    "Sink",
    "StationTracker",
    "SyslogListener",
    "SyslogMessage",
    "TriggerSource",
    "Unparsable",
    "build_sources",
    "handoff_indicator",
    "looks_like_mac",
    "normalize_address",
    "parse_ap_datagram",
    "parse_cisco",
    "parse_cisco_datagram",
    "parse_dot11",
    "parse_hostapd_event",
    "parse_hostapd_syslog",
    "parse_sta_reply",
    "parse_syslog",
    "register_source_type",
    "station_mac",
]
