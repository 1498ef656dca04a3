"""Tunnel peers: reference counts, linger and slots (pure logic, time passed in)."""

from __future__ import annotations

import pytest

from pmip6d.dataplane.peers import PeerTable

MAG1, MAG2, MAG3 = "2001:db8:c::11", "2001:db8:c::12", "2001:db8:c::13"


def test_dynamic_peer_lingers_after_its_last_reference():
    table = PeerTable(linger=30)
    table.ref(MAG1)
    table.ref(MAG1)
    table.unref(MAG1, now=100)
    assert table.due(1000) == [], "still referenced"
    table.unref(MAG1, now=100)
    assert table.next_deadline() == 130
    assert table.due(129.9) == []
    assert [p.address for p in table.due(130)] == [MAG1]


def test_new_reference_during_linger_cancels_it():
    table = PeerTable(linger=30)
    table.ref(MAG1)
    table.unref(MAG1, now=100)
    table.ref(MAG1)
    assert table.next_deadline() is None
    assert table.due(10_000) == []
    table.unref(MAG1, now=200)
    assert table.next_deadline() == 230


def test_static_peer_never_expires():
    table = PeerTable(linger=0)
    table.add_static(MAG1)
    table.ref(MAG1)
    table.unref(MAG1, now=5)
    assert table.due(1e9) == []
    assert table.next_deadline() is None
    assert [p.address for p in table.wanted()] == [MAG1]


def test_unref_of_unknown_or_idle_peer_is_harmless():
    table = PeerTable(linger=1)
    table.unref(MAG1, now=0)
    table.ref(MAG2)
    table.unref(MAG2, now=0)
    table.unref(MAG2, now=0)
    assert table.peers[MAG2].refs == 0


def test_slots_are_reused_smallest_first():
    table = PeerTable(linger=0)
    slots = [table.ref(m).slot for m in (MAG1, MAG2, MAG3)]
    assert slots == [0, 1, 2]
    table.forget(MAG2)
    table.forget(MAG1)
    assert table.ref("2001:db8:c::21").slot == 0
    assert table.ref("2001:db8:c::22").slot == 1
    assert table.ref("2001:db8:c::23").slot == 3


def test_reslot_burns_the_taken_slot():
    table = PeerTable(linger=0)
    table.ref(MAG1)
    assert table.reslot(MAG1) == 1
    table.forget(MAG1)
    assert table.ref(MAG2).slot == 1, "slot 0 belongs to someone else for good"
    assert table.ref(MAG3).slot == 2


def test_slot_limit():
    table = PeerTable(linger=0, slots=2)
    table.ref(MAG1)
    table.ref(MAG2)
    with pytest.raises(RuntimeError):
        table.ref(MAG3)


def test_wanted_lists_referenced_or_static_peers_without_kernel_objects():
    table = PeerTable(linger=10)
    table.ref(MAG1)
    table.add_static(MAG2)
    table.ref(MAG3)
    table.unref(MAG3, now=0)
    table.peers[MAG1].installed = True
    assert [p.address for p in table.wanted()] == [MAG2]


def test_negative_linger_is_refused():
    with pytest.raises(ValueError):
        PeerTable(linger=-1)
