"""The MAG's saved state: active bindings written at shutdown, taken back at start.

The format (version 1) is a JSON object, unchanged since the first release::

    {"version": 1, "role": "mag", "address": "<Proxy-CoA>",
     "bindings": [{"mac": hex, "mn_id": hex, "lma": str, "interface": str | null,
                   "hi": int, "att": int, "prefixes": [str], "lifetime": int,
                   "expires_wall": <Unix time the binding runs out>}]}

Only ACTIVE entries are saved (an exchange in flight is not worth resuming).
A restored entry must still be allowed by the policy the agent restarted with,
by the rule an attach follows (``MobileAccessGateway._admit``), and is
refreshed at once, which re-validates it with its LMA (which may have lost it).
The MN-Identifier and the LMA come from the current policy, not from the file.
"""

from __future__ import annotations

from ..actions import Action, Notice, ServeMobileNode
from ..wire.constants import HandoffIndicator
from ..wire.prefix import Prefix
from .machine import BulEntry, BulState, Event, MobileAccessGateway, Phase, Refusal

VERSION = 1


def snapshot(mag: MobileAccessGateway) -> dict:
    """Active bindings as plain data, with wall-clock expiry, to survive a restart."""
    now, wall = mag.clock.monotonic(), mag.clock.time()
    entries = [
        {
            "mac": e.mac.hex(),
            "mn_id": e.mn_id.hex(),
            "lma": e.lma,
            "interface": e.interface,
            "hi": e.handoff_indicator,
            "att": e.access_technology_type,
            "prefixes": [str(p) for p in e.prefixes],
            "lifetime": e.lifetime,
            "expires_wall": wall + (e.expires_at - now),
        }
        for e in mag._by_mac.values()
        if e.state is BulState.ACTIVE
    ]
    return {"version": VERSION, "role": "mag", "address": mag.address, "bindings": entries}


def restore(mag: MobileAccessGateway, saved: dict) -> list[Action]:
    """Serve again the MNs that were bound at the last shutdown, and refresh them at once.

    Expired entries, and MNs the current policy does not let this MAG serve, are dropped.
    """
    if saved.get("version") != VERSION or saved.get("role") != "mag":
        return [Notice("warning", "ignored a saved state of another format or role")]
    now, wall = mag.clock.monotonic(), mag.clock.time()
    actions: list[Action] = []
    for item in saved.get("bindings", []):
        try:
            mac = bytes.fromhex(item["mac"])
            prefixes = tuple(Prefix.parse(p) for p in item["prefixes"])
            left = float(item["expires_wall"]) - wall
        except (KeyError, TypeError, ValueError) as exc:
            actions.append(Notice("warning", f"ignored a malformed saved binding: {exc}"))
            continue
        if left <= 0 or mac in mag._by_mac:
            continue
        profile = mag._admit(mac)
        if isinstance(profile, Refusal):
            # Not counted as an attach refusal: no MN asked for anything.
            actions.append(Notice("info", f"saved binding dropped: {profile.why}"))
            continue
        entry = BulEntry(
            mac=mac,
            mn_id=profile.mn_id,
            lma=profile.lma,
            interface=item.get("interface"),
            handoff_indicator=int(item.get("hi", HandoffIndicator.NEW_INTERFACE)),
            access_technology_type=int(item.get("att", mag.settings.access_technology_type)),
            phase=Phase.ACTIVE,
            prefixes=prefixes,
            lifetime=int(item.get("lifetime", 0)),
            expires_at=now + left,
            attached_at=now,
            registered_at=now,
        )
        mag._add(entry)
        mag.counters["restored"] += 1
        actions.append(ServeMobileNode(entry.snapshot(mag._link_local)))
        # The refresh is the ACTIVE entry's due timer, taken now.
        actions += mag._dispatch(entry, Event.TIMEOUT, now=now)
    return actions
