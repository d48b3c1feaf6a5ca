"""The loop thread's side of the Locust bridge: the stations' Sink and the live gauges.

Everything here runs on the uvloop thread and touches nothing of gevent's: wire exchanges go
into the bridge's queue one by one, fleet's own statistics are counted into a FleetStats the
bridge hands over as a whole, and station states and stations charging are gauges the gevent
side copies when it reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleet.metrics.sample import CHARGING, CONNECT, SessionDelta, Violation
from fleet.metrics.stats import FleetStats
from fleet.station.state import State
from fleet.wire import VERSIONS

# What crosses from the loop thread, tagged by the first element: a wire exchange, a batch of
# fleet's statistics, a callback.
EXCHANGE, STATS, CALLBACK = range(3)


class StateCounts:
    """Live stations per (version, state) and per version charging, written on the loop thread
    only. Every key exists from the start, so a reader on the gevent side can copy it at any
    time. Kept apart from FleetStats: these are gauges, which a stats reset must not zero."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, State], int] = {(v, s): 0 for v in VERSIONS for s in State}
        self.charging: dict[str, int] = dict.fromkeys(VERSIONS, 0)
        self.final: dict[str, dict[str, int]] | None = None  # snapshot taken as the test stops

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{version: {state: count, CHARGING: count}} with every version and state present."""
        table: dict[str, dict[str, int]] = {v: {} for v in VERSIONS}
        for (version, state), n in list(self.counts.items()):
            table[version][state.value] = n
        for version, n in list(self.charging.items()):
            table[version][CHARGING] = n
        return table


class LocustSink:
    """The stations' Sink inside a Locust process, on the loop thread: wire exchanges are
    queued one by one (each becomes a Locust request), everything else is counted into the
    loop thread's FleetStats, which the bridge hands over as a whole."""

    def __init__(
        self,
        put: Callable[[Any], None],
        states: StateCounts,
        tainted: Callable[[float, float], bool],
    ) -> None:
        self._put = put  # the bridge's queue to the gevent side
        self._states = states.counts
        self._charging = states.charging
        self._tainted = tainted  # LoopHealth.tainted: did a span overlap one of the loop's stalls
        self.stats = FleetStats()  # the loop thread's, until handed over

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
        self.stats.exchange(
            kind, action, rtt_ms, error, self._tainted(sent_at, sent_at + rtt_ms / 1000)
        )
        if error is not None and kind == CONNECT:
            self.stats.refused_station(station, error)
        self._put((EXCHANGE, kind, action, rtt_ms, size, error))

    def timing(
        self, station: str, name: str, started_at: float | None, ms: float, error: str | None
    ) -> None:
        tainted = started_at is not None and self._tainted(started_at, started_at + ms / 1000)
        self.stats.timing(name, ms, error, tainted)

    def missed(self, station: str, action: str, cause: str, count: int) -> None:
        self.stats.missed_beats(station, action, cause, count)

    def answered(self, station: str, action: str, outcome: str) -> None:
        self.stats.answered(action, outcome)

    def delivery(self, station: str, row: str, event: str, count: int = 1) -> None:
        self.stats.delivered(row, event, count)

    def violation(self, station: str, violation: Violation) -> None:
        self.stats.violation(violation)

    def hand_over(self) -> None:
        """Send what was counted since the last hand-over to the gevent side (loop thread)."""
        stats = self.stats
        if not stats.empty:
            self.stats = FleetStats()
            self._put((STATS, stats))

    def state(self, station: str, version: str, old: State, new: State) -> None:
        self._states[version, old] -= 1
        self._states[version, new] += 1

    def sessions(self, station: str, version: str, delta: SessionDelta) -> None:
        self._charging[version] += delta.charging
        self.stats.session(version, delta)
