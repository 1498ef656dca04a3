"""The durable state store (daemon/store.py) and its wiring to the machines
(daemon/durability.py): record framing, torn and corrupt tails, compaction,
the version-1 file, file modes, and what a group commit saves."""

from __future__ import annotations

import json
import logging
import os
import stat
import zlib
from pathlib import Path

import pytest
from conftest import LMA, MAC1, MAC2, MAG1, MN1, make_lma, make_mag

from pmip6d.actions import RouteToMag, Send, ServeMobileNode
from pmip6d.clock import ManualClock
from pmip6d.daemon.durability import Durability, may_precede_sync
from pmip6d.daemon.store import HEADER_LEN, StateStore, frame, read_records
from pmip6d.wire import ProxyBindingAck, ProxyBindingUpdate, decode, encode
from pmip6d.wire.constants import BU_FLAG_A, BU_FLAG_P, HandoffIndicator
from pmip6d.wire.prefix import ZERO_PREFIX

DATA = Path(__file__).resolve().parent.parent / "data"
LOG = logging.getLogger("test-store")


def entry(n: int, expires: float = 2e9) -> dict:
    return {"mac": f"{n:012x}", "prefixes": [f"2001:db8:{n:x}::/64"], "expires_wall": expires}


def new_store(tmp_path: Path, role: str = "mag") -> StateStore:
    return StateStore(tmp_path / "agent.state", role, "2001:db8::1", LOG)


def journal_of(store: StateStore) -> Path:
    return store.path.with_name(f"{store.path.name}.journal.{store.generation}")


def keys(saved: dict | None) -> list[str]:
    assert saved is not None
    return sorted(b["mac"] for b in saved["bindings"])


def test_a_record_is_length_crc_and_json_on_one_line():
    line = frame({"k": "a", "v": None})
    payload = b'{"k":"a","v":null}'
    assert line == b"%08x %08x " % (len(payload), zlib.crc32(payload)) + payload + b"\n"
    assert read_records(line * 3) == ([{"k": "a", "v": None}] * 3, None)


def test_round_trip_through_journal_and_snapshot(tmp_path):
    store = new_store(tmp_path)
    assert store.load() == (None, [])
    store.open()
    store.commit({"a": entry(1), "b": entry(2)})
    store.commit({"a": None, "c": entry(3)})
    store.commit({"b": entry(22)})
    store.close()
    saved, warnings = new_store(tmp_path).load()
    assert warnings == [] and saved["role"] == "mag" and saved["version"] == 1
    assert keys(saved) == [f"{3:012x}", f"{22:012x}"]
    # Compacted: one snapshot, the older journals gone, the same state.
    store = new_store(tmp_path)
    store.load()
    store.open()
    store.compact([2, 3], lambda n: (str(n), entry(n)))
    store.commit({"4": entry(4)})
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "agent.state",
        f"agent.state.journal.{store.generation}",
    ]
    saved, warnings = new_store(tmp_path).load()
    assert warnings == [] and keys(saved) == [f"{n:012x}" for n in (2, 3, 4)]


def test_files_are_mode_0600(tmp_path):
    umask = os.umask(0o022)  # what would leave a plain open() at 0644
    try:
        store = new_store(tmp_path)
        store.open()
        store.commit({"a": entry(1)})
        store.compact([1], lambda n: (str(n), entry(n)))
    finally:
        os.umask(umask)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.fixture
def two_records(tmp_path) -> tuple[StateStore, Path, int]:
    """A journal of two whole records; returns the store, the journal and where
    the second record begins."""
    store = new_store(tmp_path)
    store.open()
    store.commit({"a": entry(1)})
    store.commit({"b": entry(2)})
    store.close()
    path = journal_of(store)
    return store, path, len(frame({"k": "a", "v": entry(1)}))


def test_a_torn_tail_at_every_byte_keeps_the_records_before_it(tmp_path, two_records):
    _store, path, second = two_records
    whole = path.read_bytes()
    for cut in range(second, len(whole)):
        path.write_bytes(whole[:cut])
        saved, warnings = new_store(tmp_path).load()
        assert keys(saved) == [f"{1:012x}"], cut
        if cut == second:
            assert warnings == []  # a clean end
        else:
            assert warnings == [
                f"saved state {path}: torn or corrupt record at byte {second} of {cut}; "
                "kept the 1 records before it"
            ]


def test_a_crc_mismatch_ends_the_file_with_a_warning(tmp_path, two_records):
    _store, path, second = two_records
    data = bytearray(path.read_bytes())
    data[second + HEADER_LEN + 3] ^= 0x01  # a bit flip inside the second payload
    path.write_bytes(bytes(data))
    saved, [warning] = new_store(tmp_path).load()
    assert keys(saved) == [f"{1:012x}"]
    assert f"{path}: torn or corrupt record at byte {second} " in warning


def test_a_record_with_a_good_crc_that_is_no_json_object_ends_the_file():
    good = frame({"k": "a", "v": None})
    for payload in (b"[1]", b"{},{}", b"{"):
        bad = b"%08x %08x %s\n" % (len(payload), zlib.crc32(payload), payload)
        assert read_records(good + bad + good) == ([{"k": "a", "v": None}], len(good))


def test_garbage_never_stops_the_load(tmp_path):
    store = new_store(tmp_path)
    store.path.write_bytes(b"\x00\xffnot a state file")
    store.path.with_name("agent.state.journal.3").write_bytes(b"00000002 zzzzzzzz {}\n")
    saved, warnings = store.load()
    assert saved is not None and saved["bindings"] == [] and len(warnings) == 2


def test_a_snapshot_of_the_other_role_is_ignored(tmp_path):
    lma_store = new_store(tmp_path, "lma")
    lma_store.compact([1], lambda n: (str(n), entry(n)), journal=False)
    saved, [warning] = new_store(tmp_path, "mag").load()
    assert saved["bindings"] == [] and "belongs to a lma" in warning


def test_a_compaction_cut_short_loads_the_same(tmp_path):
    store = new_store(tmp_path)
    store.open()
    store.commit({"a": entry(1), "b": entry(2)})
    old_journal = journal_of(store)
    kept = old_journal.read_bytes()
    # The new snapshot was renamed into place, the old journal not yet deleted,
    # and a change arrived in the new journal meanwhile.
    store.compact([1, 2], lambda n: ("ab"[n - 1], entry(n)))
    store.commit({"a": None})
    old_journal.write_bytes(kept)
    saved, warnings = new_store(tmp_path).load()
    assert warnings == [] and keys(saved) == [f"{2:012x}"]


def test_a_version_1_file_is_read_and_rewritten_as_version_2(tmp_path):
    clock = ManualClock(start=1200.0 + 20)
    path = tmp_path / "lma.state"
    path.write_bytes((DATA / "lma-state-v1.json").read_bytes())
    lma = make_lma(clock)
    durability = Durability(lma, "lma", path, True, LOG)
    actions = durability.restore()
    assert len([a for a in actions if isinstance(a, RouteToMag)]) == 3
    durability.store.wait()
    assert path.read_bytes()[:1] != b"{"
    saved, warnings = StateStore(path, "lma", LMA, LOG).load()
    assert warnings == [] and len(saved["bindings"]) == 3


# ---------------------------------------------------------------- group commit


def pbu(sequence: int, lifetime_units: int = 150) -> bytes:
    return encode(
        ProxyBindingUpdate(
            sequence=sequence,
            lifetime_units=lifetime_units,
            flags=BU_FLAG_A | BU_FLAG_P,
            mn_id=MN1,
            home_network_prefixes=[ZERO_PREFIX],
            handoff_indicator=HandoffIndicator.NEW_INTERFACE,
            access_technology_type=4,
            mn_link_layer_id=MAC1,
            link_local_address=bytes(16),
            timestamp=None,
        )
    )


def lma_durability(tmp_path, clock) -> tuple[object, Durability]:
    lma = make_lma(clock, replay_protection="sequence")
    durability = Durability(lma, "lma", tmp_path / "lma.state", True, LOG)
    durability.restore()
    return lma, durability


def test_lma_changes_are_saved_once_per_batch_and_come_back(tmp_path):
    clock = ManualClock()
    lma, durability = lma_durability(tmp_path, clock)
    lma.receive(MAG1, pbu(1))
    lma.receive(MAG1, pbu(2))  # a refresh in the same batch: one record
    assert len(lma.dirty) == 1
    durability.commit()
    assert lma.dirty == set()
    assert durability.store.counters["commits"] == 1 and durability.store.counters["records"] == 1
    # A crash: nothing closed. A new LMA 30 s later gets the binding back.
    clock.advance(30)
    fresh, again = lma_durability(tmp_path, clock)
    [row] = fresh.binding_rows()
    assert row["mn_id"] == MN1.decode() and row["sequence"] == 2
    assert row["lifetime_remaining"] == pytest.approx(570)
    assert fresh.counters["restored"] == 1 and fresh.counters["registrations"] == 0
    # De-registered: gone from the store too.
    fresh.receive(MAG1, pbu(3, lifetime_units=0))
    again.commit()
    clock.advance(1)
    last, _unused = lma_durability(tmp_path, clock)
    assert last.binding_rows() == []


def test_an_entry_that_expired_while_down_is_not_restored(tmp_path):
    clock = ManualClock()
    lma, durability = lma_durability(tmp_path, clock)
    lma.receive(MAG1, pbu(1, lifetime_units=10))  # 40 s
    durability.commit()
    clock.advance(41)
    fresh, _unused = lma_durability(tmp_path, clock)
    assert fresh.binding_rows() == [] and fresh.counters["restored"] == 0


def test_mag_changes_are_saved_and_served_again_after_a_crash(tmp_path):
    clock = ManualClock()
    mag = make_mag(clock)
    durability = Durability(mag, "mag", tmp_path / "mag.state", True, LOG)
    durability.restore()
    [send] = mag.attach(MAC1, interface="ap1")
    durability.commit()  # REGISTERING is not saved
    assert durability.store.counters["records"] == 1
    lma = make_lma(clock)
    [_route, reply] = lma.receive(MAG1, encode(send.message))
    mag.handle_pba(LMA, decode(encode(reply.message)))
    durability.commit()
    clock.advance(10)
    fresh = make_mag(clock)
    actions = Durability(fresh, "mag", tmp_path / "mag.state", True, LOG).restore()
    [serve] = [a for a in actions if isinstance(a, ServeMobileNode)]
    assert serve.binding.mac == MAC1 and serve.binding.interface == "ap1"
    assert fresh.binding_rows()[0]["state"] == "active"


def test_durability_off_saves_only_at_a_clean_stop_and_uses_it_once(tmp_path):
    clock = ManualClock()
    lma = make_lma(clock, replay_protection="sequence")
    off = Durability(lma, "lma", tmp_path / "lma.state", False, LOG)
    off.restore()
    assert lma.dirty is None
    lma.receive(MAG1, pbu(1))
    assert list(tmp_path.iterdir()) == []
    off.close()
    header = json.loads((tmp_path / "lma.state").read_bytes().split(b" ", 2)[2].split(b"\n")[0])
    assert header["version"] == 2 and header["role"] == "lma"
    fresh = make_lma(clock, replay_protection="sequence")
    Durability(fresh, "lma", tmp_path / "lma.state", False, LOG).restore()
    assert len(fresh.binding_rows()) == 1 and list(tmp_path.iterdir()) == []


def test_with_the_syncer_a_batch_s_messages_wait_for_its_fsync_in_batch_order(tmp_path):
    clock = ManualClock()
    lma, durability = lma_durability(tmp_path, clock)
    events: list[str] = []
    ran: list = []
    durability.start_syncer(ran.append)  # the loop's call_soon: run later, here by hand
    busy(durability)
    sync = durability.store.sync
    durability.store.sync = lambda: (events.append("fsync"), sync())
    lma.receive(MAG1, pbu(1))
    durability.commit_then(lambda: events.append("send batch 1"))
    durability.commit_then(lambda: events.append("send batch 2"))  # nothing changed
    durability.store.syncer.drain()
    assert "send batch 1" not in events  # only handed back to the loop
    for then in ran:
        then()
    assert events[-2:] == ["send batch 1", "send batch 2"] and events[0] == "fsync"
    durability.close()
    fresh, _unused = lma_durability(tmp_path, clock)
    assert len(fresh.binding_rows()) == 1


def busy(durability: Durability) -> None:
    """Every batch from now on comes right after the previous one (no lone batch)."""
    durability.clock = lambda: 0.0
    durability._last_commit = 0.0


def mag_durability_with_syncer(tmp_path, clock):
    mag = make_mag(clock)
    durability = Durability(mag, "mag", tmp_path / "mag.state", True, LOG)
    durability.restore()
    durability.store.wait()
    ran: list = []
    durability.start_syncer(ran.append)  # the loop's call_soon: run later, here by hand
    busy(durability)
    events: list[str] = []
    sync = durability.store.sync
    durability.store.sync = lambda: (events.append("fsync"), sync())
    return mag, durability, ran, events


def run_handed_back(durability, ran: list) -> None:
    durability.store.syncer.drain()
    while ran:
        ran.pop(0)()


def test_a_mag_registration_leaves_before_the_fsync_a_deregistration_after_it(tmp_path):
    clock = ManualClock()
    mag, durability, ran, events = mag_durability_with_syncer(tmp_path, clock)
    sends = mag.attach(MAC1, interface="ap1")
    assert may_precede_sync(sends)
    durability.commit_then(lambda: events.append("PBU"), may_precede_sync(sends))
    assert events == ["PBU"]  # sent at once, the record written
    assert durability.store.counters["sent_before_sync"] == 1
    run_handed_back(durability, ran)
    assert events == ["PBU", "fsync"]  # ... and made durable right after
    lma = make_lma(clock)
    [_route, reply] = lma.receive(MAG1, encode(sends[0].message))
    mag.handle_pba(LMA, decode(encode(reply.message)))
    durability.commit_then(lambda: events.append("nothing to send"))
    run_handed_back(durability, ran)
    clock.advance(1)
    sends = [a for a in mag.detach(MAC1) if isinstance(a, Send)]
    assert sends and not may_precede_sync(sends)  # lifetime 0
    durability.commit_then(lambda: events.append("de-registration"), may_precede_sync(sends))
    assert events[-1] != "de-registration"
    run_handed_back(durability, ran)
    assert events[-2:] == ["fsync", "de-registration"]
    durability.close()


def test_an_early_message_never_overtakes_an_earlier_batch_still_waiting(tmp_path):
    clock = ManualClock()
    mag, durability, ran, events = mag_durability_with_syncer(tmp_path, clock)
    mag.attach(MAC1, interface="ap1")
    durability.commit_then(lambda: events.append("batch 1"), False)  # waits for its fsync
    mag.attach(MAC2, interface="ap1")
    durability.commit_then(lambda: events.append("batch 2"), True)  # may go early, but not first
    durability.commit_then(lambda: events.append("batch 3"))  # nothing changed: in order too
    assert [e for e in events if e != "fsync"] == []
    durability.store.syncer.drain()
    assert ran  # handed back to the loop, not run yet: still not idle
    durability.commit_then(lambda: events.append("batch 4"), True)
    assert "batch 4" not in events
    run_handed_back(durability, ran)
    assert [e for e in events if e != "fsync"] == ["batch 1", "batch 2", "batch 3", "batch 4"]
    durability.commit_then(lambda: events.append("batch 5"))  # idle, nothing changed: at once
    assert events[-1] == "batch 5" and not ran
    durability.close()


def test_a_lone_batch_is_synced_on_the_loop_a_burst_in_the_thread(tmp_path):
    clock = ManualClock()
    lma, durability = lma_durability(tmp_path, clock)
    ran: list = []
    durability.start_syncer(ran.append)
    now = [100.0]
    durability.clock = lambda: now[0]
    events: list[str] = []
    sync = durability.store.sync
    durability.store.sync = lambda: (events.append("fsync"), sync())
    lma.receive(MAG1, pbu(1))
    durability.commit_then(lambda: events.append("PBA 1"))
    assert events == ["fsync", "PBA 1"] and not ran  # at once, durable first
    now[0] += 0.001  # the next PBU 1 ms later: a burst, the thread's group commit
    lma.receive(MAG1, pbu(2))
    durability.commit_then(lambda: events.append("PBA 2"))
    assert events[-1] == "PBA 1"
    run_handed_back(durability, ran)
    assert events[-2:] == ["fsync", "PBA 2"]
    now[0] += 1.0  # quiet again, but not idle while a hand-back is pending: checked above
    lma.receive(MAG1, pbu(3))
    durability.commit_then(lambda: events.append("PBA 3"))
    assert events[-2:] == ["fsync", "PBA 3"]
    assert durability.store.counters["inline_syncs"] == 2
    durability.close()


def test_a_registration_among_other_messages_waits():
    pbu = ProxyBindingUpdate(sequence=1, lifetime_units=100, flags=BU_FLAG_A | BU_FLAG_P)
    dereg = ProxyBindingUpdate(sequence=2, lifetime_units=0, flags=BU_FLAG_A | BU_FLAG_P)
    assert may_precede_sync([Send(LMA, pbu), Send(LMA, pbu)])
    assert may_precede_sync([])
    assert not may_precede_sync([Send(LMA, pbu), Send(LMA, dereg)])
    pba = ProxyBindingAck(status=0, sequence=1, lifetime_units=10)
    assert not may_precede_sync([Send(LMA, pba), Send(LMA, pbu)])


def test_a_long_journal_is_folded_into_a_snapshot_while_serving(tmp_path, monkeypatch):
    import pmip6d.daemon.durability as durability_module

    monkeypatch.setattr(durability_module, "COMPACT_MIN_RECORDS", 3)
    clock = ManualClock()
    lma, durability = lma_durability(tmp_path, clock)
    durability.store.wait()
    first = durability.store.generation
    for sequence in range(1, 7):  # one binding refreshed: 6 records, 1 live entry
        lma.receive(MAG1, pbu(sequence))
        durability.commit()
    durability.store.wait()
    assert durability.store.generation > first and durability.store.counters["compactions"] == 2
    journals = sorted(tmp_path.glob("lma.state.journal.*"))
    assert [p.name for p in journals] == [f"lma.state.journal.{durability.store.generation}"]
    clock.advance(1)
    fresh, _unused = lma_durability(tmp_path, clock)
    assert fresh.binding_rows()[0]["sequence"] == 6


def test_merge_folds_the_journals_into_the_snapshot_from_the_files(tmp_path):
    store = new_store(tmp_path)
    store.open()
    store.compact([1, 2], lambda n: ("ab"[n - 1], entry(n)))
    store.commit({"a": entry(11), "b": None, "c": entry(3)})
    store.commit({"c": None})
    store.commit({"c": entry(33)})
    store.merge()
    store.commit({"d": entry(4)})  # after the merge began: in the new journal
    store.wait()
    assert store.counters["compactions"] == 2 and store.counters["errors"] == 0
    assert [p.name for p in sorted(tmp_path.glob("agent.state.journal.*"))] == [
        journal_of(store).name
    ]
    records, stopped = read_records(store.path.read_bytes())
    assert stopped is None and records[0]["journal"] == store.generation
    assert {r["k"]: r["v"]["mac"] for r in records[1:]} == {
        "a": f"{11:012x}",
        "c": f"{33:012x}",
    }
    saved, warnings = new_store(tmp_path).load()
    assert warnings == [] and keys(saved) == [f"{n:012x}" for n in (4, 11, 33)]
