"""fleet's figures as OpenTelemetry instruments (``--otel``), the same set the Prometheus
endpoint serves, through the OTel SDK's meter provider (Locust's, or `fleet run`'s own).

Nothing is recorded on the hot path. ``pump()``, called about once a second on the thread that
owns the statistics, reads what fleet already counted: histogram samples that are new since the
last pump are recorded into the OTel histograms (one ``record`` per sample, at fleet's 3
significant digits), and the counters and gauges are observed from a snapshot the pump takes,
so the SDK's export thread never reads a statistic while the loop writes it. Locust's own OTel
histogram keeps the first 20 request names only; these keep every action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from fleet.metrics.figures import BUCKETS_MS, COUNTER, FIGURES, HISTOGRAM, Figure, read
from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing

Source = Callable[[], tuple[FleetStats, Mapping[str, Mapping[str, int]]]]
BOUNDARIES_S: Final = tuple(bound / 1000 for bound in BUCKETS_MS)
Attributes = dict[str, str]


class _Recorder:
    """Records into one OTel histogram the samples of fleet's histograms not recorded yet."""

    def __init__(self, instrument: Any, labels: tuple[str, ...]) -> None:
        self.instrument = instrument
        self.labels = labels
        self.seen: dict[Any, dict[float, int]] = {}

    def reset(self) -> None:
        self.seen.clear()

    def feed(self, key: Any, values: tuple[str, ...], row: Timing) -> int:
        before = self.seen.setdefault(key, {})
        record, attributes = self.instrument.record, dict(zip(self.labels, values, strict=True))
        recorded = 0
        for value, n in row.histogram.counts.items():
            new = n - before.get(value, 0)
            if new > 0:
                seconds = value / 1000
                for _ in range(new):
                    record(seconds, attributes)
                recorded += new
            before[value] = n
        return recorded


class FleetInstruments:
    """fleet's OTel instruments (``figures.FIGURES``, named ``fleet.<name>``) on ``meter``,
    fed from ``source()`` by ``pump()``."""

    def __init__(self, meter: Any, source: Source) -> None:
        self.source = source
        self._stats: FleetStats | None = None  # the object last pumped (a new one: a reset)
        self._values: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        self._recorders: dict[str, _Recorder] = {}
        for figure in FIGURES:
            name = f"fleet.{figure.name}"
            if figure.kind == HISTOGRAM:
                instrument = meter.create_histogram(
                    name,
                    unit=figure.unit,
                    description=figure.description,
                    explicit_bucket_boundaries_advisory=BOUNDARIES_S,
                )
                self._recorders[figure.name] = _Recorder(instrument, figure.labels)
                continue
            make = (
                meter.create_observable_counter
                if figure.kind == COUNTER
                else meter.create_observable_gauge
            )
            make(
                name,
                callbacks=[self._callback(figure)],
                unit=figure.unit,
                description=figure.description,
            )

    def _callback(self, figure: Figure) -> Callable[[Any], Iterable[Any]]:
        from opentelemetry.metrics import Observation

        def observe(_options: Any) -> Iterable[Any]:
            return [
                Observation(value, dict(zip(figure.labels, values, strict=True)))
                for values, value in self._values.get(figure.name, ())
            ]

        return observe

    def pump(self) -> int:
        """Record what fleet counted since the last pump; snapshot the counters and gauges.
        Returns how many histogram samples were recorded."""
        stats, table = self.source()
        if stats is not self._stats:
            for recorder in self._recorders.values():
                recorder.reset()
            self._stats = stats
        reading = read(stats, table)
        recorded = 0
        for name, rows in reading.histograms.items():
            recorder = self._recorders[name]
            for key, values, row in rows:
                recorded += recorder.feed(key, values, row)
        self._values = reading.values
        return recorded
