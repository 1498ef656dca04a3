"""The LMA's inlined admission test (``_admissible``) against its table (``ADMISSION_CHECKS``).

The table is the specification (RFC 5213 §5.3.1, in order, with the status of
each failure); the inlined conjunction is what a PBU that passes meets on the
hot path. For every combination of what the checks look at, both must agree.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from conftest import MAG1, MAG2, ROGUE, make_lma

from pmip6d.clock import ManualClock
from pmip6d.lma.machine import ADMISSION_CHECKS, _Request
from pmip6d.wire import timestamp as ts
from pmip6d.wire.constants import BU_FLAG_A, BU_FLAG_P
from pmip6d.wire.messages import ProxyBindingUpdate
from pmip6d.wire.prefix import ZERO_PREFIX

MN_IDS = [
    None,
    b"mn1@lab.example",  # served here
    b"off@lab.example",  # proxy mobility disabled
    b"elsewhere@lab.example",  # another LMA's
    b"only2@lab.example",  # only at mag2
    b"stranger@lab.example",  # not listed
]


@pytest.mark.parametrize("replay_protection", ["timestamp", "sequence"])
@pytest.mark.parametrize("serve_unlisted", [False, True])
def test_inlined_admission_agrees_with_the_table(replay_protection, serve_unlisted):
    # Every combination (not a random sample: a few of them, e.g. a listed MN at a
    # MAG its profile excludes, are needles a sampler rarely finds).
    clock = ManualClock()
    lma = make_lma(clock, replay_protection=replay_protection)
    if serve_unlisted:
        lma.policy = dataclasses.replace(lma.policy, serve_unlisted=True)
    now = clock.time()
    verdicts = set()
    for flags, mn_id, src, skew, received_at, prefixes, hi, att in itertools.product(
        [BU_FLAG_A | BU_FLAG_P, BU_FLAG_A],
        MN_IDS,
        [MAG1, MAG2, ROGUE, "2001:db8::77"],
        [None, 0.0, -0.2, 5.0],
        [None, 3.0],
        [[], [ZERO_PREFIX]],
        [None, 1],
        [None, 4],
    ):
        arrival = None if received_at is None else now + received_at
        stamp = None if skew is None else ts.from_unix(now + skew)
        pbu = ProxyBindingUpdate(
            1, 100, flags, mn_id, home_network_prefixes=list(prefixes), handoff_indicator=hi,
            access_technology_type=att, timestamp=stamp,
        )  # fmt: skip
        profile = lma.policy.profile(mn_id) if mn_id is not None else None
        request = _Request(src, pbu, profile, arrival)
        table = all(holds(lma, request) for _what, holds, _status in ADMISSION_CHECKS)
        assert lma._admissible(request) == table, request
        verdicts.add(table)
    assert verdicts == {True, False}


def test_both_outcomes_occur():
    """The property above compares both verdicts, not only rejections."""
    clock = ManualClock()
    lma = make_lma(clock)
    pbu = ProxyBindingUpdate(
        1, 100, mn_id=b"mn1@lab.example", home_network_prefixes=[ZERO_PREFIX],
        handoff_indicator=1, access_technology_type=4, timestamp=ts.from_unix(clock.time()),
    )  # fmt: skip
    ok = _Request(MAG1, pbu, lma.policy.profile(pbu.mn_id))
    assert lma._admissible(ok)
    assert not lma._admissible(_Request(ROGUE, pbu, ok.profile))
