"""One-line, human-readable renderings of messages for logs."""

from __future__ import annotations

import datetime as dt

from . import timestamp as ts
from .constants import RevocationTrigger, revocation_status_name, status_name
from .messages import (
    BindingError,
    BindingRevocationAck,
    BindingRevocationIndication,
    Heartbeat,
    Message,
    ProxyBindingAck,
    ProxyBindingUpdate,
)
from .prefix import address_text


def _options(
    msg: ProxyBindingUpdate | ProxyBindingAck | BindingRevocationIndication | BindingRevocationAck,
) -> list[str]:
    out = []
    if msg.mn_id is not None:
        out.append(f"mn={msg.mn_id.decode(errors='replace')}")
    if msg.home_network_prefixes:
        out.append("hnp=" + ",".join(str(p) for p in msg.home_network_prefixes))
    if msg.handoff_indicator is not None:
        out.append(f"hi={msg.handoff_indicator}")
    if msg.access_technology_type is not None:
        out.append(f"att={msg.access_technology_type}")
    if msg.mn_link_layer_id is not None:
        out.append(f"ll={msg.mn_link_layer_id.hex(':')}")
    if msg.link_local_address is not None:
        out.append(f"lla={address_text(msg.link_local_address)}")
    if msg.timestamp is not None:
        when = dt.datetime.fromtimestamp(ts.to_unix(msg.timestamp), dt.timezone.utc)
        out.append(f"ts={when.isoformat(timespec='milliseconds')}")
    if msg.other:
        out.append("other=" + ",".join(str(o.type) for o in msg.other))
    return out


def describe(msg: Message) -> str:
    if isinstance(msg, ProxyBindingUpdate):
        kind = "PBU" if msg.proxy else "BU"
        head = [kind, f"seq={msg.sequence}", f"lifetime={msg.lifetime}s"]
        return " ".join(head + _options(msg))
    if isinstance(msg, ProxyBindingAck):
        kind = "PBA" if msg.proxy else "BA"
        head = [kind, status_name(msg.status), f"seq={msg.sequence}", f"lifetime={msg.lifetime}s"]
        return " ".join(head + _options(msg))
    if isinstance(msg, BindingRevocationIndication):
        try:
            trigger = RevocationTrigger(msg.trigger).name
        except ValueError:
            trigger = f"TRIGGER_{msg.trigger}"
        return " ".join(["BRI", trigger, f"seq={msg.sequence}", *_options(msg)])
    if isinstance(msg, BindingRevocationAck):
        head = ["BRA", revocation_status_name(msg.status), f"seq={msg.sequence}"]
        return " ".join(head + _options(msg))
    if isinstance(msg, BindingError):
        return f"BE status={msg.status} home={address_text(msg.home_address)}"
    if isinstance(msg, Heartbeat):
        kind = "HB-response" if msg.response else "HB-request"
        rc = f" restart_counter={msg.restart_counter}" if msg.restart_counter is not None else ""
        return f"{kind}{' unsolicited' if msg.unsolicited else ''} seq={msg.sequence}{rc}"
    return f"MH type {msg.mh_type} ({len(msg.body)} octets)"
