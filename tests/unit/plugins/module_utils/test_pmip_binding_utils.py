# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Expectations, verdicts, messages and the wait loop (pure; clock and sleep injected)."""

from __future__ import annotations

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_binding import (
    BindingSource,
    Expectation,
    describe,
    evaluate,
    filter_rows,
    normalize_address,
    normalize_mac,
    normalize_prefix,
    wait_for,
)
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control import (
    AgentCommandError,
    AgentUnreachable,
)

MAG1 = "2001:db8:ffff::11"
MAG2 = "2001:db8:ffff::12"
LMA = "2001:db8:ffff::1"


def test_normalize_mac_spellings():
    for text in ("02:00:5E:00:53:01", "02-00-5e-00-53-01", "0200.5e00.5301", "02005e005301"):
        assert normalize_mac(text) == "02:00:5e:00:53:01"
    for bad in ("02:00:5e:00:53", "zz:00:5e:00:53:01", "", 20000):
        with pytest.raises(ValueError):
            normalize_mac(bad)


def test_normalize_address_and_prefix():
    assert normalize_address("2001:0db8:ffff:0::0012") == MAG2
    assert normalize_prefix("2001:db8:100:0::/64") == "2001:db8:100::/64"
    with pytest.raises(ValueError, match="not an IPv6 address"):
        normalize_address("10.0.0.1")
    with pytest.raises(ValueError, match="has host bits set"):
        normalize_prefix("2001:db8:100::1/64")


def test_filter_rows_by_id_and_mac(rows):
    table = [rows.lma(), rows.lma(mn_id="mn2@x", mn_link_layer_id="02:00:00:00:02:02")]
    assert filter_rows(table, mn_id="mn2@x") == [table[1]]
    assert filter_rows(table, mac="02:00:00:00:02:02") == [table[1]]
    assert filter_rows(table, mn_id="mn1@lab.pmipv6.example", mac="02:00:00:00:02:02") == []
    assert filter_rows([rows.lma(mn_link_layer_id=None)], mac="02:00:00:00:01:01") == []
    assert filter_rows([rows.mag()], mac="02:00:00:00:01:01") == [rows.mag()]


# --------------------------------------------------------------------------- LMA


def test_lma_present_and_matching(rows):
    exp = Expectation(
        "lma", hnp="2001:db8:100::/64", serving_mag=MAG1, tunnel=MAG1, min_lifetime=60
    )
    verdict = evaluate([rows.lma()], exp)
    assert verdict.ok
    assert verdict.binding == rows.lma()
    assert verdict.expected == {
        "state": "active",
        "serving_mag": MAG1,
        "hnp": "2001:db8:100::/64",
        "tunnel": MAG1,
        "min_lifetime": 60,
    }
    assert verdict.actual == {
        "state": "active",
        "serving_mag": MAG1,
        "hnp": ["2001:db8:100::/64"],
        "tunnel": MAG1,
        "min_lifetime": 599.5,
    }


def test_lma_every_mismatch_is_named(rows):
    exp = Expectation("lma", hnp="2001:db8:100:1::/64", serving_mag=MAG2, min_lifetime=600)
    verdict = evaluate([rows.lma()], exp)
    assert not verdict.ok
    assert [m[0] for m in verdict.mismatches] == ["serving_mag", "hnp", "min_lifetime"]
    text = describe(verdict, "mn1@lab.pmipv6.example", "LMA /run/pmip6d/lma.sock")
    assert text == (
        "binding of mn1@lab.pmipv6.example at LMA /run/pmip6d/lma.sock does not match: "
        f"serving_mag: expected {MAG2}, actual {MAG1}; "
        "hnp: expected 2001:db8:100:1::/64, actual [2001:db8:100::/64]; "
        "min_lifetime: expected at least 600s left, actual 599.5"
    )


def test_lma_addresses_compare_by_value(rows):
    exp = Expectation("lma", serving_mag="2001:0db8:ffff:0:0:0:0:11")
    assert evaluate([rows.lma()], exp).ok


def test_lma_no_binding(rows):
    verdict = evaluate([], Expectation("lma", hnp="2001:db8:100::/64"))
    assert not verdict.ok
    assert verdict.binding is None
    assert verdict.actual == {"state": "absent", "hnp": None}
    text = describe(verdict, "mn1", "LMA s", elapsed=2.0)
    assert text == (
        "binding of mn1 at LMA s does not match after 2.0s: "
        "state: expected active, actual absent (no binding); "
        "hnp: expected 2001:db8:100::/64, actual none"
    )


def test_lma_deregistering_is_not_present_but_is_absent(rows):
    row = rows.lma(state="deregistering", lifetime_remaining=0.0)
    assert not evaluate([row], Expectation("lma")).ok
    verdict = evaluate([row], Expectation("lma", state="absent"))
    assert verdict.ok
    assert verdict.actual == {"state": "deregistering"}


def test_lma_absent(rows):
    assert evaluate([], Expectation("lma", state="absent")).ok
    verdict = evaluate([rows.lma()], Expectation("lma", state="absent", hnp="2001:db8:1::/64"))
    assert not verdict.ok
    assert verdict.expected == {"state": "absent"}  # only absence is checked
    assert describe(verdict, "mn1", "LMA s") == (
        "binding of mn1 at LMA s does not match: state: expected absent, actual active"
    )


def test_lma_several_rows_one_matches(rows):
    old = rows.lma(proxy_coa=MAG1, hnps=["2001:db8:100::/64"])
    new = rows.lma(proxy_coa=MAG2, hnps=["2001:db8:100:1::/64"])
    verdict = evaluate([old, new], Expectation("lma", serving_mag=MAG2))
    assert verdict.ok
    assert verdict.binding is new


def test_lma_several_rows_closest_is_reported(rows):
    a = rows.lma(proxy_coa=MAG1, hnps=["2001:db8:1::/64"])
    b = rows.lma(proxy_coa=MAG2, hnps=["2001:db8:2::/64"])
    verdict = evaluate([a, b], Expectation("lma", serving_mag=MAG2, hnp="2001:db8:3::/64"))
    assert not verdict.ok
    assert verdict.binding is b
    assert [m[0] for m in verdict.mismatches] == ["hnp"]


def test_min_lifetime_null_is_a_mismatch(rows):
    verdict = evaluate([rows.lma(lifetime_remaining=None)], Expectation("lma", min_lifetime=1))
    assert [m[0] for m in verdict.mismatches] == ["min_lifetime"]


# --------------------------------------------------------------------------- MAG


def test_mag_tunnel_is_the_lma_address(rows):
    assert evaluate([rows.mag()], Expectation("mag", tunnel=LMA)).ok
    verdict = evaluate([rows.mag()], Expectation("mag", tunnel="2001:db8:ffff::2"))
    assert verdict.mismatches == [("tunnel", "2001:db8:ffff::2", LMA)]


def test_mag_registering_is_neither_present_nor_absent(rows):
    row = rows.mag(state="registering")
    assert not evaluate([row], Expectation("mag")).ok
    verdict = evaluate([row], Expectation("mag", state="absent"))
    assert verdict.mismatches == [("state", "absent", "registering")]


def test_mag_serving_mag_here_means_present(rows):
    exp = Expectation("mag", serving_mag=MAG1, own_address=MAG1)
    assert exp.state == "present"
    assert evaluate([rows.mag()], exp).ok
    verdict = evaluate([], exp)
    assert verdict.mismatches == [("state", "active", "absent"), ("serving_mag", MAG1, None)]


def test_mag_serving_mag_elsewhere_means_absent_here(rows):
    exp = Expectation("mag", serving_mag=MAG2, own_address=MAG1, hnp="2001:db8:100::/64")
    assert exp.state == "absent"
    assert evaluate([], exp).ok
    assert evaluate([rows.mag(state="deregistering")], exp).ok
    verdict = evaluate([rows.mag()], exp)
    assert not verdict.ok
    assert verdict.expected == {"state": "absent", "serving_mag": MAG2}
    assert verdict.actual == {"state": "active", "serving_mag": MAG1}
    assert describe(verdict, "02:00:00:00:01:01", "MAG s") == (
        "binding of 02:00:00:00:01:01 at MAG s does not match: "
        f"state: expected absent, actual active; serving_mag: expected {MAG2}, actual {MAG1}"
    )


def test_mag_state_must_not_contradict_serving_mag():
    with pytest.raises(ValueError, match="state=absent contradicts serving_mag"):
        Expectation("mag", state="absent", serving_mag=MAG1, own_address=MAG1)
    with pytest.raises(ValueError, match="state=present contradicts serving_mag"):
        Expectation("mag", state="present", serving_mag=MAG2, own_address=MAG1)
    with pytest.raises(ValueError, match="did not report its own address"):
        Expectation("mag", serving_mag=MAG2)


def test_bad_expectations():
    with pytest.raises(ValueError, match="role must be lma or mag"):
        Expectation("ap")
    with pytest.raises(ValueError, match="not an IPv6 prefix"):
        Expectation("lma", hnp="2001:db8::/200")
    with pytest.raises(ValueError, match="must not be negative"):
        Expectation("lma", min_lifetime=-1)


# --------------------------------------------------------------------------- waiting


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Verdictish:
    def __init__(self, ok):
        self.ok = ok


def test_wait_succeeds_when_the_binding_appears():
    t = FakeTime()
    answers = iter([False, False, True])
    verdict, error, elapsed = wait_for(
        lambda: Verdictish(next(answers)), 10, 0.5, clock=t.clock, sleep=t.sleep
    )
    assert verdict.ok and error is None
    assert elapsed == 1.0
    assert t.sleeps == [0.5, 0.5]


def test_wait_gives_up_at_the_deadline():
    t = FakeTime()
    polls = []
    verdict, error, elapsed = wait_for(
        lambda: polls.append(1) or Verdictish(False), 2, 0.75, clock=t.clock, sleep=t.sleep
    )
    assert not verdict.ok and error is None
    assert elapsed == 2.0
    assert t.sleeps == [0.75, 0.75, 0.5]  # the last sleep ends at the deadline
    assert len(polls) == 4


def test_timeout_zero_looks_once():
    t = FakeTime()
    polls = []
    verdict, _error, elapsed = wait_for(
        lambda: polls.append(1) or Verdictish(False), 0, 0.5, clock=t.clock, sleep=t.sleep
    )
    assert not verdict.ok and len(polls) == 1 and elapsed == 0 and t.sleeps == []


def test_transient_errors_are_retried_then_reported():
    t = FakeTime()
    down = AgentUnreachable("no control socket at /x", path="/x", rc=2)
    calls = []

    def poll():
        calls.append(1)
        if len(calls) < 3:
            raise down
        return Verdictish(True)

    verdict, error, _elapsed = wait_for(poll, 5, 1, clock=t.clock, sleep=t.sleep)
    assert verdict.ok and error is None

    def never():
        raise down

    verdict, error, elapsed = wait_for(never, 3, 1, clock=t.clock, sleep=t.sleep)
    assert verdict is None and error is down and elapsed == 3.0


def test_other_errors_end_the_wait_at_once():
    t = FakeTime()
    refused = AgentCommandError("agent refused", path="/x")

    def poll():
        raise refused

    with pytest.raises(AgentCommandError):
        wait_for(poll, 30, 1, clock=t.clock, sleep=t.sleep)
    assert t.sleeps == []


def test_source_filters_on_the_agent_where_it_can(fake_agent, rows):
    lma = fake_agent("lma")
    lma.rows = [rows.lma(), rows.lma(mn_id="mn2@x", mn_link_layer_id="02:00:00:00:02:02")]
    source = BindingSource("lma", lma.path)
    assert [r["mn_id"] for r in source.bindings(mn_id="mn2@x")] == ["mn2@x"]
    assert lma.requests[-1]["args"] == {"mn_id": "mn2@x"}
    assert [r["mn_id"] for r in source.bindings(mac="02:00:00:00:02:02")] == ["mn2@x"]
    assert lma.requests[-1]["args"] == {}  # the LMA cannot filter by MAC: done here
    assert len(source.bindings(limit=1)) == 1
    assert lma.requests[-1]["args"] == {"limit": 1}

    mag = fake_agent("mag")
    mag.rows = [rows.mag(), rows.mag(mac="02:00:00:00:02:02", mn_id="mn2@x")]
    source = BindingSource(None, mag.path)
    assert [r["mac"] for r in source.bindings(mac="02:00:00:00:02:02")] == ["02:00:00:00:02:02"]
    assert mag.requests[-1]["args"] == {"mac": "02:00:00:00:02:02"}
    assert source.role == "mag" and source.own_address == MAG1
    assert [r["mn_id"] for r in source.bindings(mn_id="mn2@x", limit=1)] == ["mn2@x"]
    assert mag.requests[-1]["args"] == {}
