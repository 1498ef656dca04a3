"""Reject paths that used to accept (issue 12): 155 for a prefix never given, 153 for an
MN of another LMA even when unlisted MNs are served."""

from __future__ import annotations

from conftest import LMA, MAC2, MAG1, MAG2, MN1, MN2, make_lma, make_policy
from test_lma import register, reject_status

from pmip6d.lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from pmip6d.wire import HandoffIndicator, Prefix, Status

FREE = Prefix.parse("2001:db8:100:42::/64")


def past_the_reclaim_window(lma, clock):
    clock.advance(lma.settings.max_binding_lifetime + 1)


def test_free_pool_prefix_never_given_is_refused(lma, clock):
    past_the_reclaim_window(lma, clock)
    pba = reject_status(lma, clock, hnps=[FREE])
    assert pba.status == Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    assert len(lma.cache) == 0 and lma.pool.owner(FREE) is None
    assert lma.counters["rejected.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX"] == 1


def test_free_pool_prefix_is_refused_once_saved_state_was_restored(lma, clock):
    lma.restore({"bindings": []})  # the LMA knows it gave nothing
    assert reject_status(lma, clock, hnps=[FREE]).status == (
        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    )


def test_a_fresh_lma_takes_back_free_pool_prefixes_for_one_binding_lifetime(lma, clock):
    # Started without saved state: the MAGs' re-registrations are the only record of
    # what it gave (the heartbeat restart test relies on it).
    clock.advance(lma.settings.max_binding_lifetime - 1)
    assert register(lma, clock, hnps=[FREE]).home_network_prefixes == [FREE]


def test_refresh_and_handover_naming_the_held_prefix_accept(lma, clock):
    past_the_reclaim_window(lma, clock)
    hnp = register(lma, clock, seq=1).home_network_prefixes
    refresh = register(lma, clock, seq=2, hnps=hnp, hi=HandoffIndicator.NOT_CHANGED)
    assert refresh.home_network_prefixes == hnp
    handover = register(lma, clock, src=MAG2, seq=3, hnps=hnp, hi=HandoffIndicator.SAME_INTERFACE)
    assert handover.home_network_prefixes == hnp
    assert lma.counters["handoffs"] == 1


def test_the_prefix_an_mn_last_had_is_given_back(lma, clock):
    past_the_reclaim_window(lma, clock)
    hnp = register(lma, clock, seq=1).home_network_prefixes
    register(lma, clock, seq=2, hnps=hnp, life=0)  # de-registered
    clock.advance(10)  # past MinDelayBeforeBCEDelete: the binding and its prefix go
    lma.on_timer()
    assert len(lma.cache) == 0 and lma.pool.owner(hnp[0]) is None
    assert register(lma, clock, seq=3, hnps=hnp).home_network_prefixes == hnp


def test_another_mns_last_prefix_is_refused(lma, clock):
    past_the_reclaim_window(lma, clock)
    theirs = register(lma, clock, mn=MN2, ll=MAC2, seq=1).home_network_prefixes
    register(lma, clock, mn=MN2, ll=MAC2, seq=2, hnps=theirs, life=0)
    clock.advance(10)
    lma.on_timer()
    pba = reject_status(lma, clock, seq=3, hnps=theirs)
    assert pba.status == Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX


def test_restored_binding_reregisters(clock):
    first = make_lma(clock)
    hnp = register(first, clock, seq=1).home_network_prefixes
    saved = first.snapshot()
    again = make_lma(clock)
    again.restore(saved)
    pba = register(again, clock, seq=2, hnps=hnp, hi=HandoffIndicator.NOT_CHANGED)
    assert pba.home_network_prefixes == hnp


def unlisted_lma(clock) -> LocalMobilityAnchor:
    policy = make_policy(
        lmas=[
            {"name": "lma", "address": LMA, "accept_mags": ["mag1"], "serve_unlisted": True},
            {"name": "other", "address": "2001:db8:ffff::2", "accept_mags": ["mag1"]},
        ]
    )
    return LocalMobilityAnchor(
        LmaSettings(address=LMA),
        policy.lma_view("lma"),
        clock,
        PrefixPool(Prefix.parse("2001:db8:100::/48"), 64),
    )


def test_serving_unlisted_mns_does_not_serve_another_lmas_mn(clock):
    lma = unlisted_lma(clock)
    pba = reject_status(lma, clock, mn=b"elsewhere@lab.example")
    assert pba.status == Status.NOT_LMA_FOR_THIS_MOBILE_NODE
    assert len(lma.cache) == 0
    # Unlisted and listed-here MNs are still served.
    register(lma, clock, mn=b"stranger@lab.example")
    register(lma, clock, mn=MN1, seq=2)


def test_lma_view_profiles_stay_this_lmas_own():
    view = make_policy().lma_view("lma")
    assert b"elsewhere@lab.example" not in view.profiles
    assert view.profile(b"elsewhere@lab.example").lma != view.address
    assert MN1 in view.profiles and MAG1 in view.accepted_mags
