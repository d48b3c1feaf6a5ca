"""SLO gates: small expressions a CI run must satisfy, parsed before anything starts.

    p95(BootNotification) < 500ms      latency percentile of one action (or of all OCPP CALLs)
    avg(Heartbeat) <= 50ms             also max(...), min(...)
    fail_ratio < 0.01                  failures / requests, all OCPP CALLs or one action; 1% works
    failures(Heartbeat) == 0           failure count
    rps(Heartbeat) >= 100              requests per second over the run
    accepted >= 99%                    share of stations Accepted when the test stopped
    p95(boot→accepted) < 2s            fleet's own rows: boot→accepted, loop_lag, CSMS→CP (all
    p99(loop_lag) < 50ms                 handled CSMS calls) or CSMS→CP Reset, Heartbeat drift,
    fail_ratio(CSMS→CP) < 1%             connection lost, late answer, ws_ping ("->" works for "→")
    missed_beats == 0                  heartbeats that could not leave on schedule (missed(Action))
    violations == 0                    CSMS messages that broke OCPP (violations(Action))
    tainted < 1%                       share of OCPP samples that overlapped fleet's own stalls

A gate without an action covers the OCPP CALLs only: not websocket connects, not fleet's rows.
A gate on something that was never measured fails: an SLO must not pass by having no data
(counts of missed beats and violations are measured whenever the run ran).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from fleet.errors import UsageError
from fleet.metrics.sample import (
    BOOT_ACCEPTED,
    CONNECTION_LOST,
    CSMS_TO_CP,
    DRIFT,
    LATE_ANSWER,
    LOOP_LAG,
    WS_PING,
)
from fleet.metrics.stats import FleetStats

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_METRICS: Final = (
    r"p\d{1,2}(?:\.\d+)?|avg|min|max|fail_ratio|failures|rps|accepted|missed_beats|missed"
    r"|violations|tainted"
)
_EXPR = re.compile(
    rf"^\s*(?P<metric>{_METRICS})\s*"
    r"(?:\(\s*(?P<action>[^()]*?(?:\([^()]*\))?)\s*\))?\s*"
    r"(?P<op><=|>=|==|<|>)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_LATENCY: Final = ("avg", "min", "max")
_SHARES: Final = ("fail_ratio", "accepted", "tainted")
_FLEET_ROWS: Final = (BOOT_ACCEPTED, LOOP_LAG, CONNECTION_LOST, LATE_ANSWER, WS_PING)


class SloError(UsageError):
    """An SLO expression that cannot be parsed; says what was expected."""


def fleet_row(name: str) -> str | None:
    """The fleet-statistics row a gate's action names ("loop_lag" -> "loop lag",
    "CSMS->CP Reset" -> "CSMS→CP Reset"), or None for a wire action (an OCPP CALL, connect)."""
    name = name.replace("->", "→")
    spaced = name.replace("_", " ")
    if spaced in _FLEET_ROWS:
        return spaced
    if name == CSMS_TO_CP or name.startswith(CSMS_TO_CP + " "):
        return name
    if spaced.endswith(" " + DRIFT):
        return spaced
    return None


@dataclass(slots=True, frozen=True)
class Slo:
    text: str
    metric: str  # "p95", "avg", "fail_ratio", "missed_beats", ...
    action: str | None  # a wire action, or a fleet row (``fleet`` True), or None
    op: str
    threshold: float  # in ms for latencies, a ratio (0..1) for shares
    fleet: bool = False

    @property
    def is_latency(self) -> bool:
        return self.metric[0] == "p" or self.metric in _LATENCY

    def describe(self, value: float) -> str:
        if self.is_latency:
            return f"{value:.1f}ms"
        if self.metric in _SHARES:
            return f"{value * 100:.2f}%"
        if self.metric == "rps":
            return f"{value:.1f}/s"
        return f"{value:g}"


class WireStats(Protocol):
    """What the gates read of the wire exchanges: Locust's stats, or `fleet run`'s summary.
    ``action`` None means every OCPP CALL (not websocket connects)."""

    def percentile_ms(self, action: str | None, fraction: float) -> float | None: ...
    def latency_ms(self, action: str | None, kind: str) -> float | None: ...
    def fail_ratio(self, action: str | None) -> float | None: ...
    def failures(self, action: str | None) -> int | None: ...
    def rps(self, action: str | None) -> float | None: ...


@dataclass(slots=True, frozen=True)
class SloResult:
    slo: Slo
    value: float | None
    ok: bool

    def line(self) -> str:
        measured = "no data" if self.value is None else self.slo.describe(self.value)
        return f"SLO {'passed' if self.ok else 'FAILED'}: {self.slo.text} (measured {measured})"

    def to_json(self) -> dict[str, object]:
        return {"slo": self.slo.text, "value": self.value, "ok": self.ok}


def parse_slo(text: str) -> Slo:
    match = _EXPR.match(text)
    if match is None:
        raise SloError(
            f"--slo {text!r}: expected METRIC[(Action)] OP VALUE[ms|s|%], "
            "e.g. 'p95(BootNotification) < 500ms', 'fail_ratio < 0.01', 'accepted >= 99%', "
            "'p99(loop_lag) < 50ms', 'missed_beats == 0', 'violations == 0', 'tainted < 1%'"
        )
    metric, action, op = match["metric"], match["action"] or None, match["op"]
    value, unit = float(match["value"]), match["unit"]
    latency = metric[0] == "p" or metric in _LATENCY
    if metric[0] == "p" and not 0 < float(metric[1:]) < 100:
        raise SloError(f"--slo {text!r}: percentile must be between p1 and p99.9")
    if latency:
        if unit == "%":
            raise SloError(f"--slo {text!r}: a latency takes ms or s, not %")
        value = value * 1000 if unit == "s" else value
    elif metric in _SHARES:
        if unit in ("ms", "s"):
            raise SloError(f"--slo {text!r}: {metric} is a share: write 0.01 or 1%")
        value = value / 100 if unit == "%" else value
        if value > 1:
            raise SloError(f"--slo {text!r}: {metric} is a share between 0 and 1 (or 0%..100%)")
    elif unit is not None:
        raise SloError(f"--slo {text!r}: {metric} takes a plain number")
    if metric in ("accepted", "missed_beats") and action is not None:
        raise SloError(f"--slo {text!r}: {metric} takes no action")
    row = fleet_row(action) if action is not None else None
    if row is not None and metric in ("rps", "tainted", "missed", "violations"):
        raise SloError(
            f"--slo {text!r}: {metric} is about OCPP messages; {row!r} is one of fleet's own "
            "statistics (it takes p50..p99.9, avg, min, max, fail_ratio, failures)"
        )
    return Slo(text.strip(), metric, row or action, op, value, fleet=row is not None)


def evaluate(
    slo: Slo, wire: WireStats, fleet: FleetStats, accepted_share: float | None
) -> SloResult:
    value = _measure(slo, wire, fleet, accepted_share)
    ok = value is not None and _OPS[slo.op](value, slo.threshold)
    return SloResult(slo, value, ok)


def _measure(
    slo: Slo, wire: WireStats, fleet: FleetStats, accepted_share: float | None
) -> float | None:
    metric, action = slo.metric, slo.action
    if metric == "accepted":
        return accepted_share
    if metric == "missed_beats":
        return float(fleet.missed_total("Heartbeat"))
    if metric == "missed":
        return float(fleet.missed_total(action))
    if metric == "violations":
        return float(fleet.conformance.count(action))
    if metric == "tainted":
        return fleet.tainted_share(action)
    if slo.fleet:
        assert action is not None
        return _fleet_row_value(metric, fleet, action)
    if metric[0] == "p":
        return wire.percentile_ms(action, float(metric[1:]) / 100)
    if metric in _LATENCY:
        return wire.latency_ms(action, metric)
    if metric == "fail_ratio":
        return wire.fail_ratio(action)
    if metric == "failures":
        count = wire.failures(action)
        return None if count is None else float(count)
    return wire.rps(action)


def _fleet_row_value(metric: str, fleet: FleetStats, name: str) -> float | None:
    row = fleet.combined(name)
    if row is None:
        return None
    if metric == "failures":
        return float(row.failures)
    if metric == "fail_ratio":
        return row.fail_ratio()
    if metric[0] == "p":
        return row.percentile(float(metric[1:]))
    return row.latency(metric)
