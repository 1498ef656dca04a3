# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_binding state=absent at an LMA revokes the binding (RFC 5846), against a fake agent."""

from __future__ import annotations

from ansible_collections.netlmm.pmipv6.plugins.modules import pmip_binding

MN1 = "mn1@lab.pmipv6.example"
MN2 = "mn2@x"
MAC1 = "02:00:00:00:01:01"


def revokes(agent) -> list[dict]:
    return [r for r in agent.requests if r["cmd"] == "revoke"]


def test_absent_revokes_a_bound_mn_then_is_idempotent(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(), rows.lma(mn_id=MN2)]
    args = {"socket": agent.path, "role": "lma", "mn_id": MN1, "state": "absent"}
    result = run_module(pmip_binding, args)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["revoked"] == [rows.lma()]
    assert result["msg"] == f"binding of {MN1} at LMA {agent.path} revoked"
    assert revokes(agent) == [{"cmd": "revoke", "args": {"mn_id": MN1}}]
    assert [r["mn_id"] for r in agent.rows] == [MN2]  # the other MN is untouched
    # Absent already: no change, no second revocation.
    again = run_module(pmip_binding, args)
    assert not again.get("failed"), again["msg"]
    assert again["changed"] is False and again["revoked"] == []
    assert len(revokes(agent)) == 1


def test_check_mode_reports_the_change_and_revokes_nothing(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    args = {"socket": agent.path, "mn_id": MN1, "state": "absent"}
    result = run_module(pmip_binding, args, check_mode=True, diff=True)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True and result["revoked"] == [rows.lma()]
    assert result["diff"] == {"before": {"bindings": [rows.lma()]}, "after": {"bindings": []}}
    assert revokes(agent) == [] and agent.rows == [rows.lma()]


def test_diff_after_a_real_revocation(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    result = run_module(
        pmip_binding, {"socket": agent.path, "mn_id": MN1, "state": "absent"}, diff=True
    )
    assert result["diff"]["before"] == {"bindings": [rows.lma()]}
    assert result["diff"]["after"] == {"bindings": []}


def test_a_deregistering_entry_is_absent_already(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(state="deregistering")]
    result = run_module(pmip_binding, {"socket": agent.path, "mn_id": MN1, "state": "absent"})
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is False and revokes(agent) == []


def test_by_mac_revokes_the_mn_that_mac_belongs_to(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    result = run_module(
        pmip_binding, {"socket": agent.path, "mac": "0200.0000.0101", "state": "absent"}
    )
    assert not result.get("failed"), result["msg"]
    assert revokes(agent) == [{"cmd": "revoke", "args": {"mn_id": MN1}}]


def test_a_mag_only_checks(fake_agent, rows, run_module):
    agent = fake_agent("mag")
    agent.rows = [rows.mag()]
    result = run_module(pmip_binding, {"socket": agent.path, "mac": MAC1, "state": "absent"})
    assert result["failed"]
    assert result["msg"].endswith("state: expected absent, actual active")
    assert "revoked" not in result


def test_an_error_answer_fails_the_task(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    agent.fail_commands["revoke"] = "revocation refused"
    result = run_module(pmip_binding, {"socket": agent.path, "mn_id": MN1, "state": "absent"})
    assert result["failed"] and "revocation refused" in result["msg"]
