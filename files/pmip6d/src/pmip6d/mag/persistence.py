"""The MAG's saved state: active bindings written at shutdown, taken back at start.

The format (version 1) is a JSON object, unchanged since the first release::

    {"version": 1, "role": "mag", "address": "<Proxy-CoA>",
     "bindings": [{"mac": hex, "mn_id": hex, "lma": str, "interface": str | null,
                   "hi": int, "att": int, "prefixes": [str], "lifetime": int,
                   "expires_wall": <Unix time the binding runs out>}]}

Only ACTIVE entries are saved (an exchange in flight is not worth resuming).
A restored entry must still be allowed by the policy the agent restarted with,
by the rule an attach follows (``MobileAccessGateway._admit``). It is refreshed
when its timer says, as if the agent had never stopped (at once if that time
passed while it was down): the LMA holds the binding (its own state is durable
too), so the data path needs no PBU. The MN-Identifier and the LMA come from
the current policy, not from the file.

The durable store (``daemon/store.py``) keeps the same items, one per MAC.
"""

from __future__ import annotations

from ..actions import Action, Notice, ServeMobileNode
from ..wire.constants import HandoffIndicator
from ..wire.prefix import Prefix
from .machine import BulEntry, BulState, Event, MobileAccessGateway, Phase, Refusal

VERSION = 1


def entry(e: BulEntry, now: float, wall: float) -> dict:
    """One saved binding (an item of ``bindings``), with wall-clock expiry."""
    return {
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


def snapshot(mag: MobileAccessGateway) -> dict:
    """Active bindings as plain data, with wall-clock expiry, to survive a restart."""
    now, wall = mag.clock.monotonic(), mag.clock.time()
    entries = [entry(e, now, wall) for e in mag._by_mac.values() if e.state is BulState.ACTIVE]
    return {"version": VERSION, "role": "mag", "address": mag.address, "bindings": entries}


def record(mag: MobileAccessGateway, e: BulEntry) -> tuple[str, dict | None]:
    """The durable store's record of one entry: its key (the MAC) and what is saved
    under it, or None when it is no longer to be saved (forgotten, or leaving)."""
    key = e.mac.hex()
    if e.state is not BulState.ACTIVE or mag._by_mac.get(e.mac) is not e:
        return key, None
    return key, entry(e, mag.clock.monotonic(), mag.clock.time())


def restore(mag: MobileAccessGateway, saved: dict) -> list[Action]:
    """Serve again the MNs that were bound when the agent stopped; refresh them on time.

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
        # The ACTIVE entry's timer is its refresh time: the one it had before the
        # stop, or now if that passed while the agent was down.
        refresh_at = entry.expires_at - entry.lifetime * (1 - mag.settings.refresh_fraction)
        if refresh_at <= now:
            actions += mag._dispatch(entry, Event.TIMEOUT, now=now)
        else:
            mag._timers.set(entry, refresh_at)
    return actions
