"""Home network prefixes handed out from a configured range.

Allocation and release are O(1). A mobile node that comes back gets the
prefix it had before when nobody took it in between ("sticky"), so an MN that
leaves the domain and returns keeps its address; fresh prefixes are taken
from never-used space first to make that likely.

What is remembered for that is bounded: the ``sticky`` MNs given a prefix most
recently. Without the bound, an LMA with ``serve_unlisted`` would keep every
MN-ID it ever served, so a stream of made-up MN-IDs would grow it without end.
"""

from __future__ import annotations

from ..wire.prefix import Prefix


class PrefixPool:
    STICKY = 1 << 20
    """Default bound of the remembered MNs (≈ 100 bytes each)."""

    def __init__(self, base: Prefix, length: int, sticky: int = STICKY) -> None:
        if length < base.length:
            raise ValueError(f"prefix length {length} is shorter than the pool {base}")
        self.base = base
        self.length = length
        self._base_int = int.from_bytes(base.address, "big")
        self._shift = 128 - length
        self.size = 1 << (length - base.length)
        self._next_fresh = 0
        self._free: list[int] = []
        self._owner: dict[int, bytes] = {}
        self._last: dict[bytes, int] = {}
        """MN-ID → the index it last had; oldest first (dict order), at most ``sticky``."""
        self._sticky = sticky

    def _prefix(self, index: int) -> Prefix:
        return Prefix((self._base_int | (index << self._shift)).to_bytes(16, "big"), self.length)

    def _index(self, prefix: Prefix) -> int | None:
        if prefix.length != self.length:
            return None
        value = int.from_bytes(prefix.address, "big")
        index = (value - self._base_int) >> self._shift
        if 0 <= index < self.size and self._prefix(index).address == prefix.address:
            return index
        return None

    def __contains__(self, prefix: Prefix) -> bool:
        return self._index(prefix) is not None

    @property
    def in_use(self) -> int:
        return len(self._owner)

    def allocate(self, mn_id: bytes) -> Prefix | None:
        """A prefix for ``mn_id`` (its previous one if still free), or None when exhausted."""
        index = self._last.get(mn_id)
        if index is None or index in self._owner:
            index = self._take_free()
            if index is None:
                return None
        self._owner[index] = mn_id
        self._remember(mn_id, index)
        return self._prefix(index)

    def claim(self, prefix: Prefix, mn_id: bytes) -> bool:
        """Give ``mn_id`` the pool prefix it asks for, if free (e.g. after an LMA restart)."""
        index = self._index(prefix)
        if index is None:
            return False
        owner = self._owner.get(index)
        if owner is not None:
            return owner == mn_id
        self._owner[index] = mn_id
        self._remember(mn_id, index)
        return True

    def owner(self, prefix: Prefix) -> bytes | None:
        index = self._index(prefix)
        return None if index is None else self._owner.get(index)

    def last(self, mn_id: bytes) -> Prefix | None:
        """The prefix this pool last gave ``mn_id`` (held or released since), if any."""
        index = self._last.get(mn_id)
        return None if index is None else self._prefix(index)

    def release(self, prefix: Prefix) -> None:
        index = self._index(prefix)
        if index is not None and self._owner.pop(index, None) is not None:
            self._free.append(index)

    def _remember(self, mn_id: bytes, index: int) -> None:
        last = self._last
        if last.pop(mn_id, None) is None and len(last) >= self._sticky:
            # Forget the MN that was given a prefix longest ago (dict order): it
            # will get a fresh prefix if it ever comes back.
            del last[next(iter(last))]
        last[mn_id] = index

    def _take_free(self) -> int | None:
        # Fresh space first; claim() may have taken indexes in it already (a
        # restored binding, a MAG asking for a known prefix): skip those.
        while self._next_fresh < self.size:
            index = self._next_fresh
            self._next_fresh += 1
            if index not in self._owner:
                return index
        # The free list may hold indexes a returning MN re-took; skip those.
        while self._free:
            index = self._free.pop()
            if index not in self._owner:
                return index
        return None
