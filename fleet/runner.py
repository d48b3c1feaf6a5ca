"""The headless fleet: every station of a scenario on one uvloop event loop, no Locust.

Ramps stations up at the scenario's rate, prints a progress line every few seconds, keeps the
fleet up for the run's duration, then closes every websocket cleanly and reports a per-action
table (and, on request, the same data as JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from fleet.metrics import CONNECTED_STATES, State, Summary
from fleet.monitor import LoopLag, tune_gc
from fleet.scenario import Scenario
from fleet.station.session import StopSwitch, keep_connected, make_station

SHUTDOWN_GRACE_S = 10.0


@dataclass(slots=True)
class RunResult:
    summary: Summary
    stations: dict[str, int]  # final states, taken before the fleet is stopped
    elapsed_s: float
    interrupted: bool
    lag: LoopLag

    @property
    def failures(self) -> int:
        return self.summary.failure_count

    def to_json(self) -> dict[str, Any]:
        data = self.summary.to_json()
        data["stations"] = self.stations
        data["duration_s"] = round(self.elapsed_s, 3)
        data["loop_lag"] = self.lag.to_json()
        data["saturated"] = self.lag.saturated
        return data


class _FirstReasons:
    """A Summary that also tells the user at once, once per distinct reason, why stations fail
    (so a wrong URL is visible in the first second, not after the whole run)."""

    def __init__(self, summary: Summary, out: TextIO) -> None:
        self.summary = summary
        self.out = out
        self.seen: set[str] = set()

    def record(
        self, station: str, kind: str, name: str, rtt_ms: float, size: int, error: str | None
    ) -> None:
        self.summary.record(station, kind, name, rtt_ms, size, error)
        if error is not None and error not in self.seen and len(self.seen) < 10:
            self.seen.add(error)
            print(f"\nwarning: {station} {name}: {error}", file=self.out, flush=True)

    def state(self, station: str, version: str, old: State, new: State) -> None:
        self.summary.state(station, version, old, new)


async def run_fleet(
    scenario: Scenario,
    out: TextIO = sys.stderr,
    rng: random.Random | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the scenario's fleet for its duration (or until SIGINT/SIGTERM) and summarise it."""
    rng = rng or random.Random()
    loop = asyncio.get_running_loop()
    tune_gc()
    summary = Summary()
    sink = _FirstReasons(summary, out)
    stop = StopSwitch()
    finished = asyncio.Event()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        finished.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)

    count = scenario.stations.count
    stations = [make_station(scenario, index, sink) for index in range(1, count + 1)]
    for station in stations:
        summary.state(station.id, station.version, State.OFFLINE, State.OFFLINE)
    sessions: set[asyncio.Task[None]] = set()
    lag = LoopLag(scenario.run.lag_warn_ms, out)
    lag_task = loop.create_task(lag.run())
    started = loop.time()

    async def start_one(station: Any) -> None:
        if scenario.boot.jitter_s:
            await asyncio.sleep(rng.uniform(0, scenario.boot.jitter_s))
        await keep_connected(station, scenario.csms.url, stop, rng)

    async def ramp() -> None:
        for n, station in enumerate(stations):
            due = started + n / scenario.boot.ramp_per_s
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if stop.is_set():
                return
            task = loop.create_task(start_one(station))
            sessions.add(task)
            task.add_done_callback(sessions.discard)

    async def progress() -> None:
        last_messages, last_time = 0, loop.time()
        while True:
            await asyncio.sleep(scenario.run.progress_s)
            now = loop.time()
            rate = (summary.messages - last_messages) / max(now - last_time, 1e-9)
            last_messages, last_time = summary.messages, now
            line = progress_line(summary, now - started, rate, lag)
            (on_progress or (lambda text: print(text, file=out, flush=True)))(line)

    ramp_task = loop.create_task(ramp())
    progress_task = loop.create_task(progress())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), scenario.run.duration_s)
    elapsed = loop.time() - started
    final_states = summary.station_counts()
    ramp_task.cancel()
    progress_task.cancel()
    lag_task.cancel()
    stop.set()
    if sessions:
        _, late = await asyncio.wait(set(sessions), timeout=SHUTDOWN_GRACE_S)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
    return RunResult(summary, final_states, elapsed, interrupted, lag)


def progress_line(summary: Summary, elapsed_s: float, messages_per_s: float, lag: LoopLag) -> str:
    states = summary.states
    connected = sum(states[s] for s in CONNECTED_STATES)
    offline = states[State.OFFLINE] + states[State.CONNECTING]
    return (
        f"[{elapsed_s:7.1f}s] connected {connected} | accepted {states[State.ACCEPTED]} "
        f"pending {states[State.PENDING]} rejected {states[State.REJECTED]} offline {offline} "
        f"| {messages_per_s:.1f} msg/s | failures {summary.failure_count} "
        f"| loop lag p99 {lag.recent_p99():.0f} ms"
    )


def format_report(result: RunResult) -> str:
    """The end-of-run table a user reads: one row per action, then stations and failures."""
    rows = result.summary.to_json()["actions"]
    width = max([len("action"), *(len(k) for k in rows)])
    lines = [
        f"{'action':<{width}}  {'count':>8}  {'failures':>8}  "
        f"{'p50 ms':>9}  {'p95 ms':>9}  {'p99 ms':>9}"
    ]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for name, row in rows.items():
        lines.append(
            f"{name:<{width}}  {row['count']:>8}  {row['failures']:>8}  {ms(row['p50_ms']):>9}  "
            f"{ms(row['p95_ms']):>9}  {ms(row['p99_ms']):>9}"
        )
    s = result.stations
    lines.append("")
    lines.append(
        f"stations: {s['total']} total, {s['accepted']} accepted, {s['pending']} pending, "
        f"{s['rejected']} rejected, {s['offline']} offline  ({result.elapsed_s:.1f} s"
        f"{', interrupted' if result.interrupted else ''})"
    )
    lag = result.lag.to_json()
    lines.append(
        f"event-loop lag: p50 {lag['p50_ms'] or 0:g} ms, p99 {lag['p99_ms'] or 0:g} ms, "
        f"max {lag['max_ms']:g} ms"
        + ("  (SATURATED: latencies include fleet's own delay)" if result.lag.saturated else "")
    )
    reasons = result.summary.failure_reasons
    lines.append(f"failures: {result.failures}")
    for reason, n in reasons.most_common(10):
        lines.append(f"  {n:>6} × {reason}")
    if len(reasons) > 10:
        lines.append(f"  ... and {len(reasons) - 10} more kinds")
    return "\n".join(lines)
