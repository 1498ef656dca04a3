"""The LMA binding cache (RFC 5213 §5.1), indexed the three ways §5.4.1 looks it up.

* by home network prefix — a PBU that names its prefixes (§5.4.1.1);
* by (MN-Identifier, Access Technology Type, MN Link-layer Identifier) — a PBU
  from a new MAG that does not know the prefixes yet but knows the interface
  (§5.4.1.2);
* by MN-Identifier — everything else (§5.4.1.3), and multihoming, where one
  mobile node holds several entries, one per attached interface.

Every lookup is a dict access; nothing here walks the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..wire.prefix import Prefix


class BceState(Enum):
    ACTIVE = "active"
    DEREGISTERING = "deregistering"
    """De-registered by its MAG; deleted after MinDelayBeforeBCEDelete unless a PBU revives it."""


@dataclass(slots=True, eq=False)
class BindingCacheEntry:
    mn_id: bytes
    prefixes: tuple[Prefix, ...]
    proxy_coa: str
    access_technology_type: int
    mn_link_layer_id: bytes | None
    handoff_indicator: int
    mag_link_local: bytes | None
    lifetime: int
    """Granted lifetime in seconds."""
    expires_at: float
    registered_at: float
    refreshed_at: float
    timestamp: int | None
    """Timestamp of the last accepted PBU (timestamp-based replay protection)."""
    sequence: int
    """Sequence number of the last accepted PBU."""
    mn_id_subtype: int = 1
    state: BceState = BceState.ACTIVE
    handoffs: int = 0
    from_pool: bool = False
    timer_id: int = 0
    timer_due: float = 0.0
    deregistered_timestamp: int | None = None
    """Timestamp of the de-registration that put the entry in DEREGISTERING."""

    @property
    def link_key(self) -> tuple[bytes, int, bytes] | None:
        if self.mn_link_layer_id is None:
            return None
        return (self.mn_id, self.access_technology_type, self.mn_link_layer_id)


class BindingCache:
    def __init__(self) -> None:
        self._by_prefix: dict[Prefix, BindingCacheEntry] = {}
        self._by_link: dict[tuple[bytes, int, bytes], BindingCacheEntry] = {}
        # One entry per MN is the rule, several (multihoming) the exception: a list
        # only then saves ~140 bytes per binding.
        self._by_mn: dict[bytes, BindingCacheEntry | list[BindingCacheEntry]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def mobile_nodes(self) -> int:
        return len(self._by_mn)

    def add(self, bce: BindingCacheEntry) -> None:
        for prefix in bce.prefixes:
            self._by_prefix[prefix] = bce
        key = bce.link_key
        if key is not None:
            self._by_link[key] = bce
        entries = self._by_mn.get(bce.mn_id)
        if entries is None:
            self._by_mn[bce.mn_id] = bce
        elif isinstance(entries, list):
            entries.append(bce)
        else:
            self._by_mn[bce.mn_id] = [entries, bce]
        self._count += 1

    def remove(self, bce: BindingCacheEntry) -> None:
        for prefix in bce.prefixes:
            if self._by_prefix.get(prefix) is bce:
                del self._by_prefix[prefix]
        key = bce.link_key
        if key is not None and self._by_link.get(key) is bce:
            del self._by_link[key]
        entries = self._by_mn.get(bce.mn_id)
        if entries is bce:
            del self._by_mn[bce.mn_id]
            self._count -= 1
        elif isinstance(entries, list) and any(e is bce for e in entries):
            rest = [e for e in entries if e is not bce]
            self._by_mn[bce.mn_id] = rest[0] if len(rest) == 1 else rest
            self._count -= 1

    def relink(self, bce: BindingCacheEntry, att: int, ll_id: bytes | None) -> None:
        """Change the interface key of an entry (a handoff to another interface)."""
        key = bce.link_key
        if key is not None and self._by_link.get(key) is bce:
            del self._by_link[key]
        bce.access_technology_type = att
        bce.mn_link_layer_id = ll_id
        key = bce.link_key
        if key is not None:
            self._by_link[key] = bce

    def by_prefix(self, prefix: Prefix) -> BindingCacheEntry | None:
        return self._by_prefix.get(prefix)

    def by_link(self, mn_id: bytes, att: int, ll_id: bytes) -> BindingCacheEntry | None:
        return self._by_link.get((mn_id, att, ll_id))

    def by_mn(self, mn_id: bytes) -> list[BindingCacheEntry]:
        entries = self._by_mn.get(mn_id)
        if entries is None:
            return []
        return entries if isinstance(entries, list) else [entries]

    def __iter__(self):
        for entries in self._by_mn.values():
            if isinstance(entries, list):
                yield from entries
            else:
                yield entries
