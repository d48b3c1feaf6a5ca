"""fleet's Locust options, registered through ``events.init_command_line_parser``. They show in
the web UI's custom parameters and in `fleet locust --help` (plain `locust --help` prints
before any locustfile is imported: locustio/locust#2917)."""

from __future__ import annotations

from typing import Any, Final

from locust import events

DEFAULT_ID_STRIDE: Final = 100_000


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
        "'accepted >= 99%%', 'p95(boot→accepted) < 2s', 'p99(loop_lag) < 50ms', "
        "'missed_beats == 0', 'violations == 0', 'tainted < 1%%'. Any failing gate makes the "
        "exit code 1. Env: FLEET_SLO='[gate 1, gate 2]'",
    )
    parser.add_argument(
        "--summary-json",
        default="",
        env_var="FLEET_SUMMARY_JSON",
        metavar="FILE",
        help="write stations, per-action latencies, fleet's own statistics, CSMS conformance, "
        "failures and SLO results as JSON at every stop and at exit",
    )
    parser.add_argument(
        "--fleet-trace",
        default="",
        env_var="FLEET_TRACE",
        metavar="IDS",
        help="log every frame of these stations, e.g. CP-00001,CP-00002 (overrides run.trace)",
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=0,
        env_var="FLEET_PROMETHEUS_PORT",
        metavar="PORT",
        include_in_web_ui=False,
        help="serve fleet's Prometheus metrics at http://HOST:PORT/metrics on the master (every "
        "worker's merged) or the local runner; default: the scenario's run.prometheus_port",
    )
    parser.add_argument(
        "--prometheus-host",
        default="",
        env_var="FLEET_PROMETHEUS_HOST",
        metavar="HOST",
        include_in_web_ui=False,
        help="address the metrics endpoint listens on (default: run.prometheus_host, 0.0.0.0)",
    )
    parser.add_argument(
        "--capacity",
        type=int,
        default=0,
        env_var="FLEET_CAPACITY",
        metavar="STEP",
        include_in_web_ui=False,
        help="a capacity search: grow the stations STEP at a time up to -u, judge each step's "
        "window on the --slo gates, stop at the first that breaks one",
    )
    parser.add_argument(
        "--capacity-hold",
        type=float,
        default=None,
        metavar="SECONDS",
        include_in_web_ui=False,
        help="--capacity: how long each step is measured (default 60)",
    )
    parser.add_argument(
        "--capacity-settle",
        type=float,
        default=None,
        metavar="SECONDS",
        include_in_web_ui=False,
        help="--capacity: after a step's stations are started, before it is measured (default 10)",
    )
    parser.add_argument(
        "--fleet-id-stride",
        type=int,
        env_var="FLEET_ID_STRIDE",
        default=DEFAULT_ID_STRIDE,
        metavar="N",
        help="station index = worker index x N + user number, so ids stay unique across workers",
    )
