"""The wire rows as a run's figures: the summary's "actions" block and the SLO gates' view of
them (``fleet.slo.WireStats``), for `fleet run` and Locust runs alike. Both read fleet's own
histograms (3 significant digits), not Locust's rounded response times."""

from __future__ import annotations

from typing import Any

from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing, combine


def actions_json(stats: FleetStats, elapsed_s: float) -> dict[str, dict[str, Any]]:
    """Per action (every OCPP version's together, connects included): count, failures, rate
    over ``elapsed_s``, percentiles and maximum of the answered ones, tainted samples."""
    table = {}
    for name, row in stats.wire_actions().items():
        data = row.to_json()
        data["rps"] = round(row.count / elapsed_s, 3) if elapsed_s > 0 else None
        data["tainted_pct"] = round(100 * row.tainted / row.count, 2) if row.count else 0.0
        table[name] = data
    return table


class WireView:
    """The SLO gates' view of the wire rows. An action covers every OCPP version and its parts
    ("TransactionEvent" its Started/Updated/Ended rows); no action means every OCPP CALL, not
    the websocket connects."""

    def __init__(self, stats: FleetStats, elapsed_s: float) -> None:
        self.stats = stats
        self.elapsed_s = elapsed_s

    def _row(self, action: str | None) -> Timing | None:
        return combine(self.stats.wire_rows(action))

    def _answered(self, action: str | None) -> Timing | None:
        row = self._row(action)
        return row if row is not None and row.histogram.total else None

    def percentile_ms(self, action: str | None, fraction: float) -> float | None:
        row = self._answered(action)
        return None if row is None else row.percentile(fraction * 100)

    def latency_ms(self, action: str | None, kind: str) -> float | None:
        row = self._answered(action)
        return None if row is None else row.latency(kind)

    def fail_ratio(self, action: str | None) -> float | None:
        row = self._row(action)
        return None if row is None else row.fail_ratio()

    def failures(self, action: str | None) -> int | None:
        row = self._row(action)
        if row is None:
            return None if action is not None else 0
        return row.failures

    def rps(self, action: str | None) -> float | None:
        row = self._row(action)
        return row.count / self.elapsed_s if row is not None and self.elapsed_s > 0 else None
