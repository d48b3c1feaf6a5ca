"""The headless fleet: every station of a scenario on one uvloop event loop, no Locust.

Ramps stations up at the scenario's rate, prints a progress line every few seconds, keeps the
fleet up for the run's duration, then closes every websocket cleanly and reports the wire
exchanges per action, fleet's own statistics and the CSMS's conformance (and, on request, the
same data as JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from fleet.capacity import Search
from fleet.errors import UsageError
from fleet.ledger_client import fetch_ledgers
from fleet.metrics import report
from fleet.metrics.actions import actions_json
from fleet.metrics.health import LoopHealth
from fleet.metrics.otel import FleetInstruments
from fleet.metrics.reconcile import ledger_line, reconcile
from fleet.metrics.sample import LOOP_LAG, Violation
from fleet.metrics.summary import Summary
from fleet.metrics_server import serve_metrics
from fleet.process import RampFreezer, tune_gc
from fleet.scenario import Scenario
from fleet.slo import Slo
from fleet.station.security import tooling_context
from fleet.station.session import StopSwitch, keep_connected, make_station
from fleet.station.state import CONNECTED_STATES, State
from fleet.station.storms import boot_storm

SHUTDOWN_GRACE_S = 10.0
OTEL_PUMP_S = 1.0  # --otel: how often new samples are recorded into the OTel instruments


@dataclass(slots=True)
class RunResult:
    summary: Summary
    stations: dict[str, int]  # final states, taken before the fleet is stopped
    charging: dict[str, int]  # stations charging per version, taken with the states
    elapsed_s: float
    interrupted: bool
    health: LoopHealth
    on_violation: str
    ledgers: list[dict[str, Any]] | None = None  # the embedded CSMS's transactions, if asked
    capacity: Search | None = None  # the capacity search's steps (fleet run --capacity)

    @property
    def failures(self) -> int:
        return self.summary.failure_count

    def to_json(self) -> dict[str, Any]:
        summary = self.summary
        actions = actions_json(summary.stats, self.elapsed_s)
        delivery = summary.stats.delivery_json()
        return {
            "stations": self.stations,
            "actions": actions,
            "security": report.security_json(actions),
            **report.fleet_sections(summary.stats, self.on_violation),
            "sessions": report.sessions_block(summary.stats, self.charging),
            "failures": summary.failures,
            "untrusted": report.distrust(actions, self.health.threshold_ms),
            "duration_s": round(self.elapsed_s, 3),
            "loop_lag": self.health.to_json(),
            "saturated": self.health.saturated,
            "ledger": None if self.ledgers is None else reconcile(delivery, self.ledgers),
            "capacity": None if self.capacity is None else self.capacity.to_json(),
        }


class _FirstReasons(Summary):
    """A Summary that also tells the user at once, once per distinct reason, why stations fail
    or how the CSMS breaks OCPP (so a wrong URL is visible in the first second, not after the
    whole run)."""

    def __init__(self, health: LoopHealth, out: TextIO) -> None:
        super().__init__(health)
        self.out = out
        self.seen: set[str] = set()

    def _failure(self, station: str, row: str, reason: str) -> None:
        super()._failure(station, row, reason)
        self._tell(f"{station} {row}: {reason}")

    def violation(self, station: str, violation: Violation) -> None:
        super().violation(station, violation)
        where = f"{violation.action}.{violation.field}" if violation.field else violation.action
        self._tell(
            f"{station}: CSMS violation in {violation.direction} {where}: {violation.rule} "
            f"(wanted {violation.wanted})"
        )

    def _tell(self, line: str) -> None:
        key = line.split(" ", 1)[1]
        if key not in self.seen and len(self.seen) < 10:
            self.seen.add(key)
            print(f"\nwarning: {line}", file=self.out, flush=True)


async def run_fleet(
    scenario: Scenario,
    out: TextIO = sys.stderr,
    rng: random.Random | None = None,
    on_progress: Callable[[str], None] | None = None,
    meter_provider: Any = None,
    search: Search | None = None,
    gates: Sequence[Slo] = (),
) -> RunResult:
    """Run the scenario's fleet for its duration (or until SIGINT/SIGTERM) and summarise it.
    With ``search``: grow the fleet step by step, judging each step on ``gates``, until the
    search is over (``capacity``); the duration does not apply."""
    rng = rng or random.Random()
    loop = asyncio.get_running_loop()
    tune_gc()
    health = LoopHealth(scenario.run.lag_warn_ms, out)
    summary = _FirstReasons(health, out)
    health.on_lag = lambda ms: summary.stats.timing(LOOP_LAG, ms)
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

    metrics = await _metrics_endpoint(scenario, summary)
    instruments = None
    if meter_provider is not None:  # --otel: fleet's instruments, pumped once a second
        instruments = FleetInstruments(
            meter_provider.get_meter("fleet"), lambda: (summary.stats, summary.versions_table())
        )
    count = scenario.stations.count
    stations = [make_station(scenario, index, summary) for index in range(1, count + 1)]
    if search is None:  # a capacity search counts its stations as it starts them
        for station in stations:
            summary.state(station.id, station.version, State.OFFLINE, State.OFFLINE)
    sessions: set[asyncio.Task[None]] = set()
    health.start(loop)
    started = loop.time()

    origin = time.time()  # storms strike from here
    all_at_once = boot_storm(scenario.storms)

    async def start_one(station: Any) -> None:
        if scenario.boot.jitter_s and not all_at_once:
            await asyncio.sleep(rng.uniform(0, scenario.boot.jitter_s))
        url = scenario.csms.url_for(station.version)
        await keep_connected(station, url, stop, rng, origin)

    freezer = RampFreezer()
    running = 0  # stations started so far

    async def start_up_to(target: int) -> None:
        nonlocal running
        first, began = running, loop.time()
        for n in range(first, target):
            due = began + (0 if all_at_once else (n - first) / scenario.boot.ramp_per_s)
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if stop.is_set():
                return
            freezer.started()
            station = stations[n]
            if search is not None:
                summary.state(station.id, station.version, State.OFFLINE, State.OFFLINE)
            task = loop.create_task(start_one(station))
            sessions.add(task)
            task.add_done_callback(sessions.discard)
            running = n + 1

    async def ramp() -> None:
        if search is None:
            await start_up_to(len(stations))
            return
        while (target := search.next_target()) is not None:
            await start_up_to(target)
            await asyncio.sleep(search.plan.settle_s)
            search.open(target, summary.stats, loop.time())
            await asyncio.sleep(search.plan.hold_s)
            accepted = summary.station_counts()["accepted"]
            step = search.close(summary.stats, loop.time(), accepted)
            print(step.line(), file=out, flush=True)
        finished.set()

    async def progress() -> None:
        last_messages, last_time = 0, loop.time()
        while True:
            await asyncio.sleep(scenario.run.progress_s)
            now = loop.time()
            rate = (summary.messages - last_messages) / max(now - last_time, 1e-9)
            last_messages, last_time = summary.messages, now
            line = progress_line(summary, now - started, rate, health)
            (on_progress or (lambda text: print(text, file=out, flush=True)))(line)

    async def pump() -> None:
        while instruments is not None:
            await asyncio.sleep(OTEL_PUMP_S)
            instruments.pump()

    ramp_task = loop.create_task(ramp())
    progress_task = loop.create_task(progress())
    pump_task = loop.create_task(pump())
    with contextlib.suppress(TimeoutError):
        duration = None if search is not None else scenario.run.duration_s
        await asyncio.wait_for(finished.wait(), duration)
    elapsed = loop.time() - started
    final_states = summary.station_counts()
    final_charging = dict(summary.charging)
    ramp_task.cancel()
    progress_task.cancel()
    pump_task.cancel()
    health.stop()
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
    if metrics is not None:
        metrics.close()
    if instruments is not None:
        instruments.pump()  # what the stations reported as they stopped
    return RunResult(
        summary,
        final_states,
        final_charging,
        elapsed,
        interrupted,
        health,
        scenario.csms.on_violation,
        await embedded_ledgers(scenario),
        search,
    )


async def _metrics_endpoint(scenario: Scenario, summary: Summary) -> asyncio.Server | None:
    """The Prometheus endpoint the scenario asks for (run.prometheus_port), or None."""
    port, host = scenario.run.prometheus_port, scenario.run.prometheus_host
    if not port:
        return None
    try:
        return await serve_metrics(host, port, lambda: (summary.stats, summary.versions_table()))
    except OSError as exc:
        raise UsageError(
            f"run.prometheus_port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None


async def embedded_ledgers(scenario: Scenario) -> list[dict[str, Any]] | None:
    """The transactions part of ``GET /ledger`` of each CSMS the fleet used, when every one is
    fleet's embedded CSMS on a loopback address; else None (not compared). Asked after the
    stations stopped, so the ledger holds everything they delivered."""
    urls = scenario.csms.urls()
    context = tooling_context(scenario.security, urls[0], scenario.station_id(1))
    return await asyncio.to_thread(fetch_ledgers, urls, context)


def progress_line(
    summary: Summary, elapsed_s: float, messages_per_s: float, health: LoopHealth
) -> str:
    states = summary.states
    connected = sum(states[s] for s in CONNECTED_STATES)
    offline = states[State.OFFLINE] + states[State.CONNECTING]
    stats = summary.stats
    tainted = stats.tainted_share()
    line = (
        f"[{elapsed_s:7.1f}s] connected {connected} | accepted {states[State.ACCEPTED]} "
        f"pending {states[State.PENDING]} rejected {states[State.REJECTED]} offline {offline} "
        f"| {messages_per_s:.1f} msg/s | failures {summary.failure_count} "
        f"| missed {stats.missed_total()} | violations {stats.conformance.total} "
        f"| loop lag p99 {health.recent_p99():.0f} ms, tainted {100 * (tainted or 0):.1f}%"
    )
    if stats.sessions:
        line += " | " + report.sessions_line(report.sessions_block(stats, summary.charging))
    return line


def format_report(result: RunResult) -> str:
    """The end-of-run report a user reads: wire exchanges per action, fleet's own statistics,
    missed beats, CSMS conformance, stations, lag, failures, and what not to trust."""
    data = result.to_json()
    lines = report.table(data["actions"], "action")
    if data["fleet"]:
        lines.append("")
        lines.extend(report.table(data["fleet"], "fleet's own statistics"))
    lines.append("")
    lines.extend(report.missed_lines(data["missed"]) or ["missed beats: 0"])
    lines.extend(report.answers_lines(data["answers"]))
    lines.extend(report.delivery_lines(data["delivery"]))
    lines.append(report.reconnects_line(data["reconnects"]))
    if (security := report.security_line(data.get("security"))) is not None:
        lines.append(security)
    lines.extend(report.refused_lines(data.get("connect_failures", {})))
    lines.append(ledger_line(data["ledger"]))
    lines.extend(report.conformance_lines(data["conformance"]))
    lines.append(report.sessions_line(data["sessions"]))
    s = result.stations
    lines.append(
        f"stations: {s['total']} total, {s['accepted']} accepted, {s['pending']} pending, "
        f"{s['rejected']} rejected, {s['offline']} offline  ({result.elapsed_s:.1f} s"
        f"{', interrupted' if result.interrupted else ''})"
    )
    lag = data["loop_lag"]
    lines.append(
        f"event-loop lag: p50 {lag['p50_ms'] or 0:g} ms, p99 {lag['p99_ms'] or 0:g} ms, "
        f"max {lag['max_ms']:g} ms, {lag['stalls']} stalls over {lag['threshold_ms']:g} ms"
        + ("  (SATURATED: latencies include fleet's own delay)" if result.health.saturated else "")
    )
    reasons = result.summary.failure_reasons
    lines.append(f"failures: {result.failures}")
    for reason, n in reasons.most_common(10):
        lines.append(f"  {n:>6} × {reason}")
    if len(reasons) > 10:
        lines.append(f"  ... and {len(reasons) - 10} more kinds")
    for line in data["untrusted"]:
        lines.append(f"NOT TO BE TRUSTED: {line}")
    return "\n".join(lines)
