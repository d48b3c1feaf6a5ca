"""Charger wake-ups, a slice per loop iteration.

Timers that fall due at the same instant all run in one loop iteration, and no socket is read
until the last has run. Clock-aligned readings do exactly that: every connector of every
station reads its meter on the same quarter-hour mark (``ClockAlignedDataInterval``). In the
100,000-station run each worker had ~33,000 connectors doing so in one iteration: a 6-9 s
stall, during which every answer waiting in the sockets was timed as late. A real fleet does
send them in the same second, and the CSMS should see that burst; fleet's own loop should not
stop reading meanwhile. So a charger's timer hands its wake-up here (``fire``): one that comes
alone runs at once, the others of a burst are queued, and the queue runs SLICE of them per
iteration, the sockets read between slices.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final

logger = logging.getLogger("fleet.station")

# Wake-ups per loop iteration (a reading and its send: ~50 µs each). Measured with 12,000
# connectors on one mark (bench 14): of the slices tried, 10 gave the best figures, the burst's
# own length included (625 ms, MeterValues p99 0.9 ms; 100: 871 ms, p99 9.5 ms; 500 longer
# still: answers waiting behind a long slice slow the sending too). Against all at once the
# burst leaves over ~0.95 s instead of ~0.5-0.75 s (bench 14, median of 3): the answers are read
# in between.
SLICE: Final = 10
# A timer's wake-up runs at once when none ran within this much loop time and none waits: a
# lone wake-up (the common case: a fleet's readings spread over the second) then costs no queue
# and no extra callback, ~4 k instructions of a TransactionEvent's ~200 k (bench 16). In a burst
# the first runs at once and the rest go through the queue as before: at most one wake-up
# (~50 µs) a millisecond runs outside it.
ALONE_S: Final = 0.001


class Wakes:
    __slots__ = ("_draining", "_last", "_queue", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queue: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._draining = False
        self._last = float("-inf")  # when a wake-up last ran at once

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> Wakes:
        """The loop's queue (made on first use and kept on the loop, so it goes with it)."""
        wakes: Wakes | None = getattr(loop, "_fleet_wakes", None)
        if wakes is None:
            wakes = Wakes(loop)
            loop._fleet_wakes = wakes  # type: ignore[attr-defined]
        return wakes

    def push(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` soon, after at most the wake-ups queued before it."""
        self._queue.append((callback, args))
        if not self._draining:
            self._draining = True
            self.loop.call_soon(self._drain)

    def fire(self, callback: Callable[..., None], *args: Any) -> None:
        """A timer's wake-up: ``callback(*args)`` at once if it comes alone, else as ``push``."""
        now = self.loop.time()
        if self._draining or now - self._last < ALONE_S:
            self.push(callback, *args)
            return
        self._last = now
        try:
            callback(*args)
        except Exception:  # as in a slice: logged as fleet's, the loop goes on
            logger.exception("wake-up %r failed", callback)

    def _drain(self) -> None:
        queue = self._queue
        try:
            for _ in range(min(len(queue), SLICE)):
                callback, args = queue.popleft()
                try:
                    callback(*args)
                except Exception:  # as the loop would: one failure must not stop the others
                    logger.exception("wake-up %r failed", callback)
        finally:  # even if something escaped, what is queued still runs
            if queue:
                self.loop.call_soon(self._drain)
            else:
                self._draining = False
