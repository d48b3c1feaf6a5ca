"""CALL timeouts through one sweep per loop: a CALL answered in time leaves nothing behind, one
not answered fails with TimeoutError, at most RESOLUTION_S late."""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet.station.deadlines import RESOLUTION_S, Deadlines


async def test_unanswered_calls_time_out_and_answered_ones_leave_nothing() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines.of(loop)
    assert Deadlines.of(loop) is deadlines  # one per loop
    answered, silent = loop.create_future(), loop.create_future()
    started = time.monotonic()
    slot = deadlines.add(0.2, answered)
    deadlines.add(0.2, silent)
    answered.set_result("ok")
    deadlines.discard(slot, answered)
    assert deadlines.pending() == 1
    with pytest.raises(TimeoutError):
        await silent
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.2 + 2 * RESOLUTION_S + 0.05
    assert answered.result() == "ok" and deadlines.pending() == 0
    await asyncio.sleep(2 * RESOLUTION_S)
    assert deadlines._handle is None  # nothing pending: no timer keeps firing


class _Clock:
    """The two things Deadlines asks of a loop: the time, set by the test, and a timer, run by
    the test (``fire``) instead of waited for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: object) -> object:
        self.timers.append((self.now + delay, callback))
        return self

    def fire(self) -> None:
        """Advance to the next timer and run it."""
        self.timers.sort(key=lambda timer: timer[0])
        when, callback = self.timers.pop(0)
        self.now = max(self.now, when)
        callback()  # type: ignore[operator]


class _Futures:
    """Stand-ins for the futures' two methods Deadlines calls, recording when each timed out."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.timed_out: dict[int, float] = {}

    def make(self, key: int) -> object:
        futures = self

        class Future:
            def done(self) -> bool:
                return key in futures.timed_out

            def set_exception(self, exc: BaseException) -> None:
                assert isinstance(exc, TimeoutError)
                futures.timed_out[key] = futures.clock.now

        return Future()


class _CountingDict(dict):  # type: ignore[type-arg]
    """The buckets, counting the keys a sweep reads: iterated over or looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for key in super().__iter__():
            self.read += 1
            yield key

    def __contains__(self, key: object) -> bool:
        self.read += 1
        return super().__contains__(key)


def test_a_sweep_reads_the_buckets_that_came_due_not_all_of_them() -> None:
    clock = _Clock()
    futures = _Futures(clock)
    deadlines = Deadlines(clock)  # type: ignore[arg-type]
    deadlines._slots = _CountingDict()
    # A CALL every 10 ms, 30 s timeouts: a bucket for every RESOLUTION_S ahead, swept meanwhile.
    due: dict[int, float] = {}
    for key in range(6000):
        while clock.timers and clock.timers[0][0] <= 1000.0 + key * 0.01:
            clock.fire()
        clock.now = 1000.0 + key * 0.01
        deadlines.add(30.0, futures.make(key))  # type: ignore[arg-type]
        due[key] = clock.now + 30.0
    assert len(deadlines._slots) >= 590
    while clock.timers:
        clock.fire()
    assert futures.timed_out.keys() == due.keys()
    late = [futures.timed_out[key] - due[key] for key in due]
    # Rounded up to a bucket, then swept every RESOLUTION_S: never early, at most two late.
    assert min(late) >= 0 and max(late) <= 2 * RESOLUTION_S + 1e-9
    # ~1,200 sweeps bucket by bucket, a lookup each; reading every key would be ~600 a sweep.
    assert deadlines._slots.read < 2000, deadlines._slots.read


def test_a_deadline_added_after_an_idle_spell_or_already_due_still_fires() -> None:
    clock = _Clock()
    futures = _Futures(clock)
    deadlines = Deadlines(clock)  # type: ignore[arg-type]
    deadlines._slots = slots = _CountingDict()
    deadlines.add(0.1, futures.make(1))  # type: ignore[arg-type]
    while clock.timers:
        clock.fire()
    assert futures.timed_out.keys() == {1}  # and no timer left: nothing pending
    clock.now += 3600.0  # an hour without CALLs: 72,000 instants no sweep looked at
    added, slots.read = clock.now, 0
    deadlines.add(0.0, futures.make(2))  # type: ignore[arg-type]
    deadlines.add(5.0, futures.make(3))  # type: ignore[arg-type]
    clock.fire()
    assert futures.timed_out.keys() == {1, 2}
    deadlines.add(-1.0, futures.make(4))  # type: ignore[arg-type]  # before that sweep even
    for _ in range(1000):  # bounded: a deadline in a bucket no sweep visits keeps a timer
        if not clock.timers:
            break
        clock.fire()
    assert futures.timed_out.keys() == {1, 2, 3, 4}
    assert 0 <= futures.timed_out[2] - added <= 2 * RESOLUTION_S + 1e-9
    assert 0 < futures.timed_out[4] - futures.timed_out[2] <= 2 * RESOLUTION_S + 1e-9
    assert 0 <= futures.timed_out[3] - added - 5.0 <= 2 * RESOLUTION_S + 1e-9
    assert slots.read < 500  # not a lookup for each of the 72,000 instants
