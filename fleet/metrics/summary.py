"""The headless run's Sink: wire rows per action, fleet's own statistics, station states and the
first failures, all on the event loop's thread (no locks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Final

from fleet.metrics.health import LoopHealth
from fleet.metrics.sample import CHARGING, CONNECT, SessionDelta, Violation
from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing
from fleet.station.state import State
from fleet.wire import VERSIONS

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
    """Aggregates a whole run into ``stats`` (wire rows and fleet's own); ``health`` (when
    given) marks the samples the event loop's stalls delayed."""

    def __init__(self, health: LoopHealth | None = None) -> None:
        self.stats = FleetStats()
        self.health = health
        self.per_version: Counter[tuple[str, State]] = Counter()  # (version, state) -> stations
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
        self.stats.exchange(kind, action, rtt_ms, error, tainted)
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
            self.per_version[version, old] += 1
        self.per_version[version, old] -= 1
        self.per_version[version, new] += 1

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
    def rows(self) -> dict[str, Timing]:
        """The wire rows per action, every OCPP version's together (a copy made on each read)."""
        return self.stats.wire_actions()

    @property
    def failure_count(self) -> int:
        wire = sum(row.failures for row in self.stats.wire.values())
        return wire + self.stats.failures

    @property
    def states(self) -> Counter[State]:
        """Stations per state, every version's together."""
        total: Counter[State] = Counter()
        for (_, state), n in self.per_version.items():
            total[state] += n
        return total

    def station_counts(self) -> dict[str, int]:
        return stations_block(self.states)

    def versions_table(self) -> dict[str, dict[str, int]]:
        """{version: {state: count, "charging": count}}, every version and state present."""
        table: dict[str, dict[str, int]] = {}
        for version in VERSIONS:
            row = {state.value: self.per_version[version, state] for state in State}
            row[CHARGING] = self.charging[version]
            table[version] = row
        return table
