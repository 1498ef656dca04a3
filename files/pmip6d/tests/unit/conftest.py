"""Shared builders for the state-machine tests: a small domain, machines, clock."""

from __future__ import annotations

import pytest
from hypothesis import settings

from pmip6d.clock import ManualClock
from pmip6d.config import PolicyFile
from pmip6d.heartbeat import HeartbeatSettings
from pmip6d.lma import LmaSettings, LocalMobilityAnchor, PrefixPool
from pmip6d.mag import MagSettings, MobileAccessGateway
from pmip6d.policy import Policy
from pmip6d.wire.prefix import Prefix

# No per-example deadline: these property tests check behaviour (never raises,
# round trips), not speed, and CI machines run them beside containers and VMs,
# where one slow example would fail a correct test.
settings.register_profile("pmip6d", deadline=None)
settings.load_profile("pmip6d")

LMA = "2001:db8:ffff::1"
OTHER_LMA = "2001:db8:ffff::2"
MAG1 = "2001:db8:ffff::11"
MAG2 = "2001:db8:ffff::12"
ROGUE = "2001:db8:ffff::99"
MAC1 = bytes.fromhex("020000000101")
MAC2 = bytes.fromhex("020000000202")
MN1 = b"mn1@lab.example"
MN2 = b"mn2@lab.example"
FIXED = Prefix.parse("2001:db8:200:1::/64")
POOL = Prefix.parse("2001:db8:100::/48")

POLICY = {
    "domain": "lab.example",
    "mags": [
        {"name": "mag1", "address": MAG1},
        {"name": "mag2", "address": MAG2},
        {"name": "rogue", "address": ROGUE},
    ],
    "lmas": [
        {"name": "lma", "address": LMA, "accept_mags": ["mag1", "mag2"]},
        {"name": "other", "address": OTHER_LMA, "accept_mags": ["mag1"]},
    ],
    "mobile_nodes": [
        {"id": "mn1@lab.example", "macs": ["02:00:00:00:01:01"], "lma": "lma"},
        {"id": "mn2@lab.example", "macs": ["02:00:00:00:02:02"], "lma": "lma"},
        {
            "id": "fixed@lab.example",
            "macs": ["02:00:00:00:03:03"],
            "lma": "lma",
            "hnps": ["2001:db8:200:1::/64"],
        },
        {"id": "off@lab.example", "macs": ["02:00:00:00:04:04"], "lma": "lma", "enabled": False},
        {"id": "elsewhere@lab.example", "macs": ["02:00:00:00:05:05"], "lma": "other"},
        {"id": "only2@lab.example", "macs": ["02:00:00:00:06:06"], "lma": "lma", "mags": ["mag2"]},
    ],
}


def make_policy(**changes) -> Policy:
    doc = dict(POLICY)
    doc.update(changes)
    return Policy(PolicyFile.model_validate(doc), "policy.yml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


NO_HEARTBEAT = HeartbeatSettings(interval=0)
"""The machine builders' default: tests that count every action a timer returns are not
about RFC 5847 (test_heartbeat.py is, and passes its own settings)."""


def make_lma(clock: ManualClock, pool_size_bits: int = 16, **settings) -> LocalMobilityAnchor:
    settings.setdefault("heartbeat", NO_HEARTBEAT)
    policy = make_policy()
    base = Prefix.parse(f"2001:db8:100::/{64 - pool_size_bits}")
    return LocalMobilityAnchor(
        LmaSettings(address=LMA, **settings),
        policy.lma_view("lma"),
        clock,
        PrefixPool(base, 64) if pool_size_bits >= 0 else None,
    )


def make_mag(
    clock: ManualClock, address: str = MAG1, name: str = "mag1", **settings
) -> MobileAccessGateway:
    settings.setdefault("heartbeat", NO_HEARTBEAT)
    return MobileAccessGateway(
        MagSettings(address=address, **settings), make_policy().mag_view(name), clock
    )


@pytest.fixture
def lma(clock) -> LocalMobilityAnchor:
    return make_lma(clock)


@pytest.fixture
def mag1(clock) -> MobileAccessGateway:
    return make_mag(clock)


@pytest.fixture
def mag2(clock) -> MobileAccessGateway:
    return make_mag(
        clock,
        MAG2,
        "mag2",
    )
