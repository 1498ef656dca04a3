"""Token buckets (pmip6d/ratelimit.py) and the LMA limits built on them."""

from __future__ import annotations

import pytest
from conftest import MAG1, MAG2, ROGUE, make_lma
from test_lma import pbu

from pmip6d.actions import Notice, Send
from pmip6d.config import RateLimits
from pmip6d.ratelimit import KeyedLimiter, TokenBucket
from pmip6d.wire import BindingError, UnsupportedMessage


def test_bucket_allows_the_burst_then_the_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.allow(100.0) for _unused in range(4)] == [True, True, True, False]
    assert not bucket.allow(100.4)  # 0.8 tokens earned
    assert bucket.allow(100.5)  # 1.0
    assert not bucket.allow(100.5)
    assert [bucket.allow(200.0) for _unused in range(4)] == [True, True, True, False]


def test_bucket_never_saves_more_than_its_burst_and_time_never_runs_backwards():
    bucket = TokenBucket(rate=1000.0, burst=2, now=0.0)
    assert bucket.allow(50.0) and bucket.allow(50.0) and not bucket.allow(50.0)
    assert not bucket.allow(49.0)  # an earlier time earns nothing


def test_zero_rate_is_the_burst_once():
    bucket = TokenBucket(rate=0.0, burst=1)
    assert bucket.allow(0.0) and not bucket.allow(1e9)


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1), (1.0, 0)])
def test_bucket_refuses_nonsense(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_keyed_limiter_bounds_each_source_and_the_total():
    limiter = KeyedLimiter(rate=1.0, burst=2, global_rate=10.0, global_burst=3)
    assert [limiter.allow("a", 0.0) for _unused in range(3)] == [True, True, False]
    assert limiter.allow("b", 0.0)  # b's own burst; the total's third token
    assert not limiter.allow("c", 0.0)  # the total is spent
    assert limiter.allow("c", 0.1)  # one total token back after 0.1 s at 10/s


def test_keyed_limiter_memory_is_bounded():
    limiter = KeyedLimiter(rate=1.0, burst=1, global_rate=1e9, global_burst=1e9, max_keys=100)
    for i in range(10_000):
        limiter.allow(i, 0.0)
    assert len(limiter._buckets) == 100


def limited_lma(clock, **limits):
    return make_lma(clock, rate_limits=RateLimits(**limits))


def junk() -> UnsupportedMessage:
    return UnsupportedMessage(mh_type=200, body=b"")


def binding_errors(actions) -> int:
    return sum(isinstance(a, Send) and isinstance(a.message, BindingError) for a in actions)


def test_binding_errors_are_limited_per_source_and_in_total(clock):
    lma = limited_lma(
        clock,
        binding_errors_per_source=1.0,
        binding_error_burst=5,
        binding_errors_total=8.0,
        binding_error_total_burst=8,
    )
    sent = sum(binding_errors(lma.handle(ROGUE, junk())) for _unused in range(1000))
    assert sent == 5
    assert lma.counters["binding_error_sent"] == 5
    assert lma.counters["binding_error_suppressed"] == 995
    # Another source has its own burst, under what is left of the total (3).
    assert sum(binding_errors(lma.handle(MAG2, junk())) for _unused in range(10)) == 3
    clock.advance(1.0)
    assert binding_errors(lma.handle(ROGUE, junk())) == 1
    assert binding_errors(lma.handle(ROGUE, junk())) == 0


def rejected(lma, clock, n):
    """``n`` PBUs from a MAG this LMA does not accept: n rejects."""
    notices = []
    for _unused in range(n):
        notices += [a for a in lma.handle_pbu(ROGUE, pbu(clock)) if isinstance(a, Notice)]
    return notices


def test_rejects_are_logged_up_to_the_limit_then_summarized(clock):
    lma = limited_lma(clock, reject_log_lines=3, reject_log_interval=60.0)
    assert len(rejected(lma, clock, 50)) == 3
    assert lma.counters["reject_log_suppressed"] == 47
    assert lma.counters["rejected.MAG_NOT_AUTHORIZED_FOR_PROXY_REG"] == 50  # all counted
    lma.handle_pbu(MAG1, pbu(clock, mn=b"elsewhere@lab.example"))  # 153
    assert lma.next_deadline() == pytest.approx(clock.monotonic() + 60.0)
    clock.advance(60.0)
    [summary] = [a for a in lma.on_timer() if isinstance(a, Notice)]
    assert summary.text == (
        "51 PBUs rejected in the last 60 s: 154 x50, 153 x1 (48 not logged one by one)"
    )
    # A new interval starts with room for lines again, and a quiet one says nothing.
    assert len(rejected(lma, clock, 1)) == 1
    clock.advance(60.0)
    assert [a.text for a in lma.on_timer() if isinstance(a, Notice)] == [
        "1 PBUs rejected in the last 60 s: 154 x1"
    ]
    clock.advance(600.0)
    assert lma.on_timer() == [] and lma.next_deadline() is None
