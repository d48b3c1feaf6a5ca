"""Chart points from fleet's own statistics, on a fake clock: windowed percentiles per action,
stable labels, sessions and loop lag (no process, no socket, no sleeping)."""

from __future__ import annotations

import random

from fleet.metrics.charts import CHART_ACTIONS, point
from fleet.metrics.histogram import Histogram
from fleet.metrics.sample import SessionDelta
from fleet.metrics.stats import FleetStats
from fleet.metrics.windows import Windows

TABLE = {
    "1.6": {"accepted": 7, "offline": 1, "charging": 2},
    "2.0.1": {"accepted": 3, "offline": 0, "charging": 1},
}


def test_percentiles_cover_the_last_window_only() -> None:
    stats, windows = FleetStats(), Windows(window_s=10)
    for _ in range(100):
        stats.exchange("OCPP1.6", "Heartbeat", 20.0, None)
    first = point(0.0, stats, TABLE, windows)
    assert first["latency_ms"]["Heartbeat"] == {"p50": 20.0, "p95": 20.0, "p99": 20.0, "max": 20.0}
    # The CSMS slows down: 4 s later the window holds both; 12 s later only the slow ones.
    for _ in range(100):
        stats.exchange("OCPP1.6", "Heartbeat", 147.3, None)
    assert point(4.0, stats, TABLE, windows)["latency_ms"]["Heartbeat"]["p95"] == 147.0
    for _ in range(10):
        stats.exchange("OCPP1.6", "Heartbeat", 160.0, None)
    later = point(12.0, stats, TABLE, windows)["latency_ms"]["Heartbeat"]
    assert later == {"p50": 160.0, "p95": 160.0, "p99": 160.0, "max": 160.0}
    # Nothing new in the window: no figure (a gap in the line, not a stale value).
    assert point(30.0, stats, TABLE, windows)["latency_ms"]["Heartbeat"] is None


def test_a_new_test_starts_the_windows_again() -> None:
    stats, windows = FleetStats(), Windows()
    for _ in range(50):
        stats.exchange("OCPP1.6", "Heartbeat", 5.0, None)
    point(0.0, stats, TABLE, windows)
    fresh = FleetStats()  # Locust's test_start: the counts begin at 0 again
    for _ in range(3):
        fresh.exchange("OCPP1.6", "Heartbeat", 9.0, None)
    assert point(2.0, fresh, TABLE, windows)["latency_ms"]["Heartbeat"]["p50"] == 9.0


def test_labels_busiest_rows_sessions_and_lag() -> None:
    stats = FleetStats()
    rng = random.Random()
    actions = [f"Action{n}" for n in range(CHART_ACTIONS + 3)]
    for n, action in enumerate(actions):
        for _ in range(100 + 10 * n):
            stats.exchange("OCPP1.6", action, rng.uniform(1, 50), None)
    stats.exchange("OCPP2.0.1", "Action0", 3.0, None)  # rare in 2.0.1, and the least busy
    stats.exchange("connect", "connect", 2.0, None)
    for ms in (1.0, 2.0, 80.0):
        stats.timing("loop lag", ms)
    stats.session("1.6", SessionDelta(1, 5, 2, 12_345.0))
    got = point(0.0, stats, TABLE, Windows())
    labels = set(got["latency_ms"])
    assert len(labels) == CHART_ACTIONS
    assert labels == {f"Action{n}" for n in range(3, CHART_ACTIONS + 3)}  # the busiest
    assert "Action0 1.6" not in labels and "Action0" not in labels  # and labelled apart
    assert got["states"] == {"accepted": 10, "offline": 1}
    assert got["sessions"] == {"charging": 3, "started": 5, "completed": 2, "energy_kwh": 12.345}
    assert got["loop_lag_ms"]["max"] == 80.0 and got["loop_lag_ms"]["p50"] == 2.0


def test_a_name_two_versions_share_is_labelled_with_each_version() -> None:
    stats = FleetStats()
    for _ in range(10):
        stats.exchange("OCPP1.6", "Authorize", 5.0, None)
    stats.exchange("OCPP2.0.1", "Authorize", 5.0, None)
    stats.exchange("OCPP2.0.1", "TransactionEvent", 5.0, None)
    labels = set(point(0.0, stats, TABLE, Windows())["latency_ms"])
    assert labels == {"Authorize 1.6", "Authorize 2.0.1", "TransactionEvent"}


def test_difference_of_histograms_is_what_was_added() -> None:
    before, now = Histogram(), Histogram()
    for ms in (1.0, 2.0, 2.0):
        before.add(ms)
        now.add(ms)
    for ms in (2.0, 3.0):
        now.add(ms)
    windows = Windows(window_s=5)
    windows.add(0.0, {"x": before})
    assert windows.add(6.0, {"x": now})["x"] == {"p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0}
