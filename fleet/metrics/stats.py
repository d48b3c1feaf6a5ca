"""fleet's own statistics: the wire rows, and everything else it measures.

The wire rows (``wire``) are what crossed the wire at the stations' initiative (OCPP CALLs per
version and action, websocket connects). Under Locust each is also a request in Locust's table,
but fleet's summary, SLO gates and exports read fleet's own histograms: 3 significant digits
where Locust keeps 2 (a p99 of 147 ms reads 147, not 150).

Derived timings (boot→accepted), the stations' handling of CSMS calls, heartbeat drift,
connections lost, event-loop lag, missed beats, CSMS violations and which wire samples fleet's
own stalls delayed are counted apart from the wire rows: in Locust's Aggregated row they would
corrupt the request rate, the percentiles and every SLO gate that names no action.

One ``FleetStats`` per process; Locust workers send theirs to the master as plain data
(``to_dict``), where they are merged (``merge``), histograms included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from fleet.metrics.conformance import Conformance
from fleet.metrics.sample import (
    CONNECT,
    DELIVERY_EVENTS,
    MISSED_CAUSES,
    SessionDelta,
    Violation,
    covers,
    handling_row,
    reason_class,
)
from fleet.metrics.timing import Timing, combine

MAX_FAILURE_REASONS: Final = 100
TOP_STATIONS: Final = 10
REFUSED_KEPT: Final = 10  # stations named per refusal reason


@dataclass(slots=True)
class SessionTotals:
    """Charging sessions of one OCPP version: started, completed, energy delivered (the running
    sessions' so far included), and the connector faults (scenario ``faults``)."""

    started: int = 0
    completed: int = 0
    energy_wh: float = 0.0
    faults: int = 0

    def add(self, started: int, completed: int, energy_wh: float, faults: int = 0) -> None:
        self.started += started
        self.completed += completed
        self.energy_wh += energy_wh
        self.faults += faults


class FleetStats:
    def __init__(self) -> None:
        self.timings: dict[str, Timing] = {}
        # (kind, action) -> row; kind is the station's "OCPP1.6" / "OCPP2.0.1", or "connect".
        self.wire: dict[tuple[str, str], Timing] = {}
        # Failed wire exchanges by class (sample.reason_class): (kind, action, class) -> count.
        self.wire_failures: Counter[tuple[str, str, str]] = Counter()
        self.missed: dict[str, Counter[str]] = {}  # action -> cause -> count
        self.missed_stations: dict[str, Counter[str]] = {}  # action -> station -> count
        # Stations with missed beats that only a count travelled for (other processes' beyond
        # their TOP_STATIONS): action -> how many.
        self.missed_elsewhere: Counter[str] = Counter()
        self.conformance = Conformance()
        self.reasons: Counter[tuple[str, str]] = Counter()  # (row, reason) -> occurrences
        self.sessions: dict[str, SessionTotals] = {}  # OCPP version -> totals
        self.answers: dict[str, Counter[str]] = {}  # CSMS call -> how stations answered it
        self.delivery: dict[str, Counter[str]] = {}  # transaction row -> DELIVERY_EVENTS counts
        # Connects refused, per reason: the first stations (which ones a CSMS turned away).
        self.refused: dict[str, list[str]] = {}
        self.saturated = False

    # --- recording (one thread: the loop's for `fleet run`, gevent's under Locust) ----------------

    def timing(self, name: str, ms: float, error: str | None = None, tainted: bool = False) -> None:
        row = self.timings.get(name)
        if row is None:
            row = self.timings[name] = Timing()
        row.add(ms, error is not None, tainted)
        if error is not None:
            self._reason(name, error)

    def exchange(
        self, kind: str, action: str, ms: float, error: str | None, tainted: bool = False
    ) -> None:
        """A wire exchange: every round trip of every station comes here (~0.4 µs)."""
        key = (kind, action)
        row = self.wire.get(key)
        if row is None:
            row = self.wire[key] = Timing()
        row.add(ms, error is not None, tainted)
        if error is not None:
            self.wire_failures[kind, action, reason_class(error)] += 1

    def missed_beats(self, station: str, action: str, cause: str, count: int) -> None:
        causes = self.missed.get(action)
        if causes is None:
            causes = self.missed[action] = Counter()
            self.missed_stations[action] = Counter()
        causes[cause] += count
        self.missed_stations[action][station] += count

    def violation(self, violation: Violation) -> None:
        self.conformance.add(violation)

    def session(self, version: str, delta: SessionDelta) -> None:
        totals = self.sessions.get(version)
        if totals is None:
            totals = self.sessions[version] = SessionTotals()
        totals.add(delta.started, delta.completed, delta.energy_wh, delta.faults)

    def answered(self, action: str, outcome: str) -> None:
        _count(self.answers, action, outcome)

    def delivered(self, row: str, event: str, count: int = 1) -> None:
        _count(self.delivery, row, event, count)

    def refused_station(self, station: str, reason: str) -> None:
        stations = self.refused.get(reason)
        if stations is None:
            if len(self.refused) >= MAX_FAILURE_REASONS:
                return
            stations = self.refused[reason] = []
        if len(stations) < REFUSED_KEPT and station not in stations:
            stations.append(station)

    def _reason(self, row: str, reason: str) -> None:
        key = (row, reason)
        if key in self.reasons or len(self.reasons) < MAX_FAILURE_REASONS:
            self.reasons[key] += 1

    # --- reading ---------------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """Nothing recorded yet (a batch not worth handing over)."""
        return not (
            self.timings
            or self.wire
            or self.missed
            or self.conformance.total
            or self.sessions
            or self.answers
            or self.delivery
            or self.refused
        )

    @property
    def failures(self) -> int:
        return sum(row.failures for row in self.timings.values())

    def rows_matching(self, name: str) -> list[Timing]:
        """The row ``name``, or every row under a prefix: "CSMS→CP" covers each handled action."""
        exact = self.timings.get(name)
        if exact is not None:
            return [exact]
        return [row for key, row in self.timings.items() if key.startswith(name + " ")]

    def combined(self, name: str) -> Timing | None:
        return combine(self.rows_matching(name))

    def wire_rows(self, action: str | None) -> list[Timing]:
        """The wire rows of ``action`` in every OCPP version (with its parts: "TransactionEvent"
        covers "TransactionEvent(Started)"), or, for None, every OCPP CALL (not connects)."""
        if action is None:
            return [row for (kind, _), row in self.wire.items() if kind != CONNECT]
        return [row for (_, name), row in self.wire.items() if covers(action, name)]

    def wire_actions(self) -> dict[str, Timing]:
        """Wire rows per action name, every version's together (the summary's "actions")."""
        table: dict[str, Timing] = {}
        for (_, name), row in sorted(self.wire.items(), key=lambda item: item[0][1]):
            table.setdefault(name, Timing()).merge(row)
        return table

    def missed_total(self, action: str | None = None) -> int:
        counts = self.missed.values() if action is None else [self.missed.get(action, Counter())]
        return sum(sum(c.values()) for c in counts)

    def tainted_share(self, action: str | None = None) -> float | None:
        """Share of wire samples (all OCPP CALLs, or one action's) that overlapped a stall."""
        rows = self.wire_rows(action)
        count = sum(c.count for c in rows)
        return sum(c.tainted for c in rows) / count if count else None

    def missed_json(self) -> dict[str, Any]:
        table = {}
        for action, causes in sorted(self.missed.items()):
            stations = self.missed_stations.get(action, Counter())
            table[action] = {
                "total": sum(causes.values()),
                **{cause: causes.get(cause, 0) for cause in MISSED_CAUSES},
                "stations": len(stations) + self.missed_elsewhere[action],
                "worst": [
                    {"station": s, "missed": n} for s, n in stations.most_common(TOP_STATIONS)
                ],
            }
        return table

    def answers_json(self) -> dict[str, Any]:
        """Per CSMS call: how many came, how stations answered them (most frequent first), and
        the stations' handling time (fleet's row ``CSMS→CP <action>``)."""
        table = {}
        for action, outcomes in sorted(self.answers.items()):
            handled = self.timings.get(handling_row(action))
            table[action] = {
                "count": sum(outcomes.values()),
                "outcomes": dict(outcomes.most_common()),
                "p50_ms": None if handled is None else handled.percentile(50),
                "p99_ms": None if handled is None else handled.percentile(99),
            }
        return table

    def refused_json(self) -> dict[str, list[str]]:
        """Connect refusals per reason: the first REFUSED_KEPT stations refused so."""
        return {reason: sorted(stations) for reason, stations in sorted(self.refused.items())}

    def delivery_json(self) -> dict[str, Any]:
        """Per transaction row: how many were queued offline, replayed, retried, given up and
        dropped (every event, 0 when none)."""
        return {
            row: {event: events.get(event, 0) for event in DELIVERY_EVENTS}
            for row, events in sorted(self.delivery.items())
        }

    # --- across processes ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (msgpack and JSON safe) that ``from_dict`` turns back into FleetStats."""
        return {
            "timings": {name: row.to_list() for name, row in self.timings.items()},
            "wire": [[kind, action, *row.to_list()] for (kind, action), row in self.wire.items()],
            "wire_failures": [[*key, n] for key, n in self.wire_failures.items()],
            "missed": {action: dict(causes) for action, causes in self.missed.items()},
            # Per station only the worst: a 10,000-station blackout must not travel every 3 s.
            "missed_stations": {
                action: dict(stations.most_common(TOP_STATIONS))
                for action, stations in self.missed_stations.items()
            },
            "missed_elsewhere": {
                action: len(stations)
                - min(len(stations), TOP_STATIONS)
                + self.missed_elsewhere[action]
                for action, stations in self.missed_stations.items()
            },
            "conformance": self.conformance.to_dict(),
            "reasons": [[row, reason, n] for (row, reason), n in self.reasons.items()],
            "sessions": {
                v: [t.started, t.completed, t.energy_wh, t.faults] for v, t in self.sessions.items()
            },
            "answers": {action: dict(outcomes) for action, outcomes in self.answers.items()},
            "delivery": {row: dict(events) for row, events in self.delivery.items()},
            "refused": self.refused,
            "saturated": self.saturated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetStats:
        stats = cls()
        for name, row in data.get("timings", {}).items():
            stats.timings[name] = Timing.from_list(row)
        for kind, action, *row in data.get("wire", ()):
            stats.wire[str(kind), str(action)] = Timing.from_list(row)
        for kind, action, klass, n in data.get("wire_failures", ()):
            stats.wire_failures[str(kind), str(action), str(klass)] += int(n)
        for action, causes in data.get("missed", {}).items():
            stats.missed[action] = Counter({c: int(n) for c, n in causes.items()})
        for action, stations in data.get("missed_stations", {}).items():
            stats.missed_stations[action] = Counter({s: int(n) for s, n in stations.items()})
        for action, n in data.get("missed_elsewhere", {}).items():
            stats.missed_elsewhere[action] += int(n)
        stats.conformance = Conformance.from_dict(data.get("conformance", {}))
        for row, reason, n in data.get("reasons", ()):
            stats.reasons[(row, reason)] += int(n)
        for version, (started, completed, energy_wh, *faults) in data.get("sessions", {}).items():
            stats.sessions[version] = SessionTotals(
                int(started), int(completed), float(energy_wh), int(faults[0]) if faults else 0
            )
        for table, counts in (("answers", stats.answers), ("delivery", stats.delivery)):
            for key, values in data.get(table, {}).items():
                counts[key] = Counter({k: int(n) for k, n in values.items()})
        for reason, stations in data.get("refused", {}).items():
            for station in stations:
                stats.refused_station(str(station), str(reason))
        stats.saturated = bool(data.get("saturated", False))
        return stats

    def merge(self, other: FleetStats) -> None:
        for name, row in other.timings.items():
            self.timings.setdefault(name, Timing()).merge(row)
        for pair, row in other.wire.items():
            self.wire.setdefault(pair, Timing()).merge(row)
        self.wire_failures.update(other.wire_failures)
        for action, causes in other.missed.items():
            self.missed.setdefault(action, Counter()).update(causes)
        for action, stations in other.missed_stations.items():
            self.missed_stations.setdefault(action, Counter()).update(stations)
        self.missed_elsewhere.update(other.missed_elsewhere)
        self.conformance.merge(other.conformance)
        self.reasons.update(other.reasons)
        for version, other_totals in other.sessions.items():
            totals = self.sessions.setdefault(version, SessionTotals())
            totals.add(
                other_totals.started,
                other_totals.completed,
                other_totals.energy_wh,
                other_totals.faults,
            )
        for table, incoming in ((self.answers, other.answers), (self.delivery, other.delivery)):
            for key, values in incoming.items():
                table.setdefault(key, Counter()).update(values)
        for reason, names in other.refused.items():
            for name in names:
                self.refused_station(name, reason)
        self.saturated = self.saturated or other.saturated


def _count(table: dict[str, Counter[str]], key: str, value: str, count: int = 1) -> None:
    counts = table.get(key)
    if counts is None:
        counts = table[key] = Counter()
    counts[value] += count
