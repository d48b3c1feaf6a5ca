"""SLO gates: small expressions a CI run must satisfy, parsed before anything starts.

    p95(BootNotification) < 500ms      latency percentile of one action (or of all: p95 < 1s)
    avg(Heartbeat) <= 50ms             also max(...), min(...)
    fail_ratio < 0.01                  failures / requests, overall or fail_ratio(Action); 1% works
    failures(Heartbeat) == 0           failure count
    rps(Heartbeat) >= 100              requests per second over the run
    accepted >= 99%                    share of stations Accepted when the test stopped

A gate on something that was never measured fails: an SLO must not pass by having no data.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from fleet.errors import UsageError

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_EXPR = re.compile(
    r"^\s*(?P<metric>p\d{1,2}(?:\.\d+)?|avg|min|max|fail_ratio|failures|rps|accepted)\s*"
    r"(?:\(\s*(?P<action>[^()]*?)\s*\))?\s*"
    r"(?P<op><=|>=|==|<|>)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_LATENCY = ("avg", "min", "max")


class SloError(UsageError):
    """An SLO expression that cannot be parsed; says what was expected."""


@dataclass(slots=True, frozen=True)
class Slo:
    text: str
    metric: str  # "p95", "avg", "fail_ratio", ...
    action: str | None
    op: str
    threshold: float  # in ms for latencies, a ratio (0..1) for shares

    @property
    def is_latency(self) -> bool:
        return self.metric[0] == "p" or self.metric in _LATENCY

    def describe(self, value: float) -> str:
        if self.is_latency:
            return f"{value:.1f}ms"
        if self.metric in ("fail_ratio", "accepted"):
            return f"{value * 100:.2f}%"
        if self.metric == "rps":
            return f"{value:.1f}/s"
        return f"{value:g}"


class Measurements(Protocol):
    """What the gates read; implemented over Locust's stats (and testable without Locust)."""

    def percentile_ms(self, action: str | None, fraction: float) -> float | None: ...
    def latency_ms(self, action: str | None, kind: str) -> float | None: ...
    def fail_ratio(self, action: str | None) -> float | None: ...
    def failures(self, action: str | None) -> int | None: ...
    def rps(self, action: str | None) -> float | None: ...
    def accepted_share(self) -> float | None: ...


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
            "e.g. 'p95(BootNotification) < 500ms', 'fail_ratio < 0.01', 'accepted >= 99%'"
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
    elif metric in ("fail_ratio", "accepted"):
        if unit in ("ms", "s"):
            raise SloError(f"--slo {text!r}: {metric} is a share: write 0.01 or 1%")
        value = value / 100 if unit == "%" else value
        if value > 1:
            raise SloError(f"--slo {text!r}: {metric} is a share between 0 and 1 (or 0%..100%)")
    elif unit is not None:
        raise SloError(f"--slo {text!r}: {metric} takes a plain number")
    if metric == "accepted" and action is not None:
        raise SloError(f"--slo {text!r}: accepted counts stations, it takes no action")
    return Slo(text.strip(), metric, action, op, value)


def evaluate(slo: Slo, measured: Measurements) -> SloResult:
    value: float | None
    if slo.metric[0] == "p":
        value = measured.percentile_ms(slo.action, float(slo.metric[1:]) / 100)
    elif slo.metric in _LATENCY:
        value = measured.latency_ms(slo.action, slo.metric)
    elif slo.metric == "fail_ratio":
        value = measured.fail_ratio(slo.action)
    elif slo.metric == "failures":
        count = measured.failures(slo.action)
        value = None if count is None else float(count)
    elif slo.metric == "rps":
        value = measured.rps(slo.action)
    else:
        value = measured.accepted_share()
    ok = value is not None and _OPS[slo.op](value, slo.threshold)
    return SloResult(slo, value, ok)
