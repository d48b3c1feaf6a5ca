"""Wake-ups of many stations, seconds to days away, on one loop timer.

Some things a station waits for come seconds to days away: its next websocket ping, a storm's
next fault, its V2G chain's OCSP status (weekly). A loop timer each holds uvloop's handle, its
timer and the callback for that long: 544 bytes a station (tracemalloc, 300 stations), more
than the rest of that state. Here a wake-up is one entry (a 3-item list) of a heap the loop's
single timer serves; cancelling one drops its reference to the station at once, and the heap
is compacted when cancelled entries come to outnumber the live ones. Wake-ups due together run
in one loop iteration, as their timers would.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any, Final

RESOLUTION_S: Final = 0.001
Entry = list[Any]  # [due (loop time), sequence, callback or None once fired or cancelled]


class Calendar:
    __slots__ = ("_cancelled", "_heap", "_order", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[Entry] = []
        self._order = (
            itertools.count()
        )  # ties in due time keep their order; callbacks never compared
        self._timer: asyncio.TimerHandle | None = None
        self._cancelled = 0

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> Calendar:
        """The loop's calendar (made on first use and kept on the loop, so it goes with it)."""
        calendar: Calendar | None = getattr(loop, "_fleet_calendar", None)
        if calendar is None:
            calendar = Calendar(loop)
            loop._fleet_calendar = calendar  # type: ignore[attr-defined]
        return calendar

    def at(self, due_s: float, callback: Callable[[], None]) -> Entry:
        """Call ``callback()`` at ``due_s`` (loop time); the entry cancels it."""
        entry: Entry = [due_s, next(self._order), callback]
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._arm()
        return entry

    def cancel(self, entry: Entry) -> None:
        if entry[2] is None:
            return
        entry[2] = None
        self._cancelled += 1
        if self._cancelled * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0
            self._arm()

    def __len__(self) -> int:
        """Wake-ups waiting (cancelled ones not counted)."""
        return len(self._heap) - self._cancelled

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            self._timer = self.loop.call_at(self._heap[0][0], self._fire)

    def _fire(self) -> None:
        self._timer = None
        # uvloop's timers have millisecond resolution and fire up to ~0.5 ms before their time
        # (79 of 200 measured): what is due within it runs now, else the loop would spin on
        # a timer set again for the same instant until the clock got there.
        now = self.loop.time() + RESOLUTION_S
        while self._heap and self._heap[0][0] <= now:  # (a callback may compact the heap)
            entry = heapq.heappop(self._heap)
            callback, entry[2] = entry[2], None
            if callback is None:
                self._cancelled -= 1
            else:
                callback()
        self._arm()
