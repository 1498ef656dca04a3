"""The LMA's saved state: the binding cache written at shutdown, taken back at start.

The format (version 1) is a JSON object, unchanged since the first release::

    {"version": 1, "role": "lma", "address": "<LMAA>",
     "bindings": [{"mn_id": hex, "mn_id_subtype": int, "prefixes": [str],
                   "proxy_coa": str, "att": int, "ll_id": hex | null, "hi": int,
                   "mag_link_local": hex | null, "lifetime": int,
                   "expires_wall": <Unix time the binding runs out>,
                   "timestamp": int | null, "sequence": int, "handoffs": int,
                   "from_pool": bool}]}

Only ACTIVE entries are saved. A saved binding is taken back only if the
machine would still accept it: it is turned back into the PBU it stands for and
put through the machine's own rules, the §5.3.1 admission checks
(``ADMISSION_CHECKS``, except the timestamp window: a saved binding did not
just arrive) and the §5.4.1 lookup (its prefixes must not be bound already).
Prefixes it had from the pool must still be claimable there.
"""

from __future__ import annotations

import socket

from ..actions import Action, Notice, RouteToMag
from ..wire.constants import BU_FLAG_A, BU_FLAG_P, LIFETIME_UNIT, status_name
from ..wire.messages import ProxyBindingUpdate
from ..wire.prefix import Prefix
from .cache import BceState, BindingCacheEntry
from .machine import ADMISSION_CHECKS, LocalMobilityAnchor, Reject, _Lookup, _Request

VERSION = 1

NOT_AT_RESTORE = frozenset({"timestamp within the validity window"})
"""Admission checks about a message's arrival, which a saved binding has no longer."""

if not NOT_AT_RESTORE.issubset(what for what, _holds, _status in ADMISSION_CHECKS):
    raise RuntimeError("lma.persistence.NOT_AT_RESTORE names a check ADMISSION_CHECKS lacks")


def entry(bce: BindingCacheEntry, now: float, wall: float) -> dict:
    """One saved binding (an item of ``bindings``), with wall-clock expiry."""
    return {
        "mn_id": bce.mn_id.hex(),
        "mn_id_subtype": bce.mn_id_subtype,
        "prefixes": [str(p) for p in bce.prefixes],
        "proxy_coa": bce.proxy_coa,
        "att": bce.access_technology_type,
        "ll_id": bce.mn_link_layer_id.hex() if bce.mn_link_layer_id else None,
        "hi": bce.handoff_indicator,
        "mag_link_local": bce.mag_link_local.hex() if bce.mag_link_local else None,
        "lifetime": bce.lifetime,
        "expires_wall": wall + (bce.expires_at - now),
        "timestamp": bce.timestamp,
        "sequence": bce.sequence,
        "handoffs": bce.handoffs,
        "from_pool": bce.from_pool,
    }


def snapshot(lma: LocalMobilityAnchor) -> dict:
    """The binding cache as plain data, with wall-clock expiry, to survive a restart."""
    now, wall = lma.clock.monotonic(), lma.clock.time()
    entries = [entry(bce, now, wall) for bce in lma.cache if bce.state is BceState.ACTIVE]
    return {"version": VERSION, "role": "lma", "address": lma.address, "bindings": entries}


def record(lma: LocalMobilityAnchor, bce: BindingCacheEntry) -> tuple[str, dict | None]:
    """The durable store's record of one entry: its key (its first prefix, which no
    other entry holds and which it keeps for life) and what is saved under it, or
    None when it is no longer to be saved (deleted, or de-registered)."""
    key = str(bce.prefixes[0])
    if bce.state is not BceState.ACTIVE or lma.cache.by_prefix(bce.prefixes[0]) is not bce:
        return key, None
    return key, entry(bce, lma.clock.monotonic(), lma.clock.time())


def _prefix(text: str) -> Prefix:
    """A saved prefix (``str(Prefix)``: "address/length") without ``ipaddress``, which
    costs ~40 µs a prefix: seconds when an LMA restarts with 100k bindings."""
    address, _slash, length = text.partition("/")
    try:
        packed = socket.inet_pton(socket.AF_INET6, address)
    except OSError:
        raise ValueError(f"{text!r} is not an IPv6 prefix") from None
    n = int(length)
    if not 0 <= n <= 128 or int.from_bytes(packed, "big") & ((1 << (128 - n)) - 1):
        raise ValueError(f"{text!r} is not an IPv6 prefix")
    return Prefix(packed, n)


def _as_pbu(item: dict) -> ProxyBindingUpdate:
    """The registration a saved binding stands for. Raises KeyError, TypeError, ValueError."""
    ll_id, lla = item.get("ll_id"), item.get("mag_link_local")
    timestamp = item.get("timestamp")
    return ProxyBindingUpdate(
        sequence=int(item.get("sequence", 0)),
        lifetime_units=int(item.get("lifetime", 0)) // LIFETIME_UNIT,
        flags=BU_FLAG_A | BU_FLAG_P,
        mn_id=bytes.fromhex(item["mn_id"]),
        mn_id_subtype=int(item.get("mn_id_subtype", 1)),
        home_network_prefixes=[_prefix(p) for p in item["prefixes"]],
        handoff_indicator=int(item.get("hi", 0)),
        access_technology_type=int(item.get("att", 0)),
        mn_link_layer_id=bytes.fromhex(ll_id) if ll_id else None,
        link_local_address=bytes.fromhex(lla) if lla else None,
        timestamp=None if timestamp is None else int(timestamp),
    )


def _readmit(lma: LocalMobilityAnchor, r: _Request) -> str | None:
    """Why the machine would not take this saved binding now; None: it would."""
    for what, holds, status in ADMISSION_CHECKS:
        if what not in NOT_AT_RESTORE and not holds(lma, r):
            return f"fails '{what}': {status_name(status)}"
    try:
        kind, _bce = lma._lookup(r)
    except Reject as rej:
        return f"{status_name(rej.status)}, {rej.why}" if rej.why else status_name(rej.status)
    return None if kind is _Lookup.NEW else "its prefixes are bound already"


def restore(lma: LocalMobilityAnchor, saved: dict) -> list[Action]:
    """Take back bindings saved by :func:`snapshot` that are still valid and still allowed.

    Returns the routes to install. Entries that expired meanwhile, or that the
    current policy no longer allows, are dropped with a notice.
    """
    if saved.get("version") != VERSION or saved.get("role") != "lma":
        return [Notice("warning", "ignored a saved state of another format or role")]
    now, wall = lma.clock.monotonic(), lma.clock.time()
    actions: list[Action] = []
    restored = 0
    for item in saved.get("bindings", []):
        try:
            pbu = _as_pbu(item)
            left = float(item["expires_wall"]) - wall
            proxy_coa = item["proxy_coa"]
            handoffs = int(item.get("handoffs", 0))
        except (KeyError, TypeError, ValueError) as exc:
            actions.append(Notice("warning", f"ignored a malformed saved binding: {exc}"))
            continue
        assert pbu.mn_id is not None
        mn_id, prefixes = pbu.mn_id, tuple(pbu.home_network_prefixes)
        who = mn_id.decode(errors="replace")
        if left <= 0:
            continue
        src = lma._mag_addresses.get(proxy_coa, proxy_coa)
        why = _readmit(lma, _Request(src, pbu, lma.policy.profile(mn_id)))
        if why is not None:
            actions.append(
                Notice("info", f"saved binding of {who} is no longer allowed ({why}); dropped")
            )
            continue
        from_pool = bool(item.get("from_pool"))
        if from_pool and (lma.pool is None or not all(lma.pool.claim(p, mn_id) for p in prefixes)):
            actions.append(Notice("info", f"saved prefixes of {who} left the pool; dropped"))
            continue
        lla = pbu.link_local_address
        bce = BindingCacheEntry(
            mn_id=mn_id,
            prefixes=prefixes,
            proxy_coa=src,
            access_technology_type=pbu.access_technology_type,
            mn_link_layer_id=pbu.mn_link_layer_id,
            handoff_indicator=pbu.handoff_indicator,
            mag_link_local=lma._shared(lla) if lla else None,
            lifetime=int(item.get("lifetime", 0)),
            expires_at=now + left,
            registered_at=now,
            refreshed_at=now,
            timestamp=pbu.timestamp,
            sequence=pbu.sequence,
            mn_id_subtype=pbu.mn_id_subtype,
            handoffs=handoffs,
            from_pool=from_pool,
        )
        lma._install(bce)
        actions.append(RouteToMag(mn_id, prefixes, bce.proxy_coa))
        restored += 1
    lma.counters["restored"] += restored
    actions.append(Notice("info", f"restored {restored} bindings saved at the last shutdown"))
    return actions
