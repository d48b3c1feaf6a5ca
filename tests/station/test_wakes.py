"""Charger wake-ups due at the same instant run a slice per loop iteration, in order; one that
waited in the queue while its charger was halted does nothing."""

from __future__ import annotations

import asyncio
import itertools
import logging

import orjson
import pytest

from fleet.metrics.summary import Summary
from fleet.station.charging import EARLY_S
from fleet.station.memory import MemoryTransport, memory_pair
from fleet.station.state import Ending
from fleet.station.v16 import StationV16
from fleet.station.wakes import ALONE_S, SLICE, Wakes
from tests.conftest import make_scenario
from tests.station.test_engine import booted


@pytest.mark.parametrize("timers", [False, True])
async def test_a_burst_runs_a_slice_per_loop_iteration_in_order(timers: bool) -> None:
    """Pushed, or fired by timers due at one instant (the first of those runs at once)."""
    loop = asyncio.get_running_loop()
    wakes = Wakes.of(loop)
    assert Wakes.of(loop) is wakes
    ran: list[int] = []
    seen: list[int] = []  # how many had run, each time the loop came round

    def probe() -> None:
        seen.append(len(ran))
        if len(ran) < 2 * SLICE + 50:
            loop.call_soon(probe)

    handed: list[int] = []  # the order the wake-ups were handed to the queue

    def fire(n: int) -> None:
        handed.append(n)
        wakes.fire(ran.append, n)

    loop.call_soon(probe)
    when = loop.time() + 0.02
    for n in range(2 * SLICE + 50):
        if timers:
            # uvloop may run one of these a millisecond late (call_at reads the clock, then
            # the timer reads it again: a millisecond can pass between), so the order to keep
            # is the order they fired in, not the order they were set.
            loop.call_at(when, fire, n)
        else:
            handed.append(n)
            wakes.push(ran.append, n)
    while not seen or seen[-1] < 2 * SLICE + 50:  # the probe has seen them all
        await asyncio.sleep(0)
    assert ran == handed
    assert sorted(ran) == list(range(2 * SLICE + 50))
    assert seen[-1] == 2 * SLICE + 50
    steps = [b - a for a, b in itertools.pairwise(seen)]
    assert max(steps) <= SLICE + timers
    assert len([step for step in steps if step]) >= 3  # it took three iterations, not one


async def test_a_failing_wake_up_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wakes = Wakes.of(asyncio.get_running_loop())
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    wakes.push(ran.append, "before")
    wakes.push(broken)
    wakes.push(ran.append, "after")
    with caplog.at_level(logging.ERROR, logger="fleet.station"):
        while len(ran) < 2:
            await asyncio.sleep(0)
    assert ran == ["before", "after"]
    assert "boom" in caplog.text
    # Caught and logged as fleet's, not left to the loop's handler (which would also skip the
    # rest of the slice until the next iteration).
    assert [r.name for r in caplog.records if r.levelno >= logging.ERROR] == ["fleet.station"]


async def _charging_station() -> tuple[StationV16, MemoryTransport, asyncio.Task[Ending]]:
    """A booted 1.6 station whose chargers wait for arrivals far away (none in the test)."""
    station = StationV16("CP-1", make_scenario(sessions={"arrivals_per_hour": 0.001}), Summary())
    mine, csms = memory_pair()
    life = asyncio.create_task(station.run(mine))
    await booted(station, csms)
    await asyncio.sleep(0.05)
    assert station.chargers().running
    return station, csms, life


@pytest.mark.parametrize("halted", [False, True])
async def test_a_wake_up_queued_before_a_halt_does_nothing(halted: bool) -> None:
    station, csms, life = await _charging_station()
    chargers = station.chargers()
    charger = chargers.chargers[0]
    charger.wake_at = station.now()  # the driver arrives now
    Wakes.of(asyncio.get_running_loop()).push(chargers._wake, 0, chargers.armed[0])
    if halted:
        chargers.halt()  # e.g. a Reset while the wake-up waited behind others
    await asyncio.sleep(0.05)
    sent = [orjson.loads(frame)[2] for frame in csms._frames]
    assert bool(sent) is not halted, sent  # the arrival's messages, or nothing at all
    await csms.close()
    await life


class _Loop:
    """A loop's time, set by the test, and its call_soon, run by the test (``turn``)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.ready: list[tuple[object, tuple[object, ...]]] = []

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: object, *args: object) -> None:
        self.ready.append((callback, args))

    def turn(self) -> None:
        ready, self.ready = self.ready, []
        for callback, args in ready:
            callback(*args)  # type: ignore[operator]


def test_a_lone_timer_wake_up_runs_at_once_and_a_burst_queues_behind_the_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = _Loop()
    wakes = Wakes(loop)  # type: ignore[arg-type]
    ran: list[str] = []
    wakes.fire(ran.append, "alone")
    assert ran == ["alone"] and not loop.ready  # no queue, no extra callback
    loop.now += ALONE_S / 5  # the same burst: queued behind it
    wakes.fire(ran.append, "burst")
    assert ran == ["alone"] and loop.ready
    loop.now += 2 * ALONE_S  # long after, but the queue is draining: it waits its turn
    wakes.fire(ran.append, "while draining")
    assert ran == ["alone"]
    loop.turn()
    assert ran == ["alone", "burst", "while draining"] and not loop.ready
    loop.now += 2 * ALONE_S

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="fleet.station"):
        wakes.fire(broken)  # logged as fleet's, not raised into the loop
    assert "boom" in caplog.text
    loop.now += 2 * ALONE_S
    wakes.fire(ran.append, "later")
    assert ran[-1] == "later" and not loop.ready


async def test_what_is_decided_after_a_wake_up_told_its_instant_is_not_told_an_earlier_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wake-up fired a little before its instant is told the instant (EARLY_S); an answer or a
    command decided a moment later must not be told a time before it (a stop stamped before
    the reading it follows). A clock set back further than EARLY_S is followed."""
    station, csms, life = await _charging_station()
    clock = [station.now()]
    monkeypatch.setattr(StationV16, "now", lambda self: clock[0])
    chargers = station.chargers()
    told: list[float] = []

    def note(charger: object, now: float) -> list:
        told.append(now)
        return []

    due = clock[0] + EARLY_S * 0.8
    chargers.decide(0, note, due)  # the timer fired early: told its instant
    clock[0] += EARLY_S * 0.3
    chargers.decide(0, note)  # an answer, still before that instant: told that instant
    clock[0] = due + 0.5
    chargers.decide(0, note)
    clock[0] -= 2.0  # the clock set back (a sync to the CSMS's time): followed
    chargers.decide(0, note)
    assert told == [due, due, due + 0.5, due - 1.5]
    await csms.close()
    await life
