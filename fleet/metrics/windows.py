"""Percentiles over the last few seconds from cumulative histograms: what the charts plot.

fleet's histograms only grow (and merge across workers by adding counts), so a window is the
difference between now and a snapshot taken ``window_s`` ago. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Final

from fleet.metrics.histogram import Histogram

PERCENTS: Final = (50, 95, 99)


def difference(now: Histogram, before: Mapping[float, int] | None) -> Histogram:
    """What ``now`` counted beyond ``before`` (a snapshot of its counts)."""
    window = Histogram()
    for key, n in now.counts.items():
        new = n - (before.get(key, 0) if before else 0)
        if new > 0:
            window.counts[key] = new
            window.total += new
    return window


class Windows:
    """Per row name: p50/p95/p99 and max over roughly the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 10.0, percents: Sequence[float] = PERCENTS) -> None:
        self.window_s = window_s
        self.percents = tuple(percents)
        self._snapshots: deque[tuple[float, dict[str, dict[float, int]]]] = deque()

    def reset(self) -> None:
        self._snapshots.clear()

    def add(self, now: float, rows: Mapping[str, Histogram]) -> dict[str, dict[str, float | None]]:
        """Take a snapshot at ``now``; return each row's figures since the oldest snapshot
        taken at most ``window_s`` ago (or the newest before that, when none was; since
        nothing, for the first)."""
        while len(self._snapshots) > 1 and self._snapshots[0][0] < now - self.window_s:
            self._snapshots.popleft()
        base = self._snapshots[0][1] if self._snapshots else {}
        if self._snapshots and any(
            sum(row.counts.values()) < sum(base.get(name, {}).values())
            for name, row in rows.items()
        ):
            base = {}  # counts went down: the statistics started again
            self._snapshots.clear()
        figures: dict[str, dict[str, float | None]] = {}
        for name, row in rows.items():
            window = difference(row, base.get(name))
            if not window.total:
                continue
            figures[name] = {f"p{p:g}": window.percentile(p) for p in self.percents}
            figures[name]["max"] = max(window.counts)
        self._snapshots.append((now, {name: dict(row.counts) for name, row in rows.items()}))
        return figures
