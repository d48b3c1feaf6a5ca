"""The statistics of a stretch of a run: what was recorded after a mark. A capacity search
judges each step on its own window (the stations of that step, settled), not on the whole run,
whose earlier, lighter steps would water the figures down. Pure: the caller takes the mark and
asks later.

Everything the SLO gates read is carried over: the wire rows and fleet's own rows (counts,
failures, taint, latencies), missed messages and CSMS violations. A row's maximum in the window
is its histogram's largest value (3 significant digits), the exact one being the run's."""

from __future__ import annotations

from collections import Counter

from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing
from fleet.metrics.windows import difference

_Row = tuple[int, int, int, dict[float, int]]  # count, failures, tainted, histogram counts


class Mark:
    """The statistics' counts now; ``since()`` gives what came after."""

    __slots__ = ("conformance", "missed", "timings", "wire")

    def __init__(self, stats: FleetStats) -> None:
        self.timings = {name: _kept(row) for name, row in stats.timings.items()}
        self.wire = {key: _kept(row) for key, row in stats.wire.items()}
        self.missed = {action: Counter(causes) for action, causes in stats.missed.items()}
        self.conformance = dict(stats.conformance.counts)

    def since(self, stats: FleetStats) -> FleetStats:
        """A FleetStats holding only what ``stats`` recorded after the mark."""
        window = FleetStats()
        for name, row in stats.timings.items():
            window.timings[name] = _after(row, self.timings.get(name))
        for key, row in stats.wire.items():
            window.wire[key] = _after(row, self.wire.get(key))
        for action, causes in stats.missed.items():
            newer = causes - self.missed.get(action, Counter())
            if newer:
                window.missed[action] = newer
        conformance = window.conformance
        for kind, n in stats.conformance.counts.items():
            newer_n = n - self.conformance.get(kind, 0)
            if newer_n > 0:
                conformance.add(stats.conformance.examples[kind], newer_n)
        return window


def _kept(row: Timing) -> _Row:
    return row.count, row.failures, row.tainted, dict(row.histogram.counts)


def _after(row: Timing, before: _Row | None) -> Timing:
    if before is None:
        before = (0, 0, 0, {})
    count, failures, tainted, counts = before
    histogram = difference(row.histogram, counts)
    top = max(histogram.counts) if histogram.total else 0.0
    return Timing(row.count - count, row.failures - failures, row.tainted - tainted, top, histogram)
