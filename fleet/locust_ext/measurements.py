"""The SLO gates' view of Locust's request statistics (``fleet.slo.WireStats``)."""

from __future__ import annotations

from locust.env import Environment
from locust.stats import StatsEntry

from fleet.locust_ext.bridge import CONNECT_TYPE
from fleet.metrics.sample import covers


class LocustWire:
    """Actions are matched by name across request types (a BootNotification row exists per OCPP
    version); no action means every OCPP CALL, not the websocket connects."""

    def __init__(self, environment: Environment) -> None:
        self.stats = environment.stats

    def entry(self, action: str | None) -> StatsEntry | None:
        matches = [
            e
            for (name, method), e in self.stats.entries.items()
            if (covers(action, name) if action is not None else method != CONNECT_TYPE)
        ]
        if not matches or not any(e.num_requests for e in matches):
            return None
        if len(matches) == 1:
            return matches[0]
        combined = StatsEntry(self.stats, action or "OCPP", "", use_response_times_cache=False)
        for entry in matches:
            combined.extend(entry)
        return combined

    def _answered(self, action: str | None) -> StatsEntry | None:
        entry = self.entry(action)
        return entry if entry is not None and entry.num_requests > entry.num_failures else None

    def percentile_ms(self, action: str | None, fraction: float) -> float | None:
        entry = self._answered(action)
        return None if entry is None else float(entry.get_response_time_percentile(fraction))

    def latency_ms(self, action: str | None, kind: str) -> float | None:
        entry = self._answered(action)
        if entry is None:
            return None
        if kind == "avg":
            return float(entry.avg_response_time)
        return float(entry.max_response_time if kind == "max" else entry.min_response_time or 0)

    def fail_ratio(self, action: str | None) -> float | None:
        entry = self.entry(action)
        return None if entry is None else entry.fail_ratio

    def failures(self, action: str | None) -> int | None:
        entry = self.entry(action)
        if entry is None:
            return None if action is not None else 0
        return entry.num_failures

    def rps(self, action: str | None) -> float | None:
        entry = self.entry(action)
        return None if entry is None else float(entry.total_rps)
