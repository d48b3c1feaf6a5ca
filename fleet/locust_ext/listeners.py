"""fleet's listeners on Locust's events: fail-fast checks, fleet statistics per test, worker
reports, SLO gates, the summary JSON and CSV, the report additions.

Everything enters through Locust's events (``init``, ``test_start``, ``test_stopping``,
``test_stop``, ``report_to_master``/``worker_report``, custom messages, ``quitting``); nothing
reaches into the runner beyond what those events hand over.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from fleet.errors import FleetError
from fleet.locust_ext import console, options, otel, prometheus, web, worker_spawn
from fleet.locust_ext.bridge import current_bridge
from fleet.locust_ext.state import FleetState, charging_counts, station_counts
from fleet.locust_ext.summary import (
    end_lines,
    evaluate_gates,
    ledger_block,
    summary_json,
    write_fleet_csv,
)
from fleet.metrics import report
from fleet.metrics.sample import LOOP_LAG
from fleet.output_files import check_writable, write_json
from fleet.slo import SloResult, parse_slo

logger = logging.getLogger("fleet.locust")

CHART_EVERY_S: Final = 2.0
FINAL_REPORT = "fleet_final_report"  # worker -> master as a worker stops: its last figures
FINAL_REPORT_WAIT_S: Final = 5.0

worker_spawn.install()


def fail(message: str) -> None:
    """A fleet error before anything runs: one line, exit 2, no traceback."""
    print(f"fleet: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    from fleet.users import ChargePointUser, scenario_for

    options_ = environment.parsed_options
    state = FleetState.of(environment)
    if options_ is None:
        return
    # Locust logs at INFO: per-station events (10,000 stations, 10,000 lines) and the ocpp
    # library's per-frame lines stay quiet unless --loglevel DEBUG.
    if str(getattr(options_, "loglevel", "INFO")).upper() != "DEBUG":
        for name in ("fleet.station", "ocpp", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        state.slos = [parse_slo(text) for text in getattr(options_, "slo", [])]
        if getattr(options_, "summary_json", ""):
            check_writable(options_.summary_json, "--summary-json")
        scenarios = [
            scenario_for(user_class, environment)
            for user_class in environment.user_classes
            if issubclass(user_class, ChargePointUser)
        ]
    except FleetError as exc:
        fail(str(exc))
    users = getattr(options_, "num_users", None)
    if users and (getattr(options_, "headless", False) or getattr(options_, "autostart", False)):
        _check_ids(environment, scenarios, users)
    if scenarios:
        state.lag_warn_ms = scenarios[0].run.lag_warn_ms
        state.on_violation = scenarios[0].csms.on_violation
        state.progress_s = scenarios[0].run.progress_s
    if getattr(options_, "fleet_id_stride", options.DEFAULT_ID_STRIDE) <= 0:
        fail("--fleet-id-stride must be a positive integer")
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        _install_capacity(environment, state)
        _serve_metrics(environment, scenarios[0].run if scenarios else None)
    otel.start(environment)
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(
            lambda client_id, data, **_: _collect(state, client_id, data.get("fleet"))
        )
        runner.register_message(
            FINAL_REPORT, lambda msg, **_: _collect(state, msg.node_id, msg.data)
        )
    if not isinstance(runner, WorkerRunner):
        gevent.spawn(_chart_points, environment)
        if getattr(options_, "headless", False) and not getattr(options_, "only_summary", False):
            gevent.spawn(_progress_lines, environment)
    console.register(environment)
    if environment.web_ui is not None:
        web.extend(environment)
    # gevent's loop caches its clock, and start-up (imports, the scenarios, the listeners above)
    # ran without its hub: Locust's --run-time timer, set next from that cached clock, ended a
    # run early by the start-up's length (a -t 7s run stopped 2.4 s after it began on a busy
    # machine). The clock is read anew here.
    gevent.get_hub().loop.update_now()


def _check_ids(environment: Environment, scenarios: list[Any], users: int) -> None:
    """-u past the end of a scenario's ids_file: refused before anything connects."""
    from fleet.users import ids_problem

    runner, options_ = environment.runner, environment.parsed_options
    processes = getattr(options_, "processes", 0) or 0
    if isinstance(runner, WorkerRunner) and processes <= 0:
        return  # a worker started on its own: the master checks the whole run
    workers = 1
    if isinstance(runner, MasterRunner | WorkerRunner):
        # --processes: the master and its forked workers refuse alike (a worker left waiting
        # for a master that refused would wait a minute for its heartbeat)
        workers = max(processes, getattr(options_, "expect_workers", 1))
    problem = ids_problem(environment, scenarios, users, workers)
    if problem is not None:
        fail(f"-u {users}: {problem}")


def _install_capacity(environment: Environment, state: FleetState) -> None:
    """--capacity STEP: the capacity search is the test's shape."""
    from fleet.locust_ext.capacity_shape import Capacity

    step = getattr(environment.parsed_options, "capacity", 0) or 0
    shape = environment.shape_class
    if isinstance(shape, Capacity) and not state.slos:
        fail("a capacity search needs at least one --slo gate: what must a step hold?")
    if not step:
        return
    if step < 0:
        fail(f"--capacity {step}: a step is at least 1 station")
    if shape is not None and not isinstance(shape, Capacity):
        fail(f"--capacity: the locustfile has a shape of its own ({type(shape).__name__})")
    if not state.slos:
        fail("--capacity needs at least one --slo gate: what must a step hold?")
    if shape is None:
        environment.shape_class = shape = Capacity()
        shape.runner = environment.runner


def _serve_metrics(environment: Environment, run: Any) -> None:
    """The Prometheus endpoint, when --prometheus-port or the scenario's run section asks."""
    options_ = environment.parsed_options
    port = getattr(options_, "prometheus_port", 0) or (run.prometheus_port if run else 0)
    if not port:
        return
    host = getattr(options_, "prometheus_host", "") or (run.prometheus_host if run else "")
    if not 0 < port < 65536:
        fail(f"--prometheus-port: expected a port number, got {port}")
    try:
        prometheus.serve(environment, host, port)
    except OSError as exc:
        fail(f"--prometheus-port: cannot listen on {host or '0.0.0.0'}:{port}: {exc.strerror}")


def _collect(state: FleetState, client_id: str, report: dict[str, Any] | None) -> None:
    if report:
        state.worker_report(client_id, report)


def _worker_report() -> dict[str, Any] | None:
    bridge = current_bridge()
    if bridge is None:
        return None
    bridge.flush()
    return {
        "states": bridge.states.snapshot(),
        "final": bridge.states.final,
        "stats": bridge.stats.to_dict(),
    }


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    report = _worker_report()
    if report is not None:
        data["fleet"] = report


# --- one test: start, stopping, stop -------------------------------------------------------------


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    state = FleetState.of(environment)
    state.new_test()
    for worker in state.worker_reports.values():
        worker["stats"] = None  # the previous test's; every worker starts again
    bridge = current_bridge()
    if bridge is not None:
        bridge.states.final = None
        bridge.reset_stats()
        bridge.recording = True


@events.test_stopping.add_listener
def _snapshot_before_stop(environment: Environment, **_: Any) -> None:
    # Taken before users stop: "accepted" means accepted while the test ran, not after closing.
    # Closing thousands of websockets holds the loop (~1 s for 10,000): fleet's own business,
    # not the test's, so loop lag is no longer counted from here. Rates are per second of test.
    FleetState.of(environment).stopped_at = time.time()
    if isinstance(environment.runner, MasterRunner):
        return
    bridge = current_bridge()
    if bridge is not None:
        bridge.recording = False
        bridge.states.final = bridge.states.snapshot()
        FleetState.of(environment).final_local = bridge.states.final


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    bridge = current_bridge()
    if bridge is not None:
        bridge.freezer.thaw()  # its stations have stopped: collect what they left, once
    otel.pump(environment)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # Sent before the worker tells the master it stopped: the master's stop sees it.
        report = _worker_report()
        if report is not None:
            runner.send_message(FINAL_REPORT, report)
        return
    if isinstance(runner, MasterRunner):
        gevent.spawn(_settle_then_record, environment, time.monotonic())
    else:
        _record_stop(environment)


def _settle_then_record(environment: Environment, stopped_at: float) -> None:
    """On the master: give every worker's last report a moment to arrive, then record."""
    state = FleetState.of(environment)
    deadline = stopped_at + FINAL_REPORT_WAIT_S
    while time.monotonic() < deadline and any(
        r.get("received_at", 0) < stopped_at for r in state.worker_reports.values()
    ):
        gevent.sleep(0.1)
    _record_stop(environment)


def _record_stop(environment: Environment) -> None:
    """At every stop (web UI or end of run): final gates, summary JSON and fleet CSV."""
    state = FleetState.of(environment)
    state.results = _final_gates(environment, state)
    _write_outputs(environment, state)


def _final_gates(environment: Environment, state: FleetState) -> list[SloResult]:
    """The gates over the whole run; none in a capacity search, which judged each step."""
    return [] if state.capacity is not None else evaluate_gates(environment, final=True)


def _write_outputs(environment: Environment, state: FleetState) -> dict[str, Any]:
    data = summary_json(environment, state.results or [])
    data["ledger"] = ledger_block(environment, data["delivery"])
    options_ = environment.parsed_options
    target = getattr(options_, "summary_json", "") if options_ is not None else ""
    if target:
        write_json(target, data)
    prefix = getattr(options_, "csv_prefix", None) if options_ is not None else None
    if prefix:
        write_fleet_csv(f"{prefix}_fleet.csv", data)
    return data


# --- charts --------------------------------------------------------------------------------------


def _chart_points(environment: Environment) -> None:
    """Every CHART_EVERY_S while a test runs: stations per state and per-action latency
    percentiles (Locust's current window), for the Fleet tab and the HTML report."""
    state = FleetState.of(environment)
    while True:
        gevent.sleep(CHART_EVERY_S)
        runner = environment.runner
        if runner is None or runner.state not in (STATE_SPAWNING, STATE_RUNNING):
            continue
        state.history.append(web.chart_point(environment, state))


def _progress_lines(environment: Environment) -> None:
    """Headless runs: beside Locust's periodic table, fleet's line every run.progress_s from
    the test's start (not from start-up: a slow start must not leave a short run without one)."""
    state = FleetState.of(environment)

    def running() -> bool:
        runner = environment.runner
        return runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING)

    while True:
        if not running():
            gevent.sleep(0.2)
            continue
        gevent.sleep(state.progress_s)
        if running():
            print(progress_line(environment, state), flush=True)


def progress_line(environment: Environment, state: FleetState) -> str:
    table = state.table(environment)
    counts = station_counts(table)
    stats = state.stats(environment)
    lag = stats.timings.get(LOOP_LAG)
    lag_p99 = lag.percentile(99) if lag is not None else None
    tainted = stats.tainted_share()
    line = (
        f"fleet: stations {counts['total']} | accepted {counts['accepted']} "
        f"pending {counts['pending']} rejected {counts['rejected']} offline {counts['offline']} "
        f"| failures {stats.failures} (fleet's own rows) | missed {stats.missed_total()} "
        f"| violations {stats.conformance.total} | loop lag p99 {lag_p99 or 0:.0f} ms, "
        f"tainted {100 * (tainted or 0):.1f}%"
    )
    if stats.sessions:
        block = report.sessions_block(stats, charging_counts(table))
        line += " | " + report.sessions_line(block)
    return line


# --- end of the process -------------------------------------------------------------------------


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    otel.pump(environment)  # the SDK exports it as the process exits
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the local runner) holds the whole run's numbers
    bridge = current_bridge()
    if bridge is not None:
        bridge.flush()  # anything still queued counts
    options_ = environment.parsed_options
    if options_ is not None and getattr(options_, "csv_prefix", None):
        # Locust's CSV writer rewrites the files every CSV_STATS_INTERVAL_SEC and is closed at
        # exit without a last write: the stations' final exchanges (reported while users stop)
        # would be missing from the CSV. Let it run once more.
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)
    state = FleetState.of(environment)
    state.results = _final_gates(environment, state)
    data = _write_outputs(environment, state)
    for line in end_lines(data):
        print(line, flush=True)
    for result in state.results:
        print(result.line(), file=sys.stderr if not result.ok else sys.stdout, flush=True)
    if state.capacity is not None:
        print(state.capacity.verdict(), flush=True)
        environment.process_exit_code = 0 if state.capacity.held is not None else 1
    elif state.results:
        environment.process_exit_code = 0 if all(r.ok for r in state.results) else 1
    elif state.stats(environment).failures:
        # Failures Locust does not see (CSMS calls the stations could not handle, lost
        # connections, violations under on_violation "fail") fail the run as its own do.
        environment.process_exit_code = 1
    html = getattr(options_, "html_file", None) if options_ is not None else None
    if html:
        web.add_to_report_file(html, environment, data)
