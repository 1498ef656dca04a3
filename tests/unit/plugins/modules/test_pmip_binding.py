# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_binding against a real unix-socket agent (conftest.FakeAgent), with real waiting."""

from __future__ import annotations

import errno
import os
import threading

import pytest
from ansible_collections.netlmm.pmipv6.plugins.modules import pmip_binding

MN1 = "mn1@lab.pmipv6.example"
MAC1 = "02:00:00:00:01:01"
MAG1 = "2001:db8:ffff::11"
MAG2 = "2001:db8:ffff::12"
LMA = "2001:db8:ffff::1"


def test_lma_present_as_expected(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(), rows.lma(mn_id="mn2@x", proxy_coa=MAG2)]
    result = run_module(
        pmip_binding,
        {
            "socket": agent.path,
            "role": "lma",
            "mn_id": MN1,
            "hnp": "2001:db8:100::/64",
            "serving_mag": MAG1,
            "tunnel": MAG1,
            "min_lifetime": 30,
        },
    )
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is False
    assert result["binding"] == rows.lma()
    assert result["expected"] == {
        "state": "active",
        "serving_mag": MAG1,
        "hnp": "2001:db8:100::/64",
        "tunnel": MAG1,
        "min_lifetime": 30.0,
    }
    assert result["actual"]["hnp"] == ["2001:db8:100::/64"]
    assert result["msg"] == f"binding of {MN1} at LMA {agent.path} is as expected"
    assert 0 <= result["elapsed"] < 1
    assert {"cmd": "bindings", "args": {"mn_id": MN1}} in agent.requests


def test_lma_mismatches_are_all_named(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(lifetime_remaining=12.5)]
    result = run_module(
        pmip_binding,
        {
            "socket": agent.path,
            "mn_id": MN1,
            "hnp": "2001:db8:100:7::/64",
            "serving_mag": MAG2,
            "min_lifetime": 60,
        },
    )
    assert result["failed"]
    assert result["msg"] == (
        f"binding of {MN1} at LMA {agent.path} does not match: "
        f"serving_mag: expected {MAG2}, actual {MAG1}; "
        "hnp: expected 2001:db8:100:7::/64, actual [2001:db8:100::/64]; "
        "min_lifetime: expected at least 60.0s left, actual 12.5"
    )
    assert result["expected"] == {
        "state": "active",
        "serving_mag": MAG2,
        "hnp": "2001:db8:100:7::/64",
        "min_lifetime": 60.0,
    }
    assert result["actual"] == {
        "state": "active",
        "serving_mag": MAG1,
        "hnp": ["2001:db8:100::/64"],
        "min_lifetime": 12.5,
    }
    assert result["mismatches"] == [
        {"field": "serving_mag", "expected": MAG2, "actual": MAG1},
        {"field": "hnp", "expected": "2001:db8:100:7::/64", "actual": ["2001:db8:100::/64"]},
        {"field": "min_lifetime", "expected": 60.0, "actual": 12.5},
    ]
    assert result["binding"]["mn_id"] == MN1


def test_lma_present_but_there_is_none(fake_agent, run_module):
    agent = fake_agent("lma")
    result = run_module(pmip_binding, {"socket": agent.path, "mn_id": MN1})
    assert result["failed"]
    assert result["msg"] == (
        f"binding of {MN1} at LMA {agent.path} does not match: "
        "state: expected active, actual absent (no binding)"
    )
    assert result["binding"] is None
    assert result["actual"] == {"state": "absent"}


def test_lma_absent(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(mn_id="mn2@x")]
    result = run_module(
        pmip_binding, {"socket": agent.path, "mn_id": MN1, "state": "absent", "revoke": False}
    )
    assert not result.get("failed"), result["msg"]
    assert result["binding"] is None
    agent.rows = [rows.lma()]
    result = run_module(
        pmip_binding, {"socket": agent.path, "mn_id": MN1, "state": "absent", "revoke": False}
    )
    assert result["failed"]
    assert result["msg"].endswith("does not match: state: expected absent, actual active")


def test_wait_until_the_binding_appears(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.later(0.6, [rows.lma(proxy_coa=MAG2)])
    result = run_module(
        pmip_binding,
        {"socket": agent.path, "mn_id": MN1, "serving_mag": MAG2, "timeout": 10, "interval": 0.1},
    )
    assert not result.get("failed"), result["msg"]
    assert 0.5 <= result["elapsed"] < 5
    assert result["binding"]["proxy_coa"] == MAG2
    polls = [r for r in agent.requests if r["cmd"] == "bindings"]
    assert len(polls) >= 3


def test_wait_through_a_handover(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(proxy_coa=MAG1)]
    agent.later(0.4, [rows.lma(proxy_coa=MAG1, state="deregistering")])
    agent.later(0.8, [rows.lma(proxy_coa=MAG2, handoffs=1)])
    result = run_module(
        pmip_binding,
        {"socket": agent.path, "mn_id": MN1, "serving_mag": MAG2, "timeout": 10, "interval": 0.1},
    )
    assert not result.get("failed"), result["msg"]
    assert result["binding"]["handoffs"] == 1
    assert result["elapsed"] >= 0.7


def test_wait_times_out_with_the_last_mismatch(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(proxy_coa=MAG1)]
    result = run_module(
        pmip_binding,
        {"socket": agent.path, "mn_id": MN1, "serving_mag": MAG2, "timeout": 0.5, "interval": 0.1},
    )
    assert result["failed"]
    assert 0.5 <= result["elapsed"] < 3
    assert result["msg"].startswith(f"binding of {MN1} at LMA {agent.path} does not match after ")
    assert result["msg"].endswith(f"serving_mag: expected {MAG2}, actual {MAG1}")


def test_absent_after_a_wait(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    agent.later(0.3, [rows.lma(state="deregistering")])
    agent.later(2.0, [])
    result = run_module(
        pmip_binding,
        {
            "socket": agent.path,
            "mn_id": MN1,
            "state": "absent",
            "revoke": False,
            "timeout": 5,
            "interval": 0.1,
        },
    )
    assert not result.get("failed"), result["msg"]
    # An entry in MinDelayBeforeBCEDelete (deregistering) already counts as absent.
    assert 0.25 <= result["elapsed"] < 2.0
    assert result["binding"]["state"] == "deregistering"
    assert result["actual"] == {"state": "deregistering"}


def test_mag_serving_here_and_elsewhere(fake_agent, rows, run_module):
    mag1 = fake_agent("mag", address=MAG1)
    mag2 = fake_agent("mag", address=MAG2)
    mag1.rows = [rows.mag(state="deregistering")]
    mag2.rows = [rows.mag()]
    args = {"role": "mag", "mac": "0200.0000.0101", "serving_mag": MAG2, "tunnel": LMA}
    result = run_module(pmip_binding, dict(args, socket=mag2.path))
    assert not result.get("failed"), result["msg"]
    assert result["expected"] == {"state": "active", "serving_mag": MAG2, "tunnel": LMA}
    result = run_module(pmip_binding, dict(args, socket=mag1.path))
    assert not result.get("failed"), result["msg"]
    assert result["expected"] == {"state": "absent", "serving_mag": MAG2}
    # Before the handover mag1 still served it:
    mag1.rows = [rows.mag()]
    result = run_module(pmip_binding, dict(args, socket=mag1.path))
    assert result["failed"]
    assert result["msg"] == (
        f"binding of {MAC1} at MAG {mag1.path} does not match: "
        f"state: expected absent, actual active; serving_mag: expected {MAG2}, actual {MAG1}"
    )


def test_mag_registering_is_not_yet_present(fake_agent, rows, run_module):
    agent = fake_agent("mag")
    agent.rows = [rows.mag(state="registering")]
    result = run_module(pmip_binding, {"socket": agent.path, "mac": MAC1})
    assert result["failed"]
    assert result["msg"].endswith("state: expected active, actual registering")


def test_mag_wrong_tunnel(fake_agent, rows, run_module):
    agent = fake_agent("mag")
    agent.rows = [rows.mag()]
    result = run_module(pmip_binding, {"socket": agent.path, "mac": MAC1, "tunnel": "2001:db8::9"})
    assert result["failed"]
    assert result["msg"].endswith(f"tunnel: expected 2001:db8::9, actual {LMA}")


def test_mag_state_contradicting_serving_mag(fake_agent, rows, run_module):
    agent = fake_agent("mag", address=MAG1)
    result = run_module(
        pmip_binding,
        {"socket": agent.path, "mac": MAC1, "serving_mag": MAG1, "state": "absent"},
    )
    assert result["failed"]
    assert result["msg"].startswith(f"state=absent contradicts serving_mag={MAG1}")


def test_missing_socket(socket_dir, run_module):
    path = os.path.join(socket_dir, "lma.sock")
    result = run_module(pmip_binding, {"socket": path, "role": "lma", "mn_id": MN1})
    assert result["failed"]
    assert (
        result["msg"] == f"no control socket at {path}: is the pmip6d agent running on this host?"
    )
    assert result["rc"] == errno.ENOENT


def test_missing_socket_after_waiting(socket_dir, run_module):
    path = os.path.join(socket_dir, "lma.sock")
    result = run_module(
        pmip_binding, {"socket": path, "role": "lma", "mn_id": MN1, "timeout": 0.4, "interval": 0.1}
    )
    assert result["failed"]
    assert result["msg"].startswith("after waiting ")
    assert result["msg"].endswith(
        f"no control socket at {path}: is the pmip6d agent running on this host?"
    )
    assert result["elapsed"] >= 0.4
    assert result["rc"] == errno.ENOENT


def test_agent_that_starts_late(fake_agent, rows, run_module):
    agent = fake_agent("lma", start=False)
    agent.rows = [rows.lma()]
    timer = threading.Timer(0.5, agent.start)
    timer.start()
    try:
        result = run_module(
            pmip_binding,
            {"socket": agent.path, "role": "lma", "mn_id": MN1, "timeout": 10, "interval": 0.1},
        )
    finally:
        timer.join()
    assert not result.get("failed"), result["msg"]
    assert result["elapsed"] >= 0.4


def test_agent_error_answer_fails_at_once(fake_agent, run_module):
    agent = fake_agent("lma")
    agent.fail_commands["bindings"] = "internal error: cache locked"
    result = run_module(
        pmip_binding, {"socket": agent.path, "mn_id": MN1, "timeout": 30, "interval": 0.1}
    )
    assert result["failed"]
    assert (
        result["msg"] == f"agent at {agent.path} refused 'bindings': internal error: cache locked"
    )
    assert result["rc"] == 1
    assert result["stderr"] == "internal error: cache locked"
    assert len([r for r in agent.requests if r["cmd"] == "bindings"]) == 1


def test_silent_agent(fake_agent, run_module):
    agent = fake_agent("lma")
    agent.mode = "silent"
    result = run_module(pmip_binding, {"socket": agent.path, "mn_id": MN1, "socket_timeout": 0.3})
    assert result["failed"]
    assert result["msg"] == f"agent at {agent.path} did not answer 'status' within 0.3s"
    assert result["rc"] == errno.ETIMEDOUT


def test_role_mismatch(fake_agent, run_module):
    agent = fake_agent("lma")
    result = run_module(pmip_binding, {"socket": agent.path, "role": "mag", "mac": MAC1})
    assert result["failed"]
    assert "belongs to a LMA agent, not a MAG: use role=lma" in result["msg"]


@pytest.mark.parametrize(
    "args, message",
    [
        ({"mac": "02:00"}, "mac: '02:00' is not a MAC address"),
        ({"mn_id": MN1, "hnp": "2001:db8::1/64"}, "hnp: '2001:db8::1/64' is not an IPv6 prefix"),
        ({"mn_id": MN1, "serving_mag": "mag2"}, "serving_mag: 'mag2' is not an IPv6 address"),
        ({"mn_id": MN1, "timeout": -1}, "timeout must not be negative"),
        ({"mn_id": MN1, "interval": 0}, "interval must be positive"),
        ({"role": "lma"}, "one of the following is required: mn_id, mac"),
        ({"mn_id": ""}, "mn_id must not be empty"),
    ],
)
def test_bad_options_fail_before_asking(fake_agent, run_module, args, message):
    agent = fake_agent("lma")
    result = run_module(pmip_binding, dict({"socket": agent.path}, **args))
    assert result["failed"]
    assert result["msg"].startswith(message)
    assert agent.requests == []


def test_check_mode_waits_the_same(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.later(0.4, [rows.lma()])
    args = {"socket": agent.path, "mn_id": MN1, "timeout": 5, "interval": 0.1}
    result = run_module(pmip_binding, args, check_mode=True)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is False
    assert result["elapsed"] >= 0.3
    agent.rows, agent._timeline = [], []
    result = run_module(pmip_binding, dict(args, timeout=0), check_mode=True)
    assert result["failed"]
    assert result["msg"].endswith("state: expected active, actual absent (no binding)")
