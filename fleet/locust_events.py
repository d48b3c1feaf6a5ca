"""fleet's listeners on Locust's events: options, fail-fast checks, fleet-state tab, SLO gates,
JSON summary. Imported by ``fleet.users``, so every locustfile using ChargePointUser gets them.

Everything enters through Locust's events (``init_command_line_parser``, ``init``,
``test_stopping``, ``report_to_master``/``worker_report``, ``quitting``); nothing reaches into
the runner beyond what those events hand over.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC, StatsEntry

from fleet.bridge import current_bridge
from fleet.errors import FleetError
from fleet.metrics import State, stations_block
from fleet.slo import Slo, SloResult, evaluate, parse_slo
from fleet.wire import VERSIONS

logger = logging.getLogger("fleet.locust")

DEFAULT_ID_STRIDE = 100_000


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_: Any) -> None:
    # On the parser itself: Locust's include_in_web_ui works there, not on argument groups.
    parser.add_argument(
        "--scenario",
        default="",
        env_var="FLEET_SCENARIO",
        metavar="FILE",
        help="fleet scenario YAML for ChargePointUser classes without their own `scenario`",
    )
    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        env_var="FLEET_SLO",
        metavar="EXPR",
        include_in_web_ui=False,
        help="SLO gate, repeatable: 'p95(BootNotification) < 500ms', 'fail_ratio < 0.01', "
        "'accepted >= 99%%'. Any failing gate makes the exit code 1. "
        "Env: FLEET_SLO='[gate 1, gate 2]'",
    )
    parser.add_argument(
        "--summary-json",
        default="",
        env_var="FLEET_SUMMARY_JSON",
        metavar="FILE",
        help="write stations, per-action latencies, failures and SLO results as JSON at the end",
    )
    parser.add_argument(
        "--fleet-trace",
        default="",
        env_var="FLEET_TRACE",
        metavar="IDS",
        help="log every frame of these stations, e.g. CP-00001,CP-00002 (overrides run.trace)",
    )
    parser.add_argument(
        "--fleet-id-stride",
        type=int,
        env_var="FLEET_ID_STRIDE",
        default=DEFAULT_ID_STRIDE,
        metavar="N",
        help="station index = worker index x N + user number, so ids stay unique across workers",
    )


# --- fail fast -----------------------------------------------------------------------------------


def fail(message: str) -> None:
    """A fleet error before anything runs: one line, exit 2, no traceback."""
    print(f"fleet: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    from fleet.users import ChargePointUser, scenario_for

    options = environment.parsed_options
    state = FleetState.of(environment)
    if options is None:
        return
    # Locust logs at INFO: per-station events (10,000 stations, 10,000 lines) and the ocpp
    # library's per-frame lines stay quiet unless --loglevel DEBUG.
    if str(getattr(options, "loglevel", "INFO")).upper() != "DEBUG":
        for name in ("fleet.station", "ocpp", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        state.slos = [parse_slo(text) for text in getattr(options, "slo", [])]
        for user_class in environment.user_classes:
            if issubclass(user_class, ChargePointUser):
                scenario_for(user_class, environment)
    except FleetError as exc:
        fail(str(exc))
    if getattr(options, "fleet_id_stride", DEFAULT_ID_STRIDE) <= 0:
        fail("--fleet-id-stride must be a positive integer")
    if isinstance(environment.runner, MasterRunner):
        _collect_worker_reports(environment)
    if environment.web_ui is not None:
        _extend_web_ui(environment)


# --- fleet state: live, per worker, aggregated on the master -------------------------------------


class FleetState:
    """Station counts as the master (or a local run) sees them."""

    def __init__(self) -> None:
        self.slos: list[Slo] = []
        self.worker_states: dict[str, dict[str, Any]] = {}
        self.final_local: dict[str, dict[str, int]] | None = None

    @staticmethod
    def of(environment: Environment) -> FleetState:
        state = getattr(environment, "_fleet_state", None)
        if state is None:
            state = FleetState()
            environment._fleet_state = state  # type: ignore[attr-defined]
        return state

    def table(self, environment: Environment, final: bool = False) -> dict[str, dict[str, int]]:
        """{version: {state: count}}: this process's stations, or the sum of all workers'."""
        if isinstance(environment.runner, MasterRunner):
            total = _empty_table()
            for report in self.worker_states.values():
                part = (report.get("final") if final else None) or report.get("states") or {}
                for version, counts in part.items():
                    for state, n in counts.items():
                        total[version][state] += n
            return total
        if final and self.final_local is not None:
            return self.final_local
        bridge = current_bridge()
        return bridge.states.snapshot() if bridge is not None else _empty_table()

    def lag(self, environment: Environment) -> dict[str, Any]:
        """Worst event-loop lag p99 over this process or all workers, and whether any saturated."""
        if isinstance(environment.runner, MasterRunner):
            reports = [r.get("lag") or {} for r in self.worker_states.values()]
        else:
            bridge = current_bridge()
            reports = [bridge.lag.report()] if bridge is not None else []
        p99s = [r["p99_ms"] for r in reports if r.get("p99_ms") is not None]
        return {
            "p99_ms": max(p99s) if p99s else None,
            "saturated": any(r.get("saturated") for r in reports),
        }


def _empty_table() -> dict[str, dict[str, int]]:
    return {v: {s.value: 0 for s in State} for v in VERSIONS}


def station_counts(table: dict[str, dict[str, int]]) -> dict[str, int]:
    """The summary's "stations" block from a {version: {state: count}} table."""
    return stations_block({s: sum(table[v][s.value] for v in table) for s in State})


@events.test_stopping.add_listener
def _snapshot_before_stop(environment: Environment, **_: Any) -> None:
    # Taken before users stop: "accepted" means accepted while the test ran, not after closing.
    if isinstance(environment.runner, MasterRunner):
        return
    bridge = current_bridge()
    if bridge is not None:
        bridge.states.final = bridge.states.snapshot()
        FleetState.of(environment).final_local = bridge.states.final


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    bridge = current_bridge()
    if bridge is not None:
        data["fleet"] = {
            "states": bridge.states.snapshot(),
            "final": bridge.states.final,
            "lag": bridge.lag.report(),
        }


def _collect_worker_reports(environment: Environment) -> None:
    """On the master: keep each worker's latest counts (and its snapshot from the test's stop)."""
    state = FleetState.of(environment)

    def collect(client_id: str, data: dict[str, Any], **_: Any) -> None:
        report = data.get("fleet")
        if report is None:
            return
        previous = state.worker_states.get(client_id, {})
        if report.get("final") is None and previous.get("final") is not None:
            report["final"] = previous["final"]
        state.worker_states[client_id] = report

    environment.events.worker_report.add_listener(collect)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    state = FleetState.of(environment)
    for report in state.worker_states.values():
        report["final"] = None
    state.final_local = None
    bridge = current_bridge()
    if bridge is not None:
        bridge.states.final = None


# --- web UI --------------------------------------------------------------------------------------


def _state_rows(table: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for state in State:
        row: dict[str, Any] = {"state": state.value}
        for version in VERSIONS:
            row[f"ocpp{version}"] = table[version][state.value]
        row["total"] = sum(table[v][state.value] for v in VERSIONS)
        rows.append(row)
    return rows


def _extend_web_ui(environment: Environment) -> None:
    from flask import jsonify, request

    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    state = FleetState.of(environment)

    @web_ui.app.route("/fleet/state")
    def fleet_state() -> Any:
        table = state.table(environment)
        return jsonify({"stations": station_counts(table), "versions": table})

    @web_ui.app.after_request
    def add_fleet_tab(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        body = response.get_json()
        extended = [s for s in body.get("extended_stats", []) if s.get("key") != "fleet"]
        extended.append({"key": "fleet", "data": _state_rows(state.table(environment))})
        body["extended_stats"] = extended
        response.set_data(orjson.dumps(body))
        return response

    web_ui.template_args["extended_tabs"] = [{"title": "Fleet", "key": "fleet"}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": "fleet",
            "structure": [
                {"key": "state", "title": "Station state"},
                *({"key": f"ocpp{v}", "title": f"OCPP {v}"} for v in VERSIONS),
                {"key": "total", "title": "Total"},
            ],
        }
    ]


# --- end of run: SLO gates and the JSON summary ---------------------------------------------


class LocustMeasurements:
    """The SLO gates' view of Locust's stats. Actions are matched by name across request types
    (a BootNotification row exists per OCPP version); no action means all requests."""

    def __init__(self, environment: Environment, accepted_share: float | None) -> None:
        self.stats = environment.stats
        self._accepted_share = accepted_share

    def _entry(self, action: str | None) -> StatsEntry | None:
        if action is None:
            return self.stats.total if self.stats.total.num_requests else None
        matches = [e for (name, _), e in self.stats.entries.items() if name == action]
        if not matches:
            return None
        combined = StatsEntry(self.stats, action, "", use_response_times_cache=False)
        for entry in matches:
            combined.extend(entry)
        return combined

    def percentile_ms(self, action: str | None, fraction: float) -> float | None:
        entry = self._entry(action)
        if entry is None or entry.num_requests - entry.num_failures <= 0:
            return None
        return float(entry.get_response_time_percentile(fraction))

    def latency_ms(self, action: str | None, kind: str) -> float | None:
        entry = self._entry(action)
        if entry is None or entry.num_requests - entry.num_failures <= 0:
            return None
        if kind == "avg":
            return float(entry.avg_response_time)
        return float(entry.max_response_time if kind == "max" else entry.min_response_time or 0)

    def fail_ratio(self, action: str | None) -> float | None:
        entry = self._entry(action)
        return None if entry is None else entry.fail_ratio

    def failures(self, action: str | None) -> int | None:
        entry = self._entry(action)
        if entry is None:
            return None if action is not None else 0
        return entry.num_failures

    def rps(self, action: str | None) -> float | None:
        entry = self._entry(action)
        return None if entry is None else float(entry.total_rps)

    def accepted_share(self) -> float | None:
        return self._accepted_share


def summary_json(environment: Environment, results: list[SloResult]) -> dict[str, Any]:
    stations = station_counts(FleetState.of(environment).table(environment, final=True))
    stats = environment.stats
    names = sorted({name for name, _ in stats.entries})
    measurements = LocustMeasurements(environment, None)
    actions = {}
    for name in names:
        entry = measurements._entry(name)
        assert entry is not None
        ok = entry.num_requests - entry.num_failures > 0

        def pct(q: float, entry: StatsEntry = entry, ok: bool = ok) -> float | None:
            return float(entry.get_response_time_percentile(q)) if ok else None

        actions[name] = {
            "count": entry.num_requests,
            "failures": entry.num_failures,
            "rps": round(float(entry.total_rps), 3),
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
        }
    failures = [
        {"action": error.name, "reason": error.error, "occurrences": error.occurrences}
        for error in list(stats.errors.values())[:100]
    ]
    lag = FleetState.of(environment).lag(environment)
    return {
        "stations": stations,
        "actions": actions,
        "failures": failures,
        "slo": [result.to_json() for result in results],
        "loop_lag_p99_ms": lag["p99_ms"],
        "saturated": lag["saturated"],
    }


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the local runner) holds the whole run's numbers
    bridge = current_bridge()
    if bridge is not None:
        bridge.drain()  # any sample still queued counts
    options = environment.parsed_options
    if options is not None and getattr(options, "csv_prefix", None):
        # Locust's CSV writer rewrites the files every CSV_STATS_INTERVAL_SEC and is closed at
        # exit without a last write: the stations' final exchanges (reported while users stop)
        # would be missing from the CSV. Let it run once more.
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)
    state = FleetState.of(environment)
    counts = station_counts(state.table(environment, final=True))
    share = counts["accepted"] / counts["total"] if counts["total"] else None
    results = [evaluate(slo, LocustMeasurements(environment, share)) for slo in state.slos]
    for result in results:
        print(result.line(), file=sys.stderr if not result.ok else sys.stdout, flush=True)
    if results:
        environment.process_exit_code = 0 if all(r.ok for r in results) else 1
    target = getattr(options, "summary_json", "") if options is not None else ""
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            orjson.dumps(summary_json(environment, results), option=orjson.OPT_INDENT_2)
        )
