"""What a run recorded after a mark (pure): a capacity step is judged on its own window."""

from __future__ import annotations

from fleet.metrics.sample import LOOP_LAG, Violation
from fleet.metrics.since import Mark
from fleet.metrics.stats import FleetStats


def test_a_window_holds_only_what_came_after_the_mark() -> None:
    stats = FleetStats()
    for ms in (1.0, 2.0, 3.0):
        stats.exchange("OCPP1.6", "Heartbeat", ms, None)
    stats.exchange("OCPP1.6", "Heartbeat", 0.0, "timed out")
    stats.timing(LOOP_LAG, 0.5)
    stats.missed_beats("CP-1", "Heartbeat", "busy", 2)
    late = Violation("answer", "Heartbeat", "currentTime", "format", "date-time", "[3]")
    stats.violation(late)
    mark = Mark(stats)
    for ms in (200.0, 300.0):
        stats.exchange("OCPP1.6", "Heartbeat", ms, None, tainted=True)
    stats.exchange("OCPP2.0.1", "Heartbeat", 100.0, None)
    stats.timing(LOOP_LAG, 80.0)
    stats.missed_beats("CP-1", "Heartbeat", "busy", 1)
    stats.violation(late)
    window = mark.since(stats)
    old = window.wire["OCPP1.6", "Heartbeat"]
    assert (old.count, old.failures, old.tainted) == (2, 0, 2)
    assert sorted(old.histogram.counts) == [200.0, 300.0] and old.max_ms == 300.0
    assert window.wire["OCPP2.0.1", "Heartbeat"].count == 1  # a row new since the mark
    assert window.timings[LOOP_LAG].percentile(99) == 80.0
    assert window.missed_total("Heartbeat") == 1
    assert window.conformance.count() == 1
    empty = Mark(stats).since(stats)
    assert all(row.count == 0 for row in empty.wire.values())
    assert empty.missed_total() == 0 and empty.conformance.count() == 0
    assert stats.wire["OCPP1.6", "Heartbeat"].count == 6  # the run's own rows are untouched
