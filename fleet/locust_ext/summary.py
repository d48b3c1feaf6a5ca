"""The run's summary as Locust runs end it: the JSON file (`--summary-json`), the
`<prefix>_fleet.csv` beside Locust's CSV files, and the lines printed at the end."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from locust.env import Environment

from fleet.ledger_client import fetch_ledgers
from fleet.locust_ext.state import FleetState, charging_counts, station_counts
from fleet.metrics import report
from fleet.metrics.actions import WireView, actions_json
from fleet.metrics.reconcile import ledger_line, reconcile
from fleet.metrics.sample import DELIVERY_QUEUED, LOOP_LAG, MISSED_CAUSES
from fleet.metrics.stats import FleetStats
from fleet.scenario import load_scenario
from fleet.slo import SloResult, evaluate
from fleet.station.security import tooling_context

MAX_FAILURES: int = 100


def evaluate_gates(environment: Environment, final: bool) -> list[SloResult]:
    """The SLO gates against what was measured so far (``final``: station counts as the test
    stopped)."""
    state = FleetState.of(environment)
    counts = station_counts(state.table(environment, final=final))
    share = counts["accepted"] / counts["total"] if counts["total"] else None
    stats = state.stats(environment)
    wire = WireView(stats, state.elapsed_s())
    return [evaluate(slo, wire, stats, share) for slo in state.slos]


def summary_json(
    environment: Environment, results: list[SloResult], final: bool = True
) -> dict[str, Any]:
    """The run's figures; ``final``: stations as the test stopped (else as they are now)."""
    state = FleetState.of(environment)
    stats = state.stats(environment)
    actions = actions_json(stats, state.elapsed_s())
    failures = [
        {"action": error.name, "reason": _reason(error.error), "occurrences": error.occurrences}
        for error in list(environment.stats.errors.values())[:MAX_FAILURES]
    ]
    failures += [
        {"action": row, "reason": reason, "occurrences": n}
        for (row, reason), n in stats.reasons.most_common(MAX_FAILURES - len(failures))
    ]
    table = state.table(environment, final=final)
    return {
        "stations": station_counts(table),
        "actions": actions,
        "security": report.security_json(actions),
        **report.fleet_sections(stats, state.on_violation),
        "sessions": report.sessions_block(stats, charging_counts(table)),
        "failures": failures,
        "slo": [result.to_json() for result in results],
        "untrusted": report.distrust(actions, state.lag_warn_ms),
        "loop_lag": {
            **_lag(stats),
            # Each worker's own (a Locust master's run): every process must keep up.
            "processes": {name: _lag(part) for name, part in sorted(state.worker_stats().items())},
        },
        "saturated": stats.saturated,
        "capacity": _capacity(environment, state, final),
    }


def _capacity(environment: Environment, state: FleetState, final: bool) -> dict[str, Any] | None:
    """The capacity search (--capacity), with the open step's window so far while it runs."""
    from fleet.locust_ext.capacity_shape import Capacity

    if state.capacity is None:
        return None
    shape = environment.shape_class
    current = shape.so_far() if isinstance(shape, Capacity) and not final else None
    return state.capacity.to_json(current)


def _lag(stats: FleetStats) -> dict[str, float | None]:
    lag = stats.timings.get(LOOP_LAG)
    if lag is None:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": lag.percentile(50), "p99_ms": lag.percentile(99), "max_ms": lag.max_ms}


def ledger_block(environment: Environment, delivery: dict[str, Any]) -> dict[str, Any] | None:
    """The stations' delivered transaction messages against the embedded CSMS's ledger (the
    test's host, or the scenario's URL), when the CSMS is fleet's own on a loopback address."""
    options = environment.parsed_options
    path = getattr(options, "scenario", "") if options is not None else ""
    scenario = load_scenario(path) if path else None
    urls = [environment.host] if environment.host else None
    if urls is None:
        if scenario is None:
            return None
        urls = scenario.csms.urls()
    context = None
    if scenario is not None:
        context = tooling_context(scenario.security, urls[0], scenario.station_id(1))
    ledgers = fetch_ledgers(urls, context)
    return None if ledgers is None else reconcile(delivery, ledgers)


def _reason(error: Any) -> str:
    """A Locust error as text: a worker's arrive as text, a local one is the exception itself
    (whose repr, for fleet's OcppFailure, is the reason)."""
    return error if isinstance(error, str) else repr(error)


CSV_COLUMNS = ("Type", "Name", "Count", "Failures", "50%", "95%", "99%", "Max", "Tainted", "Detail")


def write_fleet_csv(path: str, data: dict[str, Any]) -> None:
    """fleet's own statistics as CSV, one file beside Locust's: timing rows ("fleet"), taint
    per wire action ("tainted"), missed beats ("missed"), charging sessions per version
    ("sessions": Count is sessions started), CSMS calls and how stations answered them
    ("answers": outcomes in Detail), transaction messages queued offline, retried or lost
    ("delivery": Count is queued offline, every event in Detail), CSMS violations
    ("violation")."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for name, row in data["fleet"].items():
            writer.writerow(
                ["fleet", name, row["count"], row["failures"], *_ms(row), row["tainted"], ""]
            )
        for name, row in data["actions"].items():
            writer.writerow(
                ["tainted", name, row["count"], row["failures"], *_ms(row), row["tainted"], ""]
            )
        for action, row in data["missed"].items():
            causes = "; ".join(f"{cause} {row[cause]}" for cause in MISSED_CAUSES)
            detail = f"{causes}; stations {row['stations']}"
            writer.writerow(["missed", action, row["total"], "", "", "", "", "", "", detail])
        for version, row in data["sessions"].items():
            detail = (
                f"completed {row['completed']}; charging {row['charging']}; "
                f"energy {row['energy_kwh']} kWh; connector faults {row['faults']}"
            )
            writer.writerow(["sessions", version, row["started"], "", "", "", "", "", "", detail])
        for action, row in data["answers"].items():
            detail = "; ".join(f"{outcome} {n}" for outcome, n in row["outcomes"].items())
            writer.writerow(
                [
                    "answers",
                    action,
                    row["count"],
                    "",
                    row["p50_ms"] or "",
                    "",
                    row["p99_ms"] or "",
                    "",
                    "",
                    detail,
                ]
            )
        for name, events in data["delivery"].items():
            detail = "; ".join(f"{event} {n}" for event, n in events.items())
            queued = events[DELIVERY_QUEUED]
            writer.writerow(["delivery", name, queued, "", "", "", "", "", "", detail])
        for row in data["conformance"]["rows"]:
            name = f"{row['direction']} {row['action']}"
            name += f".{row['field']}" if row["field"] else ""
            detail = f"{row['rule']}: wanted {row['wanted']}; e.g. {row['example']}"
            writer.writerow(["violation", name, row["count"], "", "", "", "", "", "", detail])


def _ms(row: dict[str, Any]) -> list[Any]:
    return [
        "" if row.get(key) is None else row[key] for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    ]


def end_lines(data: dict[str, Any]) -> list[str]:
    """What a headless run prints after Locust's tables: fleet's rows, missed beats, CSMS
    conformance, and the figures not to trust."""
    lines = ["", *report.table(data["fleet"], "fleet's own statistics"), ""]
    lines.extend(report.missed_lines(data["missed"]) or ["missed beats: 0"])
    lines.extend(report.answers_lines(data["answers"]))
    lines.extend(report.delivery_lines(data["delivery"]))
    lines.append(report.reconnects_line(data["reconnects"]))
    if (security := report.security_line(data.get("security"))) is not None:
        lines.append(security)
    lines.extend(report.refused_lines(data.get("connect_failures", {})))
    lines.append(ledger_line(data.get("ledger")))
    lines.extend(report.conformance_lines(data["conformance"]))
    lines.append(report.sessions_line(data["sessions"]))
    lines.extend(f"NOT TO BE TRUSTED: {line}" for line in data["untrusted"])
    return lines
