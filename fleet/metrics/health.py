"""Is the simulator itself the bottleneck? The event loop's punctuality, sampled.

A station's latency sample is only honest while the event loop runs on time. ``LoopHealth`` arms
a timer every SAMPLE_EVERY_S and measures how late it fires: the loop's *lag*. A lag above the
threshold (``run.lag_warn_ms``) is a *stall*: for that long no socket was read, so any sample
whose span overlaps it may include fleet's own delay and is *tainted* (``tainted()``). When the
recent lag p99 stays above the threshold the simulator is *saturated*: it warns once, loudly.

Sampling every 10 ms means every stall longer than the threshold is seen, within 10 ms of its
length; the timer is a plain callback, ~1 ms of CPU per second.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

from fleet.metrics.histogram import Histogram

logger = logging.getLogger("fleet.health")

SAMPLE_EVERY_S: Final = 0.01
# Saturation is judged on the last 30 s (sustained, not one boot-storm second), once a second.
WINDOW_S: Final = 30.0
MIN_WINDOW_S: Final = 10.0
STALLS_KEPT: Final = 512  # recent stalls a sample is checked against


class LoopHealth:
    """Lag of the running event loop: a histogram over the run, a recent window, the stalls."""

    def __init__(
        self,
        threshold_ms: float = 50.0,
        out: TextIO | None = None,
        on_lag: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.threshold_ms = threshold_ms
        self.clock = clock  # the samples' clock (perf_counter); a fake one in tests
        self._threshold_s = threshold_ms / 1000
        self.out = out or sys.stderr
        self.on_lag = on_lag  # called with every lag sample (ms), e.g. to fleet's statistics
        self.histogram = Histogram()
        self.max_ms = 0.0
        self.saturated = False
        self.stall_count = 0
        self._second: list[float] = []  # this second's samples
        self._seconds: collections.deque[list[float]] = collections.deque(maxlen=int(WINDOW_S))
        self._stalls: collections.deque[tuple[float, float]] = collections.deque(maxlen=STALLS_KEPT)
        self._last_stall_end = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = float("inf")  # perf_counter time the next sample is due

    # --- sampling, on the loop -------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._arm(self.clock())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due = float("inf")

    def reset(self) -> None:
        """Start the figures again (a new test), keeping the stalls known for taint."""
        self.histogram = Histogram()
        self.max_ms = 0.0
        self.saturated = False
        self.stall_count = 0
        self._second = []
        self._seconds.clear()

    def _arm(self, now: float) -> None:
        self._due = now + SAMPLE_EVERY_S
        if self._loop is not None:
            self._handle = self._loop.call_later(SAMPLE_EVERY_S, self._tick)

    def _tick(self) -> None:
        """The sampling timer fired (late by the loop's lag)."""
        now = self.clock()
        lag_s = now - self._due
        if lag_s > self._threshold_s:
            self._stalls.append((self._due, now))
            self._last_stall_end = now
            self.stall_count += 1
        self.add(max(lag_s, 0.0) * 1000)
        self._arm(now)

    def add(self, lag_ms: float) -> None:
        self.histogram.add(lag_ms)
        if lag_ms > self.max_ms:
            self.max_ms = lag_ms
        if self.on_lag is not None:
            self.on_lag(lag_ms)
        second = self._second
        second.append(lag_ms)
        if len(second) * SAMPLE_EVERY_S >= 1.0:
            self._seconds.append(second)
            self._second = []
            self._judge()

    def _judge(self) -> None:
        if self.saturated or len(self._seconds) < MIN_WINDOW_S:
            return
        recent = self.recent_p99()
        if recent > self.threshold_ms:
            self.saturated = True
            message = (
                f"fleet: WARNING: the simulator is saturated: event-loop lag p99 {recent:.0f} ms "
                f"> {self.threshold_ms:g} ms. Latencies measured from now on include fleet's own "
                "delay: run fewer stations per process (more Locust workers) or give it more CPU."
            )
            logger.warning(message)
            print(message, file=self.out, flush=True)

    def recent_p99(self) -> float:
        """Lag p99 over the last WINDOW_S seconds (0 before any sample)."""
        ordered = sorted(x for second in (*self._seconds, self._second) for x in second)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    # --- which samples fleet's own stalls delayed ------------------------------------------------

    def tainted(self, started_at: float, ended_at: float) -> bool:
        """Did [started_at, ended_at] (perf_counter seconds) overlap a stall? Also true while a
        stall is still unobserved: the sampler is overdue and the sample ended after its due
        time (the loop reads sockets before it runs timers, so samples delayed by a stall are
        often recorded before the sampler has seen it)."""
        due = self._due
        if ended_at >= due and self.clock() - due > self._threshold_s:
            return True
        if started_at >= self._last_stall_end:
            return False
        for start, end in reversed(self._stalls):
            if end <= started_at:
                return False
            if start < ended_at:
                return True
        return False

    def to_json(self) -> dict[str, Any]:
        return {
            "p50_ms": self.histogram.percentile(50),
            "p99_ms": self.histogram.percentile(99),
            "max_ms": round(self.max_ms, 3),
            "stalls": self.stall_count,
            "threshold_ms": self.threshold_ms,
        }
