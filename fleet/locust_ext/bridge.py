"""The seam between Locust (gevent, one OS thread) and the stations (uvloop, another OS thread).

All station sockets of a process live on one uvloop event loop in a real OS thread, started with
gevent's original ``_thread.start_new_thread`` so gevent does not patch it. Nothing crosses the
seam but plain values:

* gevent → loop: ``loop.call_soon_threadsafe`` (start or stop a station);
* loop → gevent: a deque of wire exchanges, batches of statistics and callbacks. One greenlet
  drains it every DRAIN_EVERY_S. Each wire exchange is fired as ``events.request`` (Locust
  events are only ever fired from the gevent side). fleet's own statistics are not sent sample
  by sample: the loop thread counts them into its own ``FleetStats`` and hands the whole object
  over every DRAIN_EVERY_S, and the gevent side merges it into this process's figures
  (histograms merge by adding counts). Nothing is shared between the threads but the deque, so
  no locks. Samples do not wake the gevent hub (a cross-thread wake-up per batch cost more CPU
  than the round trips it reported); callbacks someone waits on do
  (``hub.loop.run_callback_threadsafe``).

Whether a sample overlapped one of the loop's stalls (``LoopHealth.tainted``) is decided on the
loop thread as it is recorded.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextvars
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

import gevent
import gevent.event
import gevent.monkey
import uvloop

from fleet.errors import ConnectionLost, FleetError
from fleet.locust_ext.sink import CALLBACK, EXCHANGE, STATS, LocustSink, StateCounts
from fleet.metrics.health import LoopHealth
from fleet.metrics.sample import CONNECT, LOOP_LAG
from fleet.metrics.stats import FleetStats
from fleet.process import RampFreezer, raise_open_files_limit, tune_gc
from fleet.station import console
from fleet.station.core import Station
from fleet.station.session import StopSwitch, keep_connected

logger = logging.getLogger("fleet.bridge")

# The original threading.Thread is not enough: its start() waits on threading.Event, which
# gevent patches, and a real thread cannot wake a greenlet that way. Start a raw OS thread.
_start_os_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_os_lock = gevent.monkey.get_original("_thread", "allocate_lock")
CLOSE_GRACE_S: Final = 5.0
START_SLICE: Final = 5  # stations started per loop iteration, at least

DRAIN_EVERY_S: Final = 0.05
# Locust rows are (request type, name): OCPP CALLs use the station's "OCPP1.6"/"OCPP2.0.1",
# a websocket connect is ("WS", "connect").
CONNECT_TYPE: Final = "WS"


class OcppFailure(Exception):
    """What Locust records for a failed exchange. Its repr is the reason itself, so Locust's
    failure table reads "CallError InternalError: database down", grouped per reason."""

    def __repr__(self) -> str:
        return str(self.args[0])


class Bridge:
    """One per process (made after Locust forks workers): the loop thread and the hand-off."""

    def __init__(self, events: Any, lag_warn_ms: float = 50.0) -> None:
        tune_gc()
        raise_open_files_limit(1 << 30)  # as many stations as the hard limit allows
        self.events = events
        self.pid = os.getpid()
        self.states = StateCounts()
        self.stats = FleetStats()  # this process's, gevent side
        self.freezer = RampFreezer()
        # Loop lag counts while a test runs: an idle process's lag is not the test's figure.
        # The bridge is made as the first station is, during a test.
        self.recording = True
        self._items: collections.deque[Any] = collections.deque()
        self._wake_pending = False
        self._hub_loop = gevent.get_hub().loop
        self._ready = gevent.event.Event()
        self._drainer = gevent.spawn(self._drain_forever)
        self.loop = uvloop.new_event_loop()
        self._stops: dict[str, StopSwitch] = {}  # loop thread only
        self._running: dict[str, Station] = {}  # loop thread only: the console finds them here
        self._context = contextvars.Context()  # what stations' ends are told in
        self._to_start: dict[str, tuple[Station, str]] = {}  # loop thread only, in order
        self._starting = False
        self.origin = time.time()  # when this test started: storms strike from here
        self._done: dict[str, gevent.event.AsyncResult] = {}  # loop thread only
        self._submitted: set[asyncio.Task[Any]] = set()  # loop thread only
        self._loop_ended = _os_lock()
        self._loop_ended.acquire()  # released by the loop thread as it ends
        _start_os_thread(self._run_loop, ())
        atexit.register(self.close)
        self.health = LoopHealth(lag_warn_ms)
        self.sink = LocustSink(self.put, self.states, self.health.tainted)
        self.health.on_lag = lambda ms: self.sink.stats.timing(LOOP_LAG, ms)
        self.loop.call_soon_threadsafe(self._start_on_loop)

    def reset_stats(self) -> None:
        """A new test starts (gevent side): fleet's statistics start again, as Locust's do.
        The loop thread starts its count afresh, then tells the gevent side to, so a batch
        counted before the reset is never merged into the new figures."""

        def restart() -> None:
            self.sink.stats = FleetStats()
            self.health.reset()
            self.put_call(self._restart)

        self.stats = FleetStats()
        self.origin = time.time()
        self.loop.call_soon_threadsafe(restart)

    def _restart(self) -> None:
        self.stats = FleetStats()

    # --- loop thread -----------------------------------------------------------------------------

    def _start_on_loop(self) -> None:
        self.health.start(self.loop)
        self._hand_over()

    def _hand_over(self) -> None:
        self.sink.hand_over()
        self.loop.call_later(DRAIN_EVERY_S, self._hand_over)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()
            self._loop_ended.release()

    async def _wind_down(self) -> None:
        """Cancel whatever still runs (the stations have normally stopped with their users),
        give it a moment to close its sockets, then end the loop."""
        this = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not this]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_GRACE_S / 2)
        self.loop.stop()

    def put(self, item: Any) -> None:
        """Queue a sample tuple for the gevent side (drained within DRAIN_EVERY_S). Any thread."""
        self._items.append(item)

    def put_call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the gevent side as soon as possible. Any thread."""
        self._items.append((CALLBACK, fn, args))
        if not self._wake_pending:
            self._wake_pending = True
            self._hub_loop.run_callback_threadsafe(self._ready.set)

    # --- gevent side -----------------------------------------------------------------------------

    def _drain_forever(self) -> None:
        while True:
            self._ready.wait(DRAIN_EVERY_S)
            self._ready.clear()
            self._wake_pending = False
            self.drain()

    def drain(self) -> None:
        """Fire every queued wire exchange as a Locust request event, merge the batches of
        fleet's statistics, run queued callbacks."""
        fire = self.events.request.fire
        items = self._items
        while items:
            item = items.popleft()
            tag = item[0]
            if tag == EXCHANGE:
                _, kind, action, rtt_ms, size, error = item
                fire(
                    request_type=CONNECT_TYPE if kind == CONNECT else kind,
                    name=action,
                    response_time=rtt_ms,
                    response_length=size,
                    exception=None if error is None else OcppFailure(error),
                    context={},
                )
            elif tag == STATS:
                batch: FleetStats = item[1]
                if not self.recording:
                    batch.timings.pop(LOOP_LAG, None)  # an idle process's lag
                self.stats.merge(batch)
            else:
                item[1](*item[2])
        self.stats.saturated = self.stats.saturated or self.health.saturated

    def flush(self, timeout_s: float = 2.0) -> None:
        """Everything counted so far, the loop thread's last batch included, in ``stats``
        (gevent side; waits for the loop thread at most ``timeout_s``)."""
        done = gevent.event.AsyncResult()

        def hand_over() -> None:
            self.sink.hand_over()
            self.put_call(done.set, None)

        try:
            self.loop.call_soon_threadsafe(hand_over)
        except RuntimeError:  # the loop has ended
            pass
        else:
            done.wait(timeout_s)
        self.drain()

    def start(self, station: Station, url: str) -> None:
        """Start ``station`` on the loop; it connects, boots and runs until ``stop``."""
        self.loop.call_soon_threadsafe(self._queue_start, station, url)

    def _queue_start(self, station: Station, url: str) -> None:
        """Locust hands over a second's worth of users at once (500 at -r 500): starting them
        all in one loop iteration held the loop 55-85 ms, and the heartbeats of the stations
        already up waited behind it. They start a slice per iteration instead, between the
        loop's I/O: START_SLICE, or a hundredth of the backlog when that is more (a boot
        storm still starts at once, in ~100 iterations)."""
        self._to_start[station.id] = (station, url)
        if not self._starting:
            self._starting = True
            self.loop.call_soon(self._start_slice)

    def _start_slice(self) -> None:
        to_start = self._to_start
        for _ in range(min(max(START_SLICE, len(to_start) // 100), len(to_start))):
            station, url = to_start.pop(next(iter(to_start)))
            self.freezer.started()
            self.states.counts[station.version, station.state] += 1
            stop = self._stops[station.id] = StopSwitch()
            self._running[station.id] = station
            # Named by its station (found again by the name: no partial per station); it runs
            # and is told of its end in one shared context, not copies made per station (no
            # code a station runs sets a context variable).
            task = self.loop.create_task(
                keep_connected(station, url, stop, None, self.origin),
                name=station.id,
                context=self._context,
            )
            task.add_done_callback(self._finished, context=self._context)
        if to_start:
            self.loop.call_soon(self._start_slice)
        else:
            self._starting = False

    def _finished(self, task: asyncio.Task[None]) -> None:
        station = self._running.pop(task.get_name())
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: session failed", station.id, exc_info=task.exception())
        self._stops.pop(station.id, None)
        self.states.counts[station.version, station.state] -= 1
        done = self._done.pop(station.id, None)
        if done is not None:
            self.put_call(done.set, None)

    def submit(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> gevent.event.AsyncResult:
        """Run ``make()`` on the loop; its result (or exception) arrives in the AsyncResult."""
        result = gevent.event.AsyncResult()

        def begin() -> None:
            task = self.loop.create_task(make())
            self._submitted.add(task)
            task.add_done_callback(finished)

        def finished(task: asyncio.Task[Any]) -> None:
            self._submitted.discard(task)
            if task.cancelled():
                self.put_call(result.set_exception, ConnectionLost("cancelled"))
            elif task.exception() is not None:
                self.put_call(result.set_exception, task.exception())
            else:
                self.put_call(result.set, task.result())

        self.loop.call_soon_threadsafe(begin)
        return result

    def console(
        self, station_id: str, verb: str | None, args: dict[str, Any]
    ) -> gevent.event.AsyncResult:
        """Look at (``verb`` None) or act on a station of this process (``console.answer``);
        the answer is None when the station does not run here."""

        def answer() -> Any:
            station = self._running.get(station_id)
            return None if station is None else console.answer(station, verb, args)

        return self._console_on_loop(answer)

    def console_find(self, which: str, limit: int) -> gevent.event.AsyncResult:
        """This process's stations ``which`` names (``console.find``): {count, ids}."""
        return self._console_on_loop(lambda: console.find(self._running.values(), which, limit))

    def _console_on_loop(self, make: Callable[[], Any]) -> gevent.event.AsyncResult:
        """``make()`` run on the loop, its value in the AsyncResult: a refusal as {error}, and
        fleet's own failure too (logged), so the run goes on and the caller is told."""
        result = gevent.event.AsyncResult()

        def run() -> None:
            try:
                value = make()
            except FleetError as exc:
                value = {"error": str(exc)}
            except Exception as exc:
                logger.error("fleet's console failed", exc_info=True)
                value = {"error": f"fleet's console failed: {type(exc).__name__}: {exc}"}
            self.put_call(result.set, value)

        self.loop.call_soon_threadsafe(run)
        return result

    def stop(self, station: Station, timeout_s: float = 10.0) -> bool:
        """Close the station's websocket cleanly (code 1000) and wait, without blocking other
        greenlets, until its session has ended and its last samples are reported."""
        done = gevent.event.AsyncResult()

        def end() -> None:
            self._to_start.pop(station.id, None)  # stopped before its turn to start
            stop = self._stops.get(station.id)
            if stop is None:  # never started or already ended
                self.put_call(done.set, None)
                return
            self._done[station.id] = done
            stop.set()

        self.loop.call_soon_threadsafe(end)
        done.wait(timeout_s)
        self.drain()
        return done.ready()

    def close(self) -> None:
        """End the loop thread and wait for it (at most CLOSE_GRACE_S). Registered with atexit:
        a thread still running loop callbacks while the interpreter finalises can crash the
        process at exit (seen as SIGSEGV after a clean Locust run)."""
        if self.pid != os.getpid() or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._wind_down()))
        except RuntimeError:  # closed meanwhile
            return
        if self._loop_ended.acquire(timeout=CLOSE_GRACE_S):
            self._loop_ended.release()


_bridge: Bridge | None = None


def get_bridge(events: Any, lag_warn_ms: float = 50.0) -> Bridge:
    """This process's bridge, made on first use (after any fork, so workers get their own).
    ``lag_warn_ms`` (the first scenario's run.lag_warn_ms) is what counts as a stall."""
    global _bridge
    if _bridge is None or _bridge.pid != os.getpid():
        _bridge = Bridge(events, lag_warn_ms)
    return _bridge


def current_bridge() -> Bridge | None:
    return _bridge if _bridge is not None and _bridge.pid == os.getpid() else None
