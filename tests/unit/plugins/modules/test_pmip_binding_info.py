# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_binding_info against a real unix-socket agent (conftest.FakeAgent)."""

from __future__ import annotations

import errno
import os

from ansible_collections.netlmm.pmipv6.plugins.modules import pmip_binding_info


def test_lma_cache_status_and_counters(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(), rows.lma(mn_id="mn2@lab.pmipv6.example")]
    result = run_module(pmip_binding_info, {"socket": agent.path, "role": "lma"})
    assert result["changed"] is False
    assert result["role"] == "lma"
    assert result["socket"] == agent.path
    assert result["bindings"] == agent.rows
    assert result["status"]["role"] == "lma"
    assert result["status"]["bindings"] == 2
    assert result["counters"] == {"pbu_received": 3, "pba_sent": 3}


def test_lma_filter_by_mn_id_and_limit(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma(), rows.lma(mn_id="mn2@lab.pmipv6.example"), rows.lma(mn_id="mn3@x")]
    result = run_module(
        pmip_binding_info, {"socket": agent.path, "mn_id": "mn2@lab.pmipv6.example"}
    )
    assert [r["mn_id"] for r in result["bindings"]] == ["mn2@lab.pmipv6.example"]
    assert {"cmd": "bindings", "args": {"mn_id": "mn2@lab.pmipv6.example"}} in agent.requests
    result = run_module(pmip_binding_info, {"socket": agent.path, "limit": 2})
    assert len(result["bindings"]) == 2


def test_mag_filter_by_mac_any_spelling(fake_agent, rows, run_module):
    agent = fake_agent("mag")
    agent.rows = [rows.mag(), rows.mag(mac="02:00:00:00:02:02", mn_id="mn2@x")]
    result = run_module(pmip_binding_info, {"socket": agent.path, "mac": "0200.0000.0202"})
    assert result["role"] == "mag"
    assert [r["mn_id"] for r in result["bindings"]] == ["mn2@x"]
    assert {"cmd": "bindings", "args": {"mac": "02:00:00:00:02:02"}} in agent.requests


def test_check_mode_reads_the_same(fake_agent, rows, run_module):
    agent = fake_agent("lma")
    agent.rows = [rows.lma()]
    result = run_module(pmip_binding_info, {"socket": agent.path}, check_mode=True)
    assert result["changed"] is False
    assert result["bindings"] == agent.rows


def test_missing_socket_fails_with_errno(socket_dir, run_module):
    path = os.path.join(socket_dir, "lma.sock")
    result = run_module(pmip_binding_info, {"socket": path, "role": "lma"})
    assert result["failed"]
    assert (
        result["msg"] == f"no control socket at {path}: is the pmip6d agent running on this host?"
    )
    assert result["rc"] == errno.ENOENT
    assert result["stderr"] == os.strerror(errno.ENOENT)
    assert result["socket"] == path


def test_agent_error_answer_fails_with_its_text(fake_agent, run_module):
    agent = fake_agent("lma")
    agent.fail_commands["counters"] = "internal error: boom"
    result = run_module(pmip_binding_info, {"socket": agent.path})
    assert result["failed"]
    assert result["msg"] == f"agent at {agent.path} refused 'counters': internal error: boom"
    assert result["rc"] == 1
    assert result["stderr"] == "internal error: boom"
    assert result["stdout"] == '{"ok": false, "error": "internal error: boom"}'


def test_role_mismatch(fake_agent, run_module):
    agent = fake_agent("mag")
    result = run_module(pmip_binding_info, {"socket": agent.path, "role": "lma"})
    assert result["failed"]
    assert "belongs to a MAG agent, not a LMA" in result["msg"]


def test_bad_options(fake_agent, run_module):
    agent = fake_agent("mag")
    result = run_module(pmip_binding_info, {"socket": agent.path, "mac": "nope"})
    assert result["failed"] and result["msg"] == "mac: 'nope' is not a MAC address"
    result = run_module(pmip_binding_info, {"socket": agent.path, "limit": 0})
    assert result["failed"] and result["msg"] == "limit must be at least 1, not 0"
    result = run_module(pmip_binding_info, {"mn_id": "x"})
    assert result["failed"] and "one of the following is required: role, socket" in result["msg"]
    assert agent.requests == []


def test_heartbeat_peers_are_returned(fake_agent, run_module):
    agent = fake_agent("mag")
    down = {
        "address": "2001:db8:ffff::1",
        "state": "down",
        "missed": 4,
        "restart_counter": 7,
        "last_response_ago": 41.0,
        "down_for": 1.0,
    }
    agent.heartbeat = {
        "interval": 10.0,
        "missing_allowed": 3,
        "peer_down_grace": None,
        "restart_counter": None,
        "peers": [down],
    }
    result = run_module(pmip_binding_info, {"socket": agent.path, "role": "mag"})
    assert result["heartbeat"]["peers"] == [down]
    assert result["status"]["heartbeat"] == result["heartbeat"]


def test_heartbeat_is_null_for_an_agent_without_it(fake_agent, run_module):
    agent = fake_agent("lma")
    result = run_module(pmip_binding_info, {"socket": agent.path, "role": "lma"})
    assert result["heartbeat"] is None
