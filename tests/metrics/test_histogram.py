from __future__ import annotations

import math
import random

from fleet.metrics.histogram import Histogram
from fleet.metrics.summary import Summary


def test_every_percentile_is_within_half_a_percent_of_the_exact_one() -> None:
    # Latencies spread over 0.1 ms .. 30 s (log-uniform), a fresh seed each run.
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    values = [10 ** rng.uniform(-1, 4.5) for _ in range(20_000)]
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    exact = sorted(values)
    for percent in (1, 10, 25, 50, 75, 90, 95, 99, 99.9):
        true = exact[math.ceil(len(exact) * percent / 100) - 1]  # nearest rank
        read = histogram.percentile(percent)
        assert read is not None
        assert abs(read - true) <= 0.005 * true, (seed, percent, read, true)
    assert histogram.total == 20_000


def test_a_p99_of_147_ms_reads_147() -> None:
    histogram = Histogram()
    for n in range(1000):
        histogram.add(100 + n * 47 / 990)  # the top 1 % above 147
    assert histogram.percentile(99) == 147.0


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
    row = summary.rows["Heartbeat"].to_json()
    assert (row["count"], row["failures"]) == (150, 75)
    assert len(summary.failures) == 75  # all kept, under the limit of 100
