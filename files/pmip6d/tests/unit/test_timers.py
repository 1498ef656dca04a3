"""TimerQueue: one deadline per object, postponed in place."""

from __future__ import annotations

from dataclasses import dataclass

from pmip6d.timers import TimerQueue


@dataclass(eq=False)
class Obj:
    name: str
    timer_id: int = 0
    timer_due: float = 0.0


def test_postponed_deadline_fires_at_the_new_time_without_a_new_entry():
    q: TimerQueue[Obj] = TimerQueue()
    a = Obj("a")
    q.set(a, 10.0)
    q.set(a, 20.0)  # a refresh: recorded on the object only
    assert len(q._heap) == 1
    assert q.next_deadline() == 10.0  # early wake-up, never late
    assert q.pop_due(10.0) == []  # surfaces early and is pushed again
    assert q.next_deadline() == 20.0
    assert q.pop_due(20.0) == [a]
    assert len(q) == 0


def test_earlier_deadline_pushes_a_new_entry_and_the_old_one_is_skipped():
    q: TimerQueue[Obj] = TimerQueue()
    a = Obj("a")
    q.set(a, 20.0)
    q.set(a, 5.0)
    assert q.pop_due(5.0) == [a]
    assert q.pop_due(30.0) == []
    assert len(q) == 0


def test_cancel_after_postponing():
    q: TimerQueue[Obj] = TimerQueue()
    a, b = Obj("a"), Obj("b")
    q.set(a, 1.0)
    q.set(b, 2.0)
    q.set(a, 3.0)
    q.cancel(a)
    assert q.pop_due(10.0) == [b]
    assert len(q) == 0


def test_refreshes_do_not_grow_the_heap():
    q: TimerQueue[Obj] = TimerQueue()
    objs = [Obj(str(i)) for i in range(1000)]
    for t in range(10):
        for o in objs:
            q.set(o, 100.0 + t)
    assert len(q._heap) == 1000
    assert len(q.pop_due(200.0)) == 1000
