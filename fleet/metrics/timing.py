"""One row of timings: how many, how many failed or overlapped fleet's stalls, and the
latencies of the rest in a Histogram. The wire rows (an OCPP action per version, a connect)
and fleet's own rows (boot→accepted, loop lag, ...) are both made of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fleet.metrics.histogram import Histogram


@dataclass(slots=True)
class Timing:
    count: int = 0
    failures: int = 0
    tainted: int = 0
    max_ms: float = 0.0
    histogram: Histogram = field(default_factory=Histogram)

    def add(self, ms: float, failed: bool, tainted: bool) -> None:
        """A failure is counted, not timed: a timeout's 30 s is not a latency."""
        self.count += 1
        if tainted:
            self.tainted += 1
        if failed:
            self.failures += 1
            return
        self.histogram.add(ms)
        if ms > self.max_ms:
            self.max_ms = ms

    def merge(self, other: Timing) -> None:
        self.count += other.count
        self.failures += other.failures
        self.tainted += other.tainted
        self.max_ms = max(self.max_ms, other.max_ms)
        self.histogram.merge(other.histogram)

    def percentile(self, percent: float) -> float | None:
        """From the histogram (3 significant digits), but never above the exact maximum."""
        value = self.histogram.percentile(percent)
        return None if value is None else min(value, round(self.max_ms, 3))

    def latency(self, kind: str) -> float | None:
        """ "avg", "min" or "max" of the answered ones (None when none was answered)."""
        histogram = self.histogram
        if not histogram.total:
            return None
        if kind == "avg":
            return histogram.mean()
        return self.max_ms if kind == "max" else min(histogram.counts)

    def fail_ratio(self) -> float | None:
        return self.failures / self.count if self.count else None

    def to_json(self) -> dict[str, Any]:
        """What the summary, the Fleet tab and the CSV show for the row."""
        percentile = self.percentile
        return {
            "count": self.count,
            "failures": self.failures,
            "p50_ms": percentile(50),
            "p95_ms": percentile(95),
            "p99_ms": percentile(99),
            "max_ms": round(self.max_ms, 3) if self.histogram.total else None,
            "tainted": self.tainted,
        }

    def to_list(self) -> list[Any]:
        """Plain data (msgpack and JSON safe) for ``from_list``."""
        return [self.count, self.failures, self.tainted, self.max_ms, self.histogram.to_pairs()]

    @classmethod
    def from_list(cls, data: Any) -> Timing:
        count, failures, tainted, max_ms, pairs = data
        return cls(
            int(count), int(failures), int(tainted), float(max_ms), Histogram.from_pairs(pairs)
        )


def combine(rows: Iterable[Timing]) -> Timing | None:
    """One row holding all of ``rows`` (the row itself when there is one), None for none."""
    rows = list(rows)
    if len(rows) <= 1:
        return rows[0] if rows else None
    total = Timing()
    for row in rows:
        total.merge(row)
    return total
