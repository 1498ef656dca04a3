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


def test_what_the_pool_remembers_for_returning_mns_is_bounded():
    # serve_unlisted: a stream of made-up MN-IDs, each registering and leaving.
    pool = PrefixPool(Prefix.parse("2001:db8::/32"), 64, sticky=100)
    for i in range(1000):
        pool.release(pool.allocate(b"made-up-%d" % i))
    assert len(pool._last) == 100
    # The most recent ones are still sticky; the oldest were forgotten.
    assert pool.last(b"made-up-999") is not None and pool.last(b"made-up-0") is None
    back = pool.last(b"made-up-950")
    assert pool.allocate(b"made-up-950") == back
    assert len(pool._last) == 100  # coming back moves it to the young end, not a new entry
    assert pool.last(b"made-up-900") is not None
