"""What fleet knows of a Locust run, as the master (or a local runner) sees it: stations per
state, fleet's statistics (this process's, or every worker's merged), the SLO gates and their
last results, and a short history for the Fleet tab's charts."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Final

from locust.env import Environment
from locust.runners import MasterRunner

from fleet.capacity import Search
from fleet.locust_ext.bridge import current_bridge
from fleet.metrics.charts import WINDOW_S
from fleet.metrics.sample import CHARGING
from fleet.metrics.stats import FleetStats
from fleet.metrics.summary import stations_block
from fleet.metrics.windows import Windows
from fleet.slo import Slo, SloResult
from fleet.station.state import State
from fleet.wire import VERSIONS

PARSED: Final = "parsed_stats"  # a worker report's statistics as parsed on the master
HISTORY_POINTS: Final = 1800  # at one point per CHART_EVERY_S (2 s): an hour of charts


def empty_table() -> dict[str, dict[str, int]]:
    return {v: {**{s.value: 0 for s in State}, CHARGING: 0} for v in VERSIONS}


def charging_counts(table: dict[str, dict[str, int]]) -> dict[str, int]:
    """Stations with a session running, per version, from a table."""
    return {version: row.get(CHARGING, 0) for version, row in table.items()}


def station_counts(table: dict[str, dict[str, int]]) -> dict[str, int]:
    """The summary's "stations" block from a {version: {state: count}} table."""
    return stations_block({s: sum(table[v][s.value] for v in table) for s in State})


class FleetState:
    def __init__(self) -> None:
        self.slos: list[Slo] = []
        self.lag_warn_ms = 50.0  # the scenario's run.lag_warn_ms (the first user class's)
        self.on_violation = "report"
        self.progress_s = 5.0  # the scenario's run.progress_s: fleet's line in headless runs
        self.worker_reports: dict[str, dict[str, Any]] = {}  # master: each worker's latest
        self.final_local: dict[str, dict[str, int]] | None = None  # at the test's stop
        self.results: list[SloResult] | None = None  # the gates at the last stop
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_POINTS)
        self.windows = Windows(WINDOW_S)  # the charts' percentiles over the last seconds
        self.started_at: float | None = None
        self.stopped_at: float | None = None  # when the test began stopping (test_stopping)
        self.capacity: Search | None = None  # --capacity: the search's steps so far

    @staticmethod
    def of(environment: Environment) -> FleetState:
        state = getattr(environment, "_fleet_state", None)
        if state is None:
            state = FleetState()
            environment._fleet_state = state  # type: ignore[attr-defined]
        return state

    def new_test(self) -> None:
        for report in self.worker_reports.values():
            report["final"] = None
        self.final_local = None
        self.results = None
        self.history.clear()
        self.windows.reset()
        self.started_at = time.time()
        self.stopped_at = None

    def elapsed_s(self) -> float:
        """How long the test has run (until it began stopping): the rates' denominator."""
        if self.started_at is None:
            return 0.0
        return (self.stopped_at or time.time()) - self.started_at

    def table(self, environment: Environment, final: bool = False) -> dict[str, dict[str, int]]:
        """{version: {state: count}}: this process's stations, or the sum of all workers'.
        ``final``: as the test stopped (before its stations closed), when it has stopped."""
        if isinstance(environment.runner, MasterRunner):
            total = empty_table()
            for report in self.worker_reports.values():
                part = (report.get("final") if final else None) or report.get("states") or {}
                for version, counts in part.items():
                    for state, n in counts.items():
                        total[version][state] = total[version].get(state, 0) + n
            return total
        if final and self.final_local is not None:
            return self.final_local
        bridge = current_bridge()
        return bridge.states.snapshot() if bridge is not None else empty_table()

    def stats(self, environment: Environment) -> FleetStats:
        """fleet's statistics: this process's (drained first), or every worker's merged."""
        if isinstance(environment.runner, MasterRunner):
            merged = FleetStats()
            for part in self.worker_stats().values():
                merged.merge(part)
            return merged
        bridge = current_bridge()
        if bridge is None:
            return FleetStats()
        bridge.flush()
        return bridge.stats

    def worker_stats(self) -> dict[str, FleetStats]:
        """Each worker's own statistics (on a master; none elsewhere), by worker id. A report
        is parsed once, by the first reader after it came (a summary, a scrape and the Fleet
        tab each read them all)."""
        parsed = {}
        for client_id, report in self.worker_reports.items():
            if not report.get("stats"):
                continue
            stats = report.get(PARSED)
            if stats is None:
                stats = report[PARSED] = FleetStats.from_dict(report["stats"])
            parsed[client_id] = stats
        return parsed

    def worker_report(self, client_id: str, report: dict[str, Any]) -> None:
        previous = self.worker_reports.get(client_id, {})
        if report.get("final") is None and previous.get("final") is not None:
            report["final"] = previous["final"]
        report["received_at"] = time.monotonic()
        self.worker_reports[client_id] = report
