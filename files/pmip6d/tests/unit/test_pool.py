"""The HNP pool: O(1) allocation, sticky prefixes, and claims that allocation respects."""

from __future__ import annotations

from pmip6d.lma import PrefixPool
from pmip6d.wire import Prefix

BASE = Prefix.parse("2001:db8:100::/60")


def test_allocation_never_hands_out_a_claimed_prefix():
    pool = PrefixPool(BASE, 64)
    claimed = Prefix.parse("2001:db8:100::/64")
    assert pool.claim(claimed, b"restored")
    given = {pool.allocate(f"mn{i}".encode()) for i in range(15)}
    assert claimed not in given and None not in given and len(given) == 15
    assert pool.allocate(b"one-too-many") is None
    assert pool.owner(claimed) == b"restored"


def test_returning_mn_gets_its_prefix_back_unless_taken():
    pool = PrefixPool(BASE, 64)
    first = pool.allocate(b"a")
    pool.release(first)
    assert pool.allocate(b"a") == first
    pool.release(first)
    other = pool.allocate(b"b")
    assert other != first  # fresh space is used before the released prefix
    assert pool.allocate(b"a") == first


def test_claim_rules():
    pool = PrefixPool(BASE, 64)
    p = Prefix.parse("2001:db8:100:3::/64")
    assert pool.claim(p, b"a") and pool.claim(p, b"a")
    assert not pool.claim(p, b"b")
    assert not pool.claim(Prefix.parse("2001:db8:200::/64"), b"a")
    assert not pool.claim(Prefix.parse("2001:db8:100::/56"), b"a")
    assert p in pool and Prefix.parse("2001:db8:200::/64") not in pool
