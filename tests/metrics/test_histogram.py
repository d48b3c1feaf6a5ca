from __future__ import annotations

import random

import pytest

from fleet.metrics.histogram import Histogram
from fleet.metrics.summary import Summary


def test_histogram_percentiles_within_rounding() -> None:
    values = [random.Random(3).uniform(0.1, 900) for _ in range(10_000)]
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    exact = sorted(values)
    for percent in (50, 95, 99):
        true = exact[int(len(exact) * percent / 100) - 1]
        assert histogram.percentile(percent) == pytest.approx(true, rel=0.06)
    assert histogram.total == 10_000 and len(histogram.counts) < 300


def test_histogram_merge_equals_one_histogram() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    for i, value in enumerate([0.5, 3.3, 47, 120, 999, 2500] * 10):
        (a if i % 2 else b).add(value)
        both.add(value)
    a.merge(b)
    assert a.counts == both.counts and a.total == both.total
    assert Histogram().percentile(50) is None


def test_summary_counts_failures_and_keeps_the_first_reasons() -> None:
    summary = Summary()
    for n in range(150):
        error = "boom" if n % 2 else None
        summary.exchange(f"CP-{n}", "OCPP1.6", "Heartbeat", 0.0, 1.0, 10, error)
    row = summary.actions_json()["Heartbeat"]
    assert (row["count"], row["failures"]) == (150, 75)
    assert len(summary.failures) == 75  # all kept, under the limit of 100
