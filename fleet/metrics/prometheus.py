"""fleet's figures in the Prometheus exposition format, so a load test lands on the dashboards
the CSMS's own metrics are on.

Rendered on each scrape from what fleet already holds (``FleetStats`` and the stations per
state): nothing extra is counted on the hot path. The histograms are fleet's own (3
significant digits) poured into fixed buckets; their counts are the sample counts of the
summary. Counters restart from 0 when a new Locust test starts, as Locust's statistics do
(Prometheus's ``rate()`` reads that as a counter reset).

Names and labels (``figures.FIGURES``) follow Prometheus's conventions: base units (seconds),
``_total`` counters, ``version`` is the OCPP version ("1.6", "2.0.1").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from fleet.metrics.figures import BUCKETS_MS, COUNTER, FIGURES, HISTOGRAM, Figure, read
from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
UNITS: Final = {"s": "_seconds", "Wh": "_watt_hours"}
Source = Callable[[], tuple[FleetStats, Mapping[str, Mapping[str, int]]]]


def metric_name(figure: Figure) -> str:
    """``ocpp.request.duration`` in seconds: ``fleet_ocpp_request_duration_seconds`` (counters
    get their ``_total`` from prometheus_client)."""
    return "fleet_" + figure.name.replace(".", "_") + UNITS.get(figure.unit, "")


def buckets(row: Timing) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs in seconds, +Inf last, and the sum in seconds."""
    counts = sorted(row.histogram.counts.items())
    pairs: list[tuple[str, float]] = []
    seen, i = 0, 0
    for bound in BUCKETS_MS:
        while i < len(counts) and counts[i][0] <= bound:
            seen += counts[i][1]
            i += 1
        pairs.append((repr(bound / 1000), float(seen)))
    pairs.append(("+Inf", float(row.histogram.total)))
    total_ms = sum(key * n for key, n in counts)
    return pairs, total_ms / 1000


class FleetCollector(Collector):
    """Reads ``source()`` on each scrape: (FleetStats, {version: {state: n, "charging": n}})."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        reading = read(*self.source())
        for figure in FIGURES:
            name, labels = metric_name(figure), figure.labels
            family: Any
            if figure.kind == HISTOGRAM:
                family = HistogramMetricFamily(name, figure.description, labels=labels)
                for _, values, row in reading.histograms.get(figure.name, ()):
                    family.add_metric(values, *buckets(row))
            else:
                kind = CounterMetricFamily if figure.kind == COUNTER else GaugeMetricFamily
                family = kind(name, figure.description, labels=labels)
                for values, value in reading.values.get(figure.name, ()):
                    family.add_metric(values, value)
            yield family


def exposition(source: Source) -> bytes:
    """The text a scrape gets: fleet's metrics from ``source()`` (see FleetCollector)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(source))
    return generate_latest(registry)
