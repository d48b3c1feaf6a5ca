"""The headless run's Sink: wire rows per action, fleet's own statistics, station states and the
first failures, all on the event loop's thread (no locks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from fleet.metrics.health import LoopHealth
from fleet.metrics.sample import CONNECT, SessionDelta, Violation, covers
from fleet.metrics.stats import FleetStats, Timing
from fleet.station.state import State

MAX_FAILURES_KEPT: Final = 100


def stations_block(per_state: Mapping[State, int]) -> dict[str, int]:
    """The summary's "stations" block, for `fleet run` and Locust alike: a station that never
    got a boot answer (connecting, booting, offline) counts as offline."""
    counts = {
        "total": sum(per_state.values()),
        "accepted": per_state.get(State.ACCEPTED, 0),
        "pending": per_state.get(State.PENDING, 0),
        "rejected": per_state.get(State.REJECTED, 0),
    }
    counts["offline"] = counts["total"] - counts["accepted"] - counts["pending"]
    counts["offline"] -= counts["rejected"]
    return counts


class Summary:
    """Aggregates a whole run. ``rows`` are the wire exchanges (OCPP CALLs per action and
    "connect"), ``stats`` fleet's own statistics; ``health`` (when given) marks the samples the
    event loop's stalls delayed."""

    def __init__(self, health: LoopHealth | None = None) -> None:
        self.rows: dict[str, Timing] = {}
        self.stats = FleetStats()
        self.health = health
        self.states: Counter[State] = Counter()
        self.versions: dict[str, str] = {}
        self.charging: Counter[str] = Counter()  # stations with a session running, per version
        self.failures: list[dict[str, str]] = []
        self.failure_reasons: Counter[str] = Counter()
        self.messages = 0  # OCPP CALLs answered or failed

    def exchange(
        self,
        station: str,
        kind: str,
        action: str,
        sent_at: float,
        rtt_ms: float,
        size: int,
        error: str | None,
    ) -> None:
        health = self.health
        tainted = health is not None and health.tainted(sent_at, sent_at + rtt_ms / 1000)
        row = self.rows.get(action)
        if row is None:
            row = self.rows[action] = Timing()
        row.add(rtt_ms, error is not None, False)
        self.stats.exchange(action, tainted)
        if kind != CONNECT:
            self.messages += 1
        if error is not None:
            self._failure(station, action, error)
            if kind == CONNECT:
                self.stats.refused_station(station, error)

    def timing(
        self, station: str, name: str, started_at: float | None, ms: float, error: str | None
    ) -> None:
        health = self.health
        tainted = (
            health is not None
            and started_at is not None
            and health.tainted(started_at, started_at + ms / 1000)
        )
        self.stats.timing(name, ms, error, tainted)
        if error is not None:
            self._failure(station, name, error)

    def missed(self, station: str, action: str, cause: str, count: int) -> None:
        self.stats.missed_beats(station, action, cause, count)

    def violation(self, station: str, violation: Violation) -> None:
        self.stats.violation(violation)

    def state(self, station: str, version: str, old: State, new: State) -> None:
        if station not in self.versions:
            self.versions[station] = version
            self.states[old] += 1
        self.states[old] -= 1
        self.states[new] += 1

    def sessions(self, station: str, version: str, delta: SessionDelta) -> None:
        self.charging[version] += delta.charging
        self.stats.session(version, delta)

    def answered(self, station: str, action: str, outcome: str) -> None:
        self.stats.answered(action, outcome)

    def delivery(self, station: str, row: str, event: str, count: int = 1) -> None:
        self.stats.delivered(row, event, count)

    def _failure(self, station: str, row: str, reason: str) -> None:
        self.failure_reasons[f"{row}: {reason}"] += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append({"station": station, "action": row, "reason": reason})

    @property
    def failure_count(self) -> int:
        return sum(row.failures for row in self.rows.values()) + self.stats.failures

    def station_counts(self) -> dict[str, int]:
        return stations_block(self.states)

    def actions_json(self) -> dict[str, dict[str, Any]]:
        """The wire rows as the summary shows them (taint added by ``report.with_taint``)."""
        table = {}
        for key, row in sorted(self.rows.items()):
            data = row.to_json()
            del data["tainted"]  # wire taint lives in stats.exchanges
            table[key] = data
        return table


class SummaryWire:
    """The SLO gates' view (``fleet.slo.WireStats``) of a headless run's wire rows. No action
    means every OCPP CALL: websocket connects are not OCPP exchanges."""

    def __init__(self, summary: Summary, elapsed_s: float) -> None:
        self.rows = summary.rows
        self.elapsed_s = elapsed_s

    def _row(self, action: str | None) -> Timing | None:
        if action is not None:
            calls = [row for name, row in self.rows.items() if covers(action, name)]
        else:
            calls = [row for name, row in self.rows.items() if name != CONNECT]
        if not calls:
            return None
        total = Timing()
        for row in calls:
            total.merge(row)
        return total

    def percentile_ms(self, action: str | None, fraction: float) -> float | None:
        row = self._row(action)
        return None if row is None else row.percentile(fraction * 100)

    def latency_ms(self, action: str | None, kind: str) -> float | None:
        row = self._row(action)
        if row is None or not row.histogram.total:
            return None
        if kind == "avg":
            return row.histogram.mean()
        return row.max_ms if kind == "max" else min(row.histogram.counts)

    def fail_ratio(self, action: str | None) -> float | None:
        row = self._row(action)
        return row.failures / row.count if row is not None and row.count else None

    def failures(self, action: str | None) -> int | None:
        row = self._row(action)
        if row is None:
            return None if action is not None else 0
        return row.failures

    def rps(self, action: str | None) -> float | None:
        row = self._row(action)
        return row.count / self.elapsed_s if row is not None and self.elapsed_s > 0 else None
