"""The capacity search under Locust: a LoadTestShape that grows the users (stations) step by
step and judges each step's window on the --slo gates, as ``fleet run --capacity`` does.

    fleet locust --scenario scenarios/default.yaml --host ws://csms/ocpp --headless \\
        --capacity 1000 --capacity-hold 120 --slo "p95(Heartbeat) < 500ms"

``--capacity STEP`` installs the shape (a locustfile shape of its own is refused with it). The
most stations the search may run is the scenario's ``stations.count`` (Locust applies no -u to
a shape), the spawn rate its ``boot.ramp_per_s``. The decisions are ``fleet.capacity``'s; the
window is every worker's statistics merged, as the master holds them. Subclass ``Capacity`` in
a locustfile to fix its values there instead (``step``, ``hold_s``, ``settle_s``, ``maximum``).
"""

from __future__ import annotations

from typing import ClassVar

from fleet.capacity import Plan, Search, Step
from fleet.locust_ext.state import FleetState, station_counts
from fleet.shapes import ScenarioShape


class Capacity(ScenarioShape):
    """Steps of ``step`` stations up to ``maximum``: ramp, ``settle_s``, measured ``hold_s``."""

    step: ClassVar[int] = 1000
    hold_s: ClassVar[float] = 60.0
    settle_s: ClassVar[float] = 10.0
    maximum: ClassVar[int | None] = None  # None: the scenario's stations.count

    def __init__(self) -> None:
        super().__init__()
        self._search: Search | None = None
        self._target = 0  # stations the current step runs
        self._measure_at: float | None = None  # run time its window opens

    def reset_time(self) -> None:
        """Locust calls this at every start: each start (the web UI's too) is a new search."""
        super().reset_time()
        self._search = None
        self._target = 0
        self._measure_at = None

    def so_far(self) -> Step | None:
        """The open window as it stands (the Fleet tab, live); None between windows."""
        if self._search is None or self.runner is None:
            return None
        environment = self.runner.environment
        state = FleetState.of(environment)
        accepted = station_counts(state.table(environment))["accepted"]
        return self._search.so_far(state.stats(environment), self.get_run_time(), accepted)

    def plan(self) -> Plan:
        """The class's values, with the command line's over them; the --slo gates."""
        assert self.runner is not None
        environment = self.runner.environment
        options, state = environment.parsed_options, FleetState.of(environment)
        step = getattr(options, "capacity", None) or self.step
        maximum = self.maximum or self.fleet_scenario().stations.count
        hold = getattr(options, "capacity_hold", None)
        settle = getattr(options, "capacity_settle", None)
        return Plan(
            min(step, maximum),
            maximum,
            self.hold_s if hold is None else hold,
            self.settle_s if settle is None else settle,
            tuple(state.slos),
            state.lag_warn_ms,
        )

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        environment = self.runner.environment
        state = FleetState.of(environment)
        if self._search is None:
            self._search = state.capacity = Search(self.plan())
        now = self.get_run_time()
        rate = self.fleet_scenario().boot.ramp_per_s
        if self._measure_at is None:  # a new step
            target = self._search.next_target()
            if target is None:
                return None
            self._measure_at = now + (target - self._target) / rate + self._search.plan.settle_s
            self._target = target
        elif self._search.window is None:
            if now >= self._measure_at:
                self._search.open(self._target, state.stats(environment), now)
        elif now >= self._search.window.opened + self._search.plan.hold_s:
            accepted = station_counts(state.table(environment))["accepted"]
            step = self._search.close(state.stats(environment), now, accepted)
            print(step.line(), flush=True)
            self._measure_at = None
            return self.tick()
        return self._target, rate
