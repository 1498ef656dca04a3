"""Saved state (lma/persistence.py, mag/persistence.py): the version-1 format, and restore
putting saved bindings through the machines' own rules.

The two fixtures in tests/data were written by the agents before the state code
moved into the persistence modules: a restarted agent must take them back.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import LMA, MAC1, MAG1, MN1, MN2, make_lma, make_mag

from pmip6d.actions import Notice, RouteToMag, Send, ServeMobileNode
from pmip6d.clock import ManualClock
from pmip6d.lma.machine import ADMISSION_CHECKS
from pmip6d.lma.persistence import NOT_AT_RESTORE
from pmip6d.wire import HandoffIndicator, Prefix

DATA = Path(__file__).resolve().parent.parent / "data"
SAVED_AT = 1200.0
"""The fixtures' clock (ManualClock monotonic; wall = this + 1_700_000_000)."""


def fixture(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def notices(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Notice)]


def test_lma_takes_back_a_state_file_of_the_first_format():
    clock = ManualClock(start=SAVED_AT + 20)  # down for 20 s
    saved = fixture("lma-state-v1.json")
    lma = make_lma(clock)
    actions = lma.restore(saved)
    routes = {a.mn_id: a for a in actions if isinstance(a, RouteToMag)}
    assert set(routes) == {MN1, MN2, b"fixed@lab.example"}
    assert routes[MN1] == RouteToMag(MN1, (Prefix.parse("2001:db8:100::/64"),), MAG1)
    assert lma.counters["restored"] == 3
    assert notices(actions)[-1] == "restored 3 bindings saved at the last shutdown"
    rows = {r["mn_id"]: r for r in lma.binding_rows()}
    assert rows[MN1.decode()]["lifetime_remaining"] == pytest.approx(380)
    assert rows[MN1.decode()]["mn_link_layer_id"] == "02:00:00:00:01:01"
    assert lma.pool.owner(Prefix.parse("2001:db8:100::/64")) == MN1
    # Written again unchanged: same fields, same values.
    clock.advance(-20)
    assert lma.snapshot() == saved


def test_mag_takes_back_a_state_file_of_the_first_format():
    clock = ManualClock(start=SAVED_AT + 5)
    saved = fixture("mag-state-v1.json")
    mag = make_mag(clock)
    actions = mag.restore(saved)
    [serve] = [a for a in actions if isinstance(a, ServeMobileNode)]
    assert serve.binding.mac == MAC1 and serve.binding.interface == "ap1"
    assert not [a for a in actions if isinstance(a, Send)]  # refreshed when its timer says
    assert mag.binding_rows()[0]["lifetime_remaining"] == pytest.approx(495)
    clock.advance(375)  # to 80 % of the 600 s lifetime
    [send] = [a for a in mag.on_timer() if isinstance(a, Send)]
    assert send.destination == LMA
    assert send.message.handoff_indicator == HandoffIndicator.NOT_CHANGED
    clock.advance(-380)
    clock.advance(-5)
    assert mag.snapshot() == saved


def test_a_saved_state_of_the_other_role_or_version_is_ignored(clock):
    for saved, machine in (
        (fixture("mag-state-v1.json"), make_lma(clock)),
        (fixture("lma-state-v1.json"), make_mag(clock)),
        ({"version": 2, "role": "lma"}, make_lma(clock)),
    ):
        assert notices(machine.restore(saved)) == [
            "ignored a saved state of another format or role"
        ]
        assert machine.binding_rows() == []


def test_lma_restore_applies_the_admission_checks_of_a_new_session():
    clock = ManualClock(start=SAVED_AT)
    saved = fixture("lma-state-v1.json")
    # only2@ may only use mag2: a saved binding through mag1 would be refused as a PBU.
    saved["bindings"][1]["mn_id"] = b"only2@lab.example".hex()
    saved["bindings"][1]["proxy_coa"] = MAG1
    lma = make_lma(clock)
    actions = lma.restore(saved)
    assert lma.counters["restored"] == 2
    assert not lma.binding_rows(mn_id=b"only2@lab.example")
    assert any(
        "only2@lab.example is no longer allowed (fails 'MAG allowed for this MN'" in t
        for t in notices(actions)
    )
    # Restore is not a PBU: no reject is counted.
    assert not [k for k in lma.counters if k.startswith("rejected.")]


def test_lma_restore_skips_only_the_timestamp_window():
    assert {what for what, _holds, _status in ADMISSION_CHECKS} >= NOT_AT_RESTORE
    assert sorted(NOT_AT_RESTORE) == ["timestamp within the validity window"]
    # Restored 300 s after the PBUs were stamped, far outside the 300 ms window.
    clock = ManualClock(start=SAVED_AT + 300)
    assert make_lma(clock).restore(fixture("lma-state-v1.json"))[-1].text.startswith("restored 3")


def test_lma_restore_drops_a_binding_whose_prefix_is_bound_already():
    clock = ManualClock(start=SAVED_AT)
    saved = fixture("lma-state-v1.json")
    saved["bindings"].append(copy.deepcopy(saved["bindings"][0]))
    lma = make_lma(clock)
    actions = lma.restore(saved)
    assert lma.counters["restored"] == 3
    assert any("mn1@lab.example is no longer allowed" in t for t in notices(actions))


def test_a_malformed_saved_binding_is_reported_not_raised():
    clock = ManualClock(start=SAVED_AT)
    saved = fixture("lma-state-v1.json")
    saved["bindings"][0]["ll_id"] = "not hex"
    del saved["bindings"][1]["proxy_coa"]
    lma = make_lma(clock)
    actions = lma.restore(saved)
    assert lma.counters["restored"] == 1
    assert sum("malformed saved binding" in t for t in notices(actions)) == 2


def test_mag_restore_drops_an_mn_this_mag_may_not_serve():
    clock = ManualClock(start=SAVED_AT)
    saved = fixture("mag-state-v1.json")
    saved["bindings"][0]["mac"] = "020000000606"  # only2@, which only mag2 may serve
    mag = make_mag(clock)
    actions = mag.restore(saved)
    assert mag.binding_rows() == [] and mag.counters["restored"] == 0
    assert notices(actions) == [
        "saved binding dropped: only2@lab.example may not be served by this MAG"
    ]
    assert "attach_not_allowed_here" not in mag.counters
