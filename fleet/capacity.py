"""A capacity search: how many stations does the CSMS hold? Pure decisions: which step comes
next, and what the steps measured add up to. ``runner`` carries them out on a running fleet.

The fleet grows by ``step`` stations at a time. Each step is judged on its own window: the new
stations are ramped in, given ``settle_s`` to boot (their boot storm is not the steady state the
gates speak of), then measured for ``hold_s``. The first step whose window breaks a gate ends the
search: the CSMS held the step before. A step where fleet itself was the bottleneck (its event
loop late, samples tainted) ends it too, without a verdict on the CSMS: figures taken while the
simulator lags measure the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.metrics.actions import WireView
from fleet.metrics.report import DISTRUST_SHARE
from fleet.metrics.sample import LOOP_LAG
from fleet.metrics.since import Mark
from fleet.metrics.stats import FleetStats
from fleet.slo import Slo, SloResult, evaluate


@dataclass(frozen=True, slots=True)
class Plan:
    step: int  # stations added per step
    maximum: int  # the most stations the search may run
    hold_s: float = 60.0  # each step's measured window
    settle_s: float = 10.0  # after a step's stations are started, before its window opens
    gates: tuple[Slo, ...] = ()  # what every step's window must hold (--slo)
    lag_warn_ms: float = 50.0  # fleet's loop lag beyond which a broken step is fleet's (run.)

    def targets(self) -> list[int]:
        """The station count of every step, the last one the maximum."""
        counts = list(range(self.step, self.maximum, self.step))
        return [*counts, self.maximum]


@dataclass(slots=True)
class Step:
    """What one step's window measured."""

    stations: int
    messages: int  # OCPP CALLs answered or failed in the window
    window_s: float
    gates: list[SloResult]
    simulator: str | None = None  # why fleet, not the CSMS, was the limit (None: it was not)
    lag_p99_ms: float | None = None  # fleet's own event-loop lag in the window
    tainted: float = 0.0  # share of the window's samples that overlapped fleet's stalls

    @property
    def held(self) -> bool:
        return self.simulator is None and all(gate.ok for gate in self.gates)

    def line(self) -> str:
        rate = self.messages / self.window_s if self.window_s > 0 else 0.0
        verdict = "held" if self.held else ("SIMULATOR-BOUND" if self.simulator else "BROKE")
        gates = "; ".join(_gate(gate) for gate in self.gates)
        text = f"capacity step: {self.stations} stations, {rate:.1f} msg/s: {verdict} ({gates})"
        if self.simulator:
            return f"{text}; {self.simulator}"
        lag = "-" if self.lag_p99_ms is None else f"{self.lag_p99_ms:.1f} ms"
        return f"{text}; fleet: loop lag p99 {lag}, tainted {100 * self.tainted:.1f} %"

    def to_json(self) -> dict[str, Any]:
        return {
            "stations": self.stations,
            "messages": self.messages,
            "window_s": round(self.window_s, 3),
            "held": self.held,
            "simulator": self.simulator,
            "loop_lag_p99_ms": self.lag_p99_ms,
            "tainted_pct": round(100 * self.tainted, 2),
            "gates": [gate.to_json() for gate in self.gates],
        }


@dataclass(slots=True)
class Window:
    """A step's measured window while it is open: the statistics' counts when it opened."""

    stations: int
    mark: Mark
    opened: float


@dataclass(slots=True)
class Search:
    """The steps so far. ``fleet run`` and the Locust shape drive it alike: ``next_target()``,
    start that many stations, wait ``settle_s``, ``open()``, wait ``hold_s``, ``close()``."""

    plan: Plan
    steps: list[Step] = field(default_factory=list)
    window: Window | None = None  # the current step's, once its stations have settled

    def next_target(self) -> int | None:
        """How many stations the next step runs; None once the search is over."""
        if self.steps and not self.steps[-1].held:
            return None
        targets = self.plan.targets()
        return targets[len(self.steps)] if len(self.steps) < len(targets) else None

    def judged(self, step: Step) -> None:
        self.steps.append(step)

    def open(self, stations: int, stats: FleetStats, now: float) -> None:
        """The window of the step running ``stations`` opens: what comes after is its own."""
        self.window = Window(stations, Mark(stats), now)

    def so_far(self, stats: FleetStats, now: float, accepted: int) -> Step | None:
        """The open window judged as it stands (the Fleet tab, live); None when none is open.
        ``accepted``: the stations Accepted now."""
        window, plan = self.window, self.plan
        if window is None:
            return None
        since = window.mark.since(stats)
        share = accepted / window.stations
        return judge(
            window.stations, since, now - window.opened, list(plan.gates), share, plan.lag_warn_ms
        )

    def close(self, stats: FleetStats, now: float, accepted: int) -> Step:
        """The open window judged and recorded as the step's."""
        step = self.so_far(stats, now, accepted)
        assert step is not None, "close() without open()"
        self.window = None
        self.judged(step)
        return step

    @property
    def held(self) -> int | None:
        """The most stations a step held (None: not even the first)."""
        return max((s.stations for s in self.steps if s.held), default=None)

    def verdict(self) -> str:
        """The search's outcome in one sentence."""
        if not self.steps:
            return "capacity: no step was measured (the run ended first)"
        last, held = self.steps[-1], self.held
        held_text = f"held {held} stations" if held is not None else "held no step"
        unmeasured = self.next_target()
        if unmeasured is not None:  # stopped (Ctrl-C, the web UI) before the search ended
            return f"capacity: {held_text} so far; stopped before the step of {unmeasured}"
        if last.held:
            return (
                f"capacity: {held_text}, every step up to the maximum: the CSMS was not "
                f"pushed to its limit (raise --stations beyond {self.plan.maximum})"
            )
        if last.simulator is not None:
            return (
                f"capacity: {held_text}; at {last.stations} fleet itself was the limit, not the "
                "CSMS (run more processes or workers to go further)"
            )
        failed = ", ".join(_gate(g) for g in last.gates if not g.ok)
        return f"capacity: {held_text}; broke at {last.stations}: {failed}"

    def to_json(self, current: Step | None = None) -> dict[str, Any]:
        """The search; ``current``: while it runs, the open window as it stands (``so_far``)."""
        last = self.steps[-1] if self.steps else None
        running = self.next_target()
        broke = last.stations if last is not None and not last.held else None
        return {
            "held": self.held,
            "broke_at": broke if last is not None and last.simulator is None else None,
            "simulator_bound_at": broke if last is not None and last.simulator else None,
            "step": self.plan.step,
            "hold_s": self.plan.hold_s,
            "settle_s": self.plan.settle_s,
            "steps": [s.to_json() for s in self.steps],
            "verdict": self.verdict(),
            # The step under way, or the one a stop came before (None: the search is over).
            "running": None
            if running is None
            else {
                "stations": running,
                "measuring": self.window is not None,
                "so_far": None if current is None else current.to_json(),
            },
        }


def judge(
    stations: int,
    window: FleetStats,
    window_s: float,
    gates: list[Slo],
    accepted_share: float | None,
    lag_warn_ms: float,
) -> Step:
    """One step's window against the gates (``window``: ``since.Mark.since``). A step that
    broke a gate fleet's delay could have broken while fleet itself lagged (its event loop late
    beyond ``lag_warn_ms`` at p99, or 1 % of the samples overlapping its stalls) is put down to
    the simulator, not the CSMS; a step that held despite fleet's lag held (its delays only
    make the figures worse)."""
    wire = WireView(window, window_s)
    results = [evaluate(gate, wire, window, accepted_share) for gate in gates]
    messages = sum(row.count for row in window.wire_rows(None))
    lag = window.timings.get(LOOP_LAG)
    lag_p99 = lag.percentile(99) if lag is not None else None
    tainted = window.tainted_share() or 0.0
    simulator = None
    broke = any(not result.ok and _fleet_could_break(result.slo) for result in results)
    if broke and lag_p99 is not None and lag_p99 > lag_warn_ms:
        simulator = f"fleet's event loop ran {lag_p99:.0f} ms late (p99) in the window"
    elif broke and tainted >= DISTRUST_SHARE:
        simulator = f"{100 * tainted:.0f} % of the samples overlapped fleet's own stalls"
    return Step(stations, messages, window_s, results, simulator, lag_p99, tainted)


def _fleet_could_break(slo: Slo) -> bool:
    """Whether fleet's own delay can push this gate's figure the failing way: latencies, failures
    (timeouts), missed beats and lower rates can; more messages than allowed, or the CSMS's
    schema violations, cannot."""
    if slo.metric == "rps":
        return slo.op in (">", ">=")
    return slo.metric != "violations"


def _gate(gate: SloResult) -> str:
    measured = "no data" if gate.value is None else gate.slo.describe(gate.value)
    return f"{gate.slo.text}: {measured}"
