"""The LMA's RFC 5847 Restart Counter file: one more at every start, never a refusal."""

from __future__ import annotations

import logging
import stat

from pmip6d.daemon.restart_counter import advance_restart_counter, counter_path, read_counter

log = logging.getLogger("test")


def test_counts_starts_in_a_0600_file(tmp_path):
    path = tmp_path / "lma.restart-counter"
    assert [advance_restart_counter(path, None, log) for _start in range(3)] == [1, 2, 3]
    assert path.read_text() == "3\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "lma.restart-counter.tmp").exists()


def test_the_file_sits_beside_the_state_file_unless_configured(tmp_path):
    state = tmp_path / "lma.state"
    assert counter_path(None, state) == tmp_path / "lma.state.restart-counter"
    assert counter_path(tmp_path / "rc", state) == tmp_path / "rc"
    assert counter_path(None, None) is None
    assert advance_restart_counter(None, state, log) == 1
    assert read_counter(tmp_path / "lma.state.restart-counter") == 1


def test_it_survives_the_state_file_being_removed(tmp_path):
    state = tmp_path / "lma.state"
    state.write_text("{}")
    advance_restart_counter(None, state, log)
    state.unlink()
    assert advance_restart_counter(None, state, log) == 2


def test_wraps_at_32_bits(tmp_path):
    path = tmp_path / "rc"
    path.write_text(f"{2**32 - 1}\n")
    assert advance_restart_counter(path, None, log) == 0


def test_a_corrupt_file_is_replaced_with_a_warning(tmp_path, caplog):
    path = tmp_path / "rc"
    path.write_text("not a number")
    with caplog.at_level(logging.WARNING):
        value = advance_restart_counter(path, None, log)
    assert "cannot read the restart counter" in caplog.text
    assert read_counter(path) == value
    assert advance_restart_counter(path, None, log) == (value + 1) & 0xFFFFFFFF


def test_an_unwritable_place_falls_back_to_the_start_time(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        first = advance_restart_counter(blocker / "rc", None, log)  # parent is a file
    assert "cannot store the restart counter" in caplog.text
    assert 0 <= first <= 0xFFFFFFFF


def test_without_any_file_each_start_differs(monkeypatch):
    ticks = iter([1000.0, 1000.5])
    monkeypatch.setattr("pmip6d.daemon.restart_counter.time.time", lambda: next(ticks))
    assert advance_restart_counter(None, None, log) != advance_restart_counter(None, None, log)
