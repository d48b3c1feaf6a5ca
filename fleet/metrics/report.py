"""Report parts shared by `fleet run` and Locust runs: taint per action, the sentences that say
when figures are not to be trusted, and fleet's own sections of the summary JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fleet.metrics.sample import (
    DELIVERY_DELIVERED,
    DELIVERY_DROPPED,
    DELIVERY_EVENTS,
    DELIVERY_GAVE_UP,
    DELIVERY_LEFT,
    DELIVERY_QUEUED,
    DELIVERY_REPLAYED,
    DELIVERY_RESENT,
    DELIVERY_RETRIED,
    NEGATIVE_ROWS,
    RECONNECTED,
)
from fleet.metrics.stats import FleetStats, SessionTotals
from fleet.wire import VERSIONS

DISTRUST_SHARE: Final = 0.01  # an action whose tainted share reaches this gets a warning line


def distrust(actions: dict[str, dict[str, Any]], threshold_ms: float) -> list[str]:
    """One plain sentence per action whose figures include too much of fleet's own delay."""
    lines = []
    for name, row in actions.items():
        count, tainted = row.get("count") or 0, row.get("tainted") or 0
        if not count or tainted / count < DISTRUST_SHARE:
            continue
        p99 = row.get("p99_ms")
        figure = f"{name} p99 {p99:.0f} ms" if p99 is not None else name
        lines.append(
            f"{figure}: {100 * tainted / count:.0f} % of its samples overlapped fleet's own "
            f"stalls (event loop more than {threshold_ms:g} ms late), so its latencies include "
            "fleet's delay: run fewer stations per process"
        )
    return lines


def fleet_sections(stats: FleetStats, on_violation: str) -> dict[str, Any]:
    """The summary JSON's "fleet", "missed", "answers", "delivery" and "conformance" blocks."""
    return {
        "fleet": {name: row.to_json() for name, row in sorted(stats.timings.items())},
        "missed": stats.missed_json(),
        "answers": stats.answers_json(),
        "delivery": stats.delivery_json(),
        "reconnects": reconnects_json(stats),
        "connect_failures": stats.refused_json(),
        "conformance": {
            "violations": stats.conformance.total,
            "on_violation": on_violation,
            "rows": stats.conformance.rows(),
            "more_kinds": stats.conformance.overflow,
        },
    }


def sessions_block(stats: FleetStats, charging: Mapping[str, int]) -> dict[str, Any]:
    """The summary's "sessions" block: per OCPP version and in total, the stations charging now
    (``charging``, per version), sessions started and completed, and energy delivered in kWh."""
    block: dict[str, Any] = {}
    total = SessionTotals()
    for version in VERSIONS:
        totals = stats.sessions.get(version) or SessionTotals()
        total.add(totals.started, totals.completed, totals.energy_wh, totals.faults)
        block[version] = _session_row(charging.get(version, 0), totals)
    block["total"] = _session_row(sum(charging.values()), total)
    return block


def _session_row(charging: int, totals: SessionTotals) -> dict[str, Any]:
    return {
        "charging": charging,
        "started": totals.started,
        "completed": totals.completed,
        "energy_kwh": round(totals.energy_wh / 1000, 3),
        "faults": totals.faults,
    }


def sessions_line(block: dict[str, Any]) -> str:
    """The sessions block in a sentence: the progress line's and the end report's."""
    parts = []
    for version in VERSIONS:
        row = block[version]
        if row["started"] or row["charging"] or row["faults"]:
            faults = f", {row['faults']} connector faults" if row["faults"] else ""
            parts.append(
                f"{version}: {row['charging']} charging, {row['started']} started, "
                f"{row['completed']} completed, {row['energy_kwh']:.1f} kWh{faults}"
            )
    return "sessions " + ("; ".join(parts) if parts else "none")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: dict[str, dict[str, Any]], first: str, taint: bool = True) -> list[str]:
    """A fixed-width table of timing rows (count, failures, p50/p95/p99/max, tainted)."""
    width = max([len(first), *(len(k) for k in rows)])
    header = (
        f"{first:<{width}}  {'count':>8}  {'failures':>8}  "
        f"{'p50 ms':>9}  {'p95 ms':>9}  {'p99 ms':>9}  {'max ms':>9}"
    )
    lines = [header + (f"  {'tainted':>8}" if taint else "")]
    for name, row in rows.items():
        line = (
            f"{name:<{width}}  {row['count']:>8}  {row['failures']:>8}  {_ms(row['p50_ms']):>9}  "
            f"{_ms(row['p95_ms']):>9}  {_ms(row['p99_ms']):>9}  {_ms(row.get('max_ms')):>9}"
        )
        if taint:
            share = f"{row.get('tainted_pct', 0):.1f}%" if row.get("tainted") else "0"
            line += f"  {share:>8}"
        lines.append(line)
    return lines


def missed_lines(missed: dict[str, Any]) -> list[str]:
    lines = []
    for action, row in missed.items():
        lines.append(
            f"missed {action}: {row['total']} on {row['stations']} stations "
            f"(offline {row['offline']}, previous CALL still out {row['busy']}, "
            f"fleet's own stall {row['stall']})"
        )
    return lines


def answers_lines(answers: dict[str, Any]) -> list[str]:
    """How stations answered the CSMS's calls, an action a line."""
    if not answers:
        return ["answers to the CSMS: no CSMS calls"]
    lines = ["answers to the CSMS:"]
    for action, row in answers.items():
        outcomes = ", ".join(f"{n} {outcome}" for outcome, n in row["outcomes"].items())
        lines.append(
            f"  {action}: {row['count']} ({outcomes}); handled in p50 {_ms(row['p50_ms'])} ms, "
            f"p99 {_ms(row['p99_ms'])} ms"
        )
    return lines


RECONNECT_BOUNDS_S: Final = (1, 2, 5, 10, 30, 60)


def reconnects_json(stats: FleetStats) -> dict[str, Any] | None:
    """How long stations took from a lost connection to their next acceptance (fleet's row
    lost→accepted), as a histogram in seconds: the spread of a reconnect storm. None: no
    station lost an accepted connection."""
    row = stats.timings.get(RECONNECTED)
    if row is None or not row.histogram.total:
        return None
    labels = [f"≤{b} s" for b in RECONNECT_BOUNDS_S] + [f">{RECONNECT_BOUNDS_S[-1]} s"]
    counts = dict.fromkeys(labels, 0)
    for ms, n in row.histogram.counts.items():
        index = next(
            (i for i, b in enumerate(RECONNECT_BOUNDS_S) if ms <= b * 1000), len(labels) - 1
        )
        counts[labels[index]] += n
    return {**row.to_json(), "buckets": counts}


def reconnects_line(block: dict[str, Any] | None) -> str:
    if block is None:
        return "reconnects: none (no accepted connection was lost)"
    buckets = " · ".join(f"{label} {n}" for label, n in block["buckets"].items())
    return (
        f"reconnects (lost→accepted): {block['count']}, p50 {_ms(block['p50_ms'])} ms, "
        f"p99 {_ms(block['p99_ms'])} ms: {buckets}"
    )


def refused_lines(refused: Mapping[str, list[str]], limit: int = 10) -> list[str]:
    """Which stations could not connect, per reason (the first few of each)."""
    return [
        f"could not connect ({reason}): {', '.join(stations)}"
        for reason, stations in list(refused.items())[:limit]
    ]


def security_json(actions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The negative connects (``security.negative``) per misbehaviour: attempts, and how many
    the CSMS let in (what a CSMS team expects to be 0); None when the run had none."""
    rows = {
        kind: {"attempts": actions[row]["count"], "let_in": actions[row]["failures"]}
        for kind, row in NEGATIVE_ROWS.items()
        if row in actions
    }
    if not rows:
        return None
    return {"let_in": sum(r["let_in"] for r in rows.values()), "negative": rows}


def security_line(block: Mapping[str, Any] | None) -> str | None:
    if block is None:
        return None
    parts = ", ".join(
        f"{kind.replace('_', ' ')} {row['let_in']} of {row['attempts']}"
        for kind, row in block["negative"].items()
    )
    verdict = "OK" if block["let_in"] == 0 else "the CSMS let in what it should refuse"
    return f"negative connects let in: {block['let_in']} ({parts}): {verdict}"


def delivery_lines(delivery: dict[str, Any]) -> list[str]:
    """Transaction messages: how many the CSMS answered, how many could not go at once (queued
    offline and replayed, retried, resent after a drop), and those that never reached the CSMS
    (given up, dropped at the queue's limit, still queued when their station stopped)."""
    if not delivery:
        return ["transaction messages: none"]
    total = {e: sum(row[e] for row in delivery.values()) for e in DELIVERY_EVENTS}
    lost = total[DELIVERY_GAVE_UP] + total[DELIVERY_DROPPED] + total[DELIVERY_LEFT]
    lines = [
        f"transaction messages: {total[DELIVERY_DELIVERED]} delivered; "
        f"{total[DELIVERY_QUEUED]} queued offline, "
        f"{total[DELIVERY_REPLAYED]} replayed, {total[DELIVERY_RETRIED]} retried, "
        f"{total[DELIVERY_RESENT]} resent after a drop; {lost} never "
        f"delivered ({total[DELIVERY_GAVE_UP]} given up, {total[DELIVERY_DROPPED]} dropped at "
        f"the queue limit, {total[DELIVERY_LEFT]} still queued)"
    ]
    for row, events in delivery.items():
        counts = ", ".join(f"{n} {event}" for event, n in events.items() if n)
        lines.append(f"  {row}: {counts or 'none'}")
    return lines


def conformance_lines(conformance: dict[str, Any], limit: int = 10) -> list[str]:
    total = conformance["violations"]
    if not total:
        return ["CSMS conformance: no violations"]
    mode = conformance["on_violation"]
    lines = [f"CSMS conformance: {total} violations (csms.on_violation: {mode})"]
    for row in conformance["rows"][:limit]:
        where = f"{row['action']}.{row['field']}" if row["field"] else row["action"]
        lines.append(
            f"  {row['count']:>6} × {row['direction']} {where}: {row['rule']} "
            f"(wanted {row['wanted']}), e.g. {row['example'][:160]}"
        )
    more = len(conformance["rows"]) - limit
    if more > 0:
        lines.append(f"  ... and {more} more kinds")
    return lines
