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
