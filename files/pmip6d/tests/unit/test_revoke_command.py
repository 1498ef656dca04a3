"""`pmipctl revoke MN-ID` and the LMA's `revoke` control command."""

from __future__ import annotations

from pathlib import Path

from conftest import MAG1, MN1, make_lma
from test_pmipctl import serve_once

from pmip6d.actions import Send, Unroute
from pmip6d.cli import pmipctl_main
from pmip6d.daemon.agents import Agent
from pmip6d.wire import BindingRevocationIndication, HandoffIndicator, ProxyBindingUpdate
from pmip6d.wire import timestamp as ts
from pmip6d.wire.prefix import ZERO_PREFIX


def test_revoke_sends_the_mn_id_and_prints_what_was_removed(tmp_path, capsys):
    path = tmp_path / "lma.sock"
    row = {"mn_id": "mn1@lab.example", "hnps": ["2001:db8:100:1::/64"], "proxy_coa": MAG1}
    agent = serve_once(path, {"ok": True, "data": [row]})
    assert pmipctl_main(["-s", str(path), "revoke", "mn1@lab.example"]) == 0
    agent.join(5)
    assert agent.requests == [{"cmd": "revoke", "args": {"mn_id": "mn1@lab.example"}}]
    out = capsys.readouterr().out
    assert "mn1@lab.example" in out and MAG1 in out


def test_revoke_of_an_unbound_mn_says_so(tmp_path, capsys):
    path = tmp_path / "lma.sock"
    serve_once(path, {"ok": True, "data": []})
    assert pmipctl_main(["-s", str(path), "revoke", "nobody@lab.example"]) == 0
    assert "nothing revoked" in capsys.readouterr().out


class RecordingShell:
    def __init__(self) -> None:
        self.actions: list = []

    def run(self, actions) -> None:
        self.actions += list(actions)


def test_lma_control_command_revokes_through_the_shell(clock):
    lma = make_lma(clock)
    lma.handle_pbu(
        MAG1,
        ProxyBindingUpdate(
            sequence=1,
            lifetime_units=150,
            mn_id=MN1,
            home_network_prefixes=[ZERO_PREFIX],
            handoff_indicator=HandoffIndicator.NEW_INTERFACE,
            access_technology_type=4,
            timestamp=ts.from_unix(clock.time()),
        ),
    )
    agent = Agent("lma", None, Path("lma.yml"), None, lma)
    agent.shell = RecordingShell()
    commands = agent.commands()
    rows = commands["revoke"](mn_id=MN1.decode())
    assert [r["proxy_coa"] for r in rows] == [MAG1]
    kinds = {type(a) for a in agent.shell.actions}
    assert Unroute in kinds and Send in kinds
    [pending] = commands["revocations"]()
    assert (pending["mn_id"], pending["mag"], pending["trigger"]) == (
        MN1.decode(),
        MAG1,
        "ADMINISTRATIVE_REASON",
    )
    assert any(
        isinstance(a, Send) and isinstance(a.message, BindingRevocationIndication)
        for a in agent.shell.actions
    )
    assert commands["revoke"](mn_id=MN1.decode()) == []
