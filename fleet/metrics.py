"""What leaves a station: plain samples and state changes, through one small interface (a Sink).

Station code never knows who listens. The headless runner plugs in ``Summary`` (percentile
tables, JSON summary); the Locust bridge plugs in a sink that hands samples to gevent and fires
``events.request``. A sample is the wire round trip only: the clock starts when the frame is
handed to the socket, not when the station first wanted to send it.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

CSMS_TO_CP: Final = "CSMS→CP"
CONNECT: Final = "connect"
BOOT_ACCEPTED: Final = "boot→accepted"
FLEET: Final = "fleet"  # fleet's own health: "heartbeat drift", "loop lag"
HEARTBEAT_DRIFT: Final = "heartbeat drift"
LOOP_LAG: Final = "loop lag"
MAX_FAILURES_KEPT: Final = 100


class State(enum.Enum):
    """Where a station is in its life; what the progress line and the summary count."""

    OFFLINE = "offline"  # no websocket (not started yet, or between reconnects)
    CONNECTING = "connecting"  # TCP + websocket handshake under way
    BOOTING = "booting"  # connected, BootNotification not answered yet
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


CONNECTED_STATES: Final = frozenset({State.BOOTING, State.PENDING, State.ACCEPTED, State.REJECTED})


class Sink(Protocol):
    """Receives every measurement a station makes. Calls come from the event loop's thread and
    must not block: a sink that needs another thread queues the values."""

    def record(
        self, station: str, kind: str, name: str, rtt_ms: float, size: int, error: str | None
    ) -> None:
        """One exchange. ``kind``: "OCPP1.6", "OCPP2.0.1", CONNECT, BOOT_ACCEPTED, CSMS_TO_CP, or
        FLEET for fleet's own health (``name`` HEARTBEAT_DRIFT: how late a beat left);
        ``name``: the action; ``size``: bytes received; ``error``: None or a one-line reason."""

    def state(self, station: str, version: str, old: State, new: State) -> None:
        """A station moved from ``old`` to ``new``."""


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


class Histogram:
    """Latencies rounded to 2 significant digits (3 from 100 ms up, as Locust does), counted in
    a dict: ~0.3 µs per value, a few hundred keys whatever the count, and two histograms merge
    by adding counts. hdrhistogram was the first choice; its pure-Python record_value cost more
    than a third of a round trip's CPU on the hot path (bench/cpu_per_rtt.py)."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: dict[float, int] = {}
        self.total = 0

    def add(self, ms: float) -> None:
        if ms < 1:
            key = round(ms, 2)
        elif ms < 10:
            key = round(ms, 1)
        elif ms < 100:
            key = float(round(ms))
        elif ms < 1000:
            key = float(round(ms, -1))
        else:
            key = float(round(ms, -2))
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.total += 1

    def merge(self, other: Histogram) -> None:
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.total += other.total

    def percentile(self, percent: float) -> float | None:
        """The smallest recorded value with at least ``percent`` % of values at or below it."""
        if not self.total:
            return None
        wanted = self.total * percent / 100
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= wanted:
                return key
        return max(self.counts)


@dataclass(slots=True)
class Row:
    """Aggregate for one summary row."""

    count: int = 0
    failures: int = 0
    histogram: Histogram = field(default_factory=Histogram)

    def add(self, rtt_ms: float, failed: bool) -> None:
        self.count += 1
        if failed:
            self.failures += 1
        else:
            self.histogram.add(rtt_ms)

    def percentile_ms(self, percent: float) -> float | None:
        return self.histogram.percentile(percent)


def row_key(kind: str, name: str) -> str:
    """Summary rows are keyed by action; CSMS-initiated calls get their own rows."""
    return f"{CSMS_TO_CP} {name}" if kind == CSMS_TO_CP else name


class Summary:
    """A Sink that aggregates a whole run: rows per action, station states, first failures."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.states: Counter[State] = Counter()
        self.versions: dict[str, str] = {}
        self.failures: list[dict[str, str]] = []
        self.failure_reasons: Counter[str] = Counter()
        self.messages = 0

    def record(
        self, station: str, kind: str, name: str, rtt_ms: float, size: int, error: str | None
    ) -> None:
        key = row_key(kind, name)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row()
        row.add(rtt_ms, error is not None)
        if kind != CONNECT and kind != BOOT_ACCEPTED and kind != FLEET:
            self.messages += 1
        if error is not None:
            self.failure_reasons[f"{key}: {error}"] += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append({"station": station, "action": key, "reason": error})

    def state(self, station: str, version: str, old: State, new: State) -> None:
        if station not in self.versions:
            self.versions[station] = version
            self.states[old] += 1
        self.states[old] -= 1
        self.states[new] += 1

    @property
    def failure_count(self) -> int:
        return sum(row.failures for row in self.rows.values())

    def station_counts(self) -> dict[str, int]:
        return stations_block(self.states)

    def to_json(self) -> dict[str, Any]:
        return {
            "stations": self.station_counts(),
            "actions": {
                key: {
                    "count": row.count,
                    "failures": row.failures,
                    "p50_ms": row.percentile_ms(50),
                    "p95_ms": row.percentile_ms(95),
                    "p99_ms": row.percentile_ms(99),
                }
                for key, row in sorted(self.rows.items())
            },
            "failures": self.failures,
        }
