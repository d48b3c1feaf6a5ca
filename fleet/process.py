"""Process-wide settings a fleet process needs before it carries thousands of stations: the
open-files limit and the cyclic garbage collector."""

from __future__ import annotations

import contextlib
import gc
import resource
from typing import Final


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft open-files limit to the hard one; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard and soft < needed + 64:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


GC_THRESHOLDS: Final = (100_000, 50, 100)


def tune_gc() -> None:
    """Keep Python's cyclic GC from stalling the loop. With the default thresholds (700, 10, 10)
    a process carrying thousands of stations runs full collections over millions of objects
    every few seconds: 80-100 ms pauses, measured as latency (bench: loop-lag p99 20 -> 12 ms,
    Heartbeat p99 14 -> 9 ms at ~5,000 round trips/s). Objects that exist at start (modules,
    compiled schemas, scenario) are frozen out of collection; young objects are collected far
    less often. Station objects are freed by reference counting, not by the cyclic GC."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class RampFreezer:
    """Keeps the cyclic GC off a ramp. Every ``every`` stations started, what is alive is
    frozen out of the collector's reach (``gc.freeze``) and the young generation's count starts
    again, so no pass walks the ~100,000 new station objects a ramp makes every ~2 s (a
    10,000-station ramp at 500/s: 12-29 ms each, the ramp's worst lag). A frozen object that
    later becomes cyclic garbage is not collected, so ``thaw()`` (at the end of a test, when
    nothing is being measured) unfreezes and collects once.

    Cyclic garbage is collected before each freeze, else it would be frozen with the living
    until the test ends: a Locust worker makes ~15 MB of it per 2,000 stations ramped (an
    argument parser per option for every spawn message), which froze at ~10 KB per station.
    That pass walks only what was made since the last freeze (~200 stations' objects)."""

    __slots__ = ("count", "every")

    def __init__(self, every: int = 200) -> None:
        self.every = every
        self.count = 0

    def started(self) -> None:
        self.count += 1
        if self.count % self.every == 0:
            gc.collect()
            gc.freeze()

    def thaw(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
