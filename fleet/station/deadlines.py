"""Timeouts of the CALLs in flight, for every station on one event loop.

A timer handle per CALL (armed as the frame leaves, cancelled when the answer comes) costs
~2 µs on uvloop: a tenth of a whole round trip's CPU. Deadlines instead go into buckets of
RESOLUTION_S, and one timer per loop sweeps the due buckets: adding and removing a CALL is a set
operation. A timeout fires up to twice RESOLUTION_S late (its bucket, then the sweep), which the
reason ("no answer within 30 s") and the elapsed time recorded with it do not hide.

A sweep looks up the buckets that came due since the last one, not every bucket: a fleet
sending spread over the second keeps a bucket for each RESOLUTION_S of the 30 s ahead (~600),
and reading all their keys twenty times a second cost ~18 k instructions per TransactionEvent of
40 stations sending one a second each (bench 16), more than the CALL's own deadline.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

RESOLUTION_S: Final = 0.05


class Deadlines:
    __slots__ = ("_handle", "_loop", "_slots", "_swept")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, set[asyncio.Future[Any]]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._swept = math.floor(loop.time() / RESOLUTION_S)  # every bucket up to it is gone

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> Deadlines:
        """The loop's deadlines (one per loop, made on first use and kept on the loop, so they
        go with it)."""
        deadlines: Deadlines | None = getattr(loop, "_fleet_deadlines", None)
        if deadlines is None:
            deadlines = Deadlines(loop)
            loop._fleet_deadlines = deadlines  # type: ignore[attr-defined]
        return deadlines

    def add(self, timeout_s: float, future: asyncio.Future[Any]) -> int:
        """Fail ``future`` with TimeoutError ``timeout_s`` from now unless it is done by then;
        returns the bucket to pass to ``discard``."""
        slot = math.ceil((self._loop.time() + timeout_s) / RESOLUTION_S)
        if slot <= self._swept:  # due already (no timeout, or a sweep late): the next sweep's
            slot = self._swept + 1
        bucket = self._slots.get(slot)
        if bucket is None:
            bucket = self._slots[slot] = set()
        bucket.add(future)
        if self._handle is None:
            self._handle = self._loop.call_later(RESOLUTION_S, self._sweep)
        return slot

    def discard(self, slot: int, future: asyncio.Future[Any]) -> None:
        bucket = self._slots.get(slot)
        if bucket is not None:
            bucket.discard(future)

    def _sweep(self) -> None:
        slots, due = self._slots, math.floor(self._loop.time() / RESOLUTION_S)
        if due - self._swept <= len(slots):  # the buckets since the last sweep, one by one
            came = [slot for slot in range(self._swept + 1, due + 1) if slot in slots]
        else:  # after an idle spell or a stall, fewer buckets than instants to look up
            came = [slot for slot in slots if slot <= due]
        self._swept = max(due, self._swept)
        for slot in came:
            for future in slots.pop(slot):
                if not future.done():
                    future.set_exception(TimeoutError())
        # Empty buckets of answered CALLs are dropped as they come due.
        self._handle = self._loop.call_later(RESOLUTION_S, self._sweep) if self._slots else None

    def pending(self) -> int:
        """CALLs whose deadline has not come yet (answered ones go with their bucket)."""
        return sum(len(bucket) for bucket in self._slots.values())
