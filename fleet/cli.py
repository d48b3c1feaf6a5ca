"""``fleet``: run a fleet headless, serve the reference CSMS, validate scenarios, run the demo.

Exit codes: 0 success, 1 the run had failures (or a scenario is invalid, for ``validate``),
2 bad usage or an invalid scenario for ``run``. Errors are one line; ``--debug`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvloop

from fleet.cli_certs import add_certs_parser, cmd_certs
from fleet.cli_compare import add_compare_parser, cmd_compare
from fleet.cli_csms import add_csms_parser, cmd_csms
from fleet.errors import FleetError, ScenarioError, UsageError
from fleet.scenario_storms import PRESETS as STORM_PRESETS

if TYPE_CHECKING:
    from fleet.capacity import Search
    from fleet.scenario import Scenario
    from fleet.slo import Slo

logger = logging.getLogger("fleet")

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The ocpp logger prints every frame at INFO and websockets every connection: keep both quiet
    # unless asked for DEBUG.
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    logging.getLogger("ocpp").setLevel(quiet)
    logging.getLogger("websockets").setLevel(quiet)
    # The format prints none of these; with thousands of stations logging their events, looking
    # up the caller's frame for every record is most of a log line's cost (logging's own
    # "Optimization" advice).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleet", description="OCPP 1.6 / 2.0.1 charging-station fleet simulator"
    )
    parser.add_argument("--log-level", default="warning", help="debug, info, warning (default)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario's fleet headless against a CSMS")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument(
        "--csms",
        metavar="URL",
        help="CSMS URL, or one per OCPP version: 1.6=ws://..,2.0.1=ws://.. "
        "(overrides csms.url, FLEET_CSMS_URL)",
    )
    run.add_argument("--stations", type=int, metavar="N", help="overrides stations.count")
    run.add_argument("--duration", type=float, metavar="SECONDS", help="overrides run.duration_s")
    run.add_argument("--summary-json", metavar="FILE", help="write the summary as JSON")
    run.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="EXPR",
        help="SLO gate, repeatable, as for Locust: 'p95(Heartbeat) < 500ms', 'violations == 0'; "
        "with gates the exit code is their verdict",
    )
    run.add_argument(
        "--capacity",
        type=int,
        metavar="STEP",
        help="a capacity search: grow the fleet STEP stations at a time up to --stations, judge "
        "each step's window on the --slo gates, stop at the first that breaks one",
    )
    run.add_argument(
        "--hold",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="--capacity: how long each step is measured (default 60)",
    )
    run.add_argument(
        "--settle",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="--capacity: after a step's stations are started, before it is measured (default 10)",
    )
    run.add_argument(
        "--storm",
        action="append",
        default=[],
        choices=sorted(STORM_PRESETS),
        help="add a storm with its preset values to the scenario's storms (repeatable): "
        "boot-storm, csms-restart (t=60 s), blackout (30 %% for 300 s from t=60 s), flapping, "
        "rolling-restart, peak-hour, cert-renewal (every station asks for a new certificate "
        "at t=30 s)",
    )
    run.add_argument(
        "--trace",
        action="append",
        metavar="STATION",
        help="log every frame of this station (repeatable; overrides run.trace)",
    )
    run.add_argument(
        "--source-addresses",
        metavar="LIST",
        help="connect from these local addresses, e.g. 127.0.0.2,127.0.0.3 (overrides "
        "csms.source_addresses; one address reaches one CSMS through ~28,000 ports)",
    )
    run.add_argument(
        "--prometheus-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics while the run lasts "
        "(overrides run.prometheus_port)",
    )
    run.add_argument(
        "--otel",
        action="store_true",
        help="export fleet's instruments with OpenTelemetry, configured by the standard "
        "OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, ...; needs fleet[otel])",
    )
    run.add_argument(
        "--prometheus-host",
        metavar="HOST",
        help="address the metrics endpoint listens on (overrides run.prometheus_host, 0.0.0.0)",
    )

    add_csms_parser(sub)
    add_certs_parser(sub)
    add_compare_parser(sub)

    validate = sub.add_parser("validate", help="check scenario files; exit 0 if all are valid")
    validate.add_argument("files", nargs="+")

    sub.add_parser(
        "locust",
        help="run Locust with fleet's options loaded (so `fleet locust --help` lists them); "
        "-f defaults to fleet's own locustfile",
        add_help=False,
    )
    sub.add_parser("locustfile", help="print the path of fleet's ready-made locustfile")

    demo = sub.add_parser("demo", help="start the embedded CSMS and run a small fleet against it")
    demo.add_argument("--scenario", default="scenarios/charging.yaml")
    demo.add_argument("--stations", type=int, default=50)
    demo.add_argument("--duration", type=float, default=30.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["locust"]:
        return run_locust(args_list[1:])
    if args_list[:1] == ["locustfile"]:
        print(LOCUSTFILE)
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(args_list)
    _configure_logging(args.log_level)
    try:
        handler = {
            "run": cmd_run,
            "csms": cmd_csms,
            "certs": cmd_certs,
            "compare": cmd_compare,
            "validate": cmd_validate,
            "demo": cmd_demo,
        }
        return handler[args.command](args)
    except (UsageError, ScenarioError) as exc:
        if args.debug:
            raise
        print(f"fleet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FleetError as exc:
        if args.debug:
            raise
        print(f"fleet: error: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        return 130


# --- locust --------------------------------------------------------------------------------------

LOCUSTFILE = str(Path(__file__).with_name("locustfile.py"))


def run_locust(args: list[str]) -> int:
    """Locust's own main, with fleet's listeners registered first. Locust prints --help before it
    imports any locustfile (locustio/locust#2917), so `locust --help` cannot list fleet's options;
    `fleet locust --help` does."""
    import locust.main  # first: it monkey-patches the standard library for gevent

    import fleet.users  # noqa: F401 - registers the options and listeners

    if not any(a in ("-f", "--locustfile") or a.startswith("--locustfile=") for a in args):
        args = ["-f", LOCUSTFILE, *args]
    sys.argv = ["locust", *args]
    try:
        locust.main.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return EXIT_OK


# --- run -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from fleet.metrics.actions import WireView
    from fleet.otel_export import meter_provider_from_env
    from fleet.output_files import check_writable, write_json
    from fleet.process import raise_open_files_limit
    from fleet.runner import format_report, run_fleet
    from fleet.scenario import load_scenario
    from fleet.slo import evaluate, parse_slo

    overrides = {
        "csms.url": args.csms,
        "stations.count": args.stations,
        "run.duration_s": args.duration,
        "csms.source_addresses": getattr(args, "source_addresses", None),
        "run.trace": getattr(args, "trace", None),
        "run.prometheus_port": getattr(args, "prometheus_port", None),
        "run.prometheus_host": getattr(args, "prometheus_host", None),
    }
    scenario = load_scenario(args.scenario, overrides)
    presets = tuple(STORM_PRESETS[name] for name in getattr(args, "storm", None) or [])
    if presets:
        scenario = scenario.model_copy(update={"storms": scenario.storms + presets})
    slos = [parse_slo(text) for text in getattr(args, "slo", None) or []]
    if args.summary_json:
        check_writable(args.summary_json, "--summary-json")
    if scenario.run.trace:
        ids = {scenario.station_id(i) for i in range(1, scenario.stations.count + 1)}
        unknown = [t for t in scenario.run.trace if t not in ids]
        if unknown:
            raise UsageError(
                f"run.trace: no station {', '.join(unknown)} in this fleet "
                f"({scenario.station_id(1)} .. {scenario.station_id(scenario.stations.count)})"
            )
        if logging.getLogger().level > logging.INFO:
            logging.getLogger("fleet.trace").setLevel(logging.INFO)  # asked for by station id
    limit = raise_open_files_limit(scenario.stations.count)
    if scenario.stations.count + 64 > limit:
        raise UsageError(
            f"{scenario.stations.count} stations need that many open files; this process may open "
            f"{limit} (ulimit -n): at most {max(limit - 64, 0)} stations"
        )
    search = _capacity_search(args, scenario, slos)
    length = f"for {scenario.run.duration_s:g} s"
    if search is not None:
        plan = search.plan
        length = (
            f"in steps of {plan.step}, each measured {plan.hold_s:g} s after {plan.settle_s:g} s "
            "to settle, until a gate breaks"
        )
    print(
        f"fleet: {scenario.stations.count} stations ({_mix(scenario.stations.ocpp)}) -> "
        f"{scenario.csms.shown()} {length}",
        file=sys.stderr,
        flush=True,
    )
    provider = meter_provider_from_env() if getattr(args, "otel", False) else None
    try:
        result = uvloop.run(run_fleet(scenario, meter_provider=provider, search=search, gates=slos))
    finally:
        if provider is not None:
            provider.shutdown()  # the last export, with the run's final figures
    print(format_report(result))
    if search is not None:  # the gates were judged per step; the verdict is the search's
        print(search.verdict(), flush=True)
        if args.summary_json:
            data = result.to_json()
            data["slo"] = []
            write_json(args.summary_json, data)
        return EXIT_OK if search.held is not None else EXIT_FAILURES
    stations = result.stations
    share = stations["accepted"] / stations["total"] if stations["total"] else None
    wire = WireView(result.summary.stats, result.elapsed_s)
    results = [evaluate(slo, wire, result.summary.stats, share) for slo in slos]
    for gate in results:
        print(gate.line(), file=sys.stdout if gate.ok else sys.stderr, flush=True)
    if args.summary_json:
        data = result.to_json()
        data["slo"] = [gate.to_json() for gate in results]
        write_json(args.summary_json, data)
    if results:
        return EXIT_OK if all(gate.ok for gate in results) else EXIT_FAILURES
    return EXIT_FAILURES if result.failures else EXIT_OK


def _capacity_search(
    args: argparse.Namespace, scenario: Scenario, slos: list[Slo]
) -> Search | None:
    """The capacity search ``--capacity`` asks for (None without it), its options checked."""
    from fleet.capacity import Plan, Search

    step = getattr(args, "capacity", None)
    if step is None:
        return None
    stations = scenario.stations.count
    if step < 1 or step > stations:
        raise UsageError(f"--capacity {step}: a step is 1 to --stations ({stations}) stations")
    if not slos:
        raise UsageError("--capacity needs at least one --slo gate: what must a step hold?")
    if args.hold <= 0 or args.settle < 0:
        raise UsageError("--hold must be above 0 s and --settle at least 0 s")
    lag_warn = scenario.run.lag_warn_ms
    return Search(Plan(step, stations, args.hold, args.settle, tuple(slos), lag_warn))


def _mix(mix: dict[str, int]) -> str:
    total = sum(mix.values())
    return ", ".join(f"{100 * w / total:.0f}% OCPP {v}" for v, w in mix.items() if w)


# --- validate ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from fleet.scenario import load_scenario

    status = EXIT_OK
    for name in args.files:
        try:
            scenario = load_scenario(name, environ={})
        except ScenarioError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_FAILURES
            continue
        print(f"{name}: ok ({scenario.stations.count} stations, {_mix(scenario.stations.ocpp)})")
    return status


# --- demo ----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Start ``fleet csms`` on a free port, run the fleet as a headless Locust test against it
    with SLO gates, then show what the CSMS saw. Everything stays on 127.0.0.1."""
    from fleet.children import embedded_csms
    from fleet.ledger_client import http_base, ledger_of
    from fleet.scenario import load_scenario

    scenario = load_scenario(args.scenario, {"stations.count": args.stations}, environ={})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("FLEET_CSMS_URL", None)
    with embedded_csms("--interval", "10", env=env) as url:
        print(f"demo: embedded CSMS at {url}", file=sys.stderr, flush=True)
        locust = [
            sys.executable, "-m", "fleet", "locust",
            "--scenario", args.scenario, "--host", url, "--headless",
            "-u", str(scenario.stations.count), "-r", f"{scenario.boot.ramp_per_s:g}",
            "-t", f"{args.duration:g}s", "--only-summary",
            "--slo", "p95(BootNotification) < 500ms",
            "--slo", "fail_ratio < 0.01",
            "--slo", "accepted >= 99%",
        ]  # fmt: skip
        print("demo: " + " ".join(shlex.quote(part) for part in locust[2:]), file=sys.stderr)
        status = subprocess.run(locust, env=env).returncode
        base = http_base(url)
        assert base is not None  # the embedded CSMS listens on 127.0.0.1
        ledger = ledger_of(base)
        received: dict[str, int] = {}
        for record in ledger["stations"].values():
            for action, n in record["received"].items():
                received[action] = received.get(action, 0) + n
        seen = ", ".join(f"{action} {n}" for action, n in sorted(received.items()))
        tx = ledger["transactions"]
        print(
            f"\nthe CSMS saw {len(ledger['stations'])} stations; messages received: {seen}\n"
            f"transactions: {tx['count']} ({tx['ended']} ended), {tx['energy_kwh']:.1f} kWh",
            flush=True,
        )
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
