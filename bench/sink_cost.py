"""Benchmark 11: what fleet's own wire histogram costs per exchange under Locust.

Since issue 14, every wire exchange a station reports inside a Locust process is also counted
into fleet's own histogram (3 significant digits) on the loop thread, so the summary, the gates
and Prometheus read exact percentiles. With ``--otel``, each sample is also recorded into the
OpenTelemetry SDK's histogram once a second (``FleetInstruments.pump``): its cost per sample is
measured beside. This measures ``LocustSink.exchange`` as shipped against
the same sink counting exchanges only (what it did before: count and taint, no latency), rounds
interleaved in one process, with round-trip times spread as a real CSMS's are (log-normal
around 5 ms, millisecond jitter) so the histogram's key set is realistic.

    python bench/sink_cost.py [--calls 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median
from fleet.locust_ext.sink import LocustSink, StateCounts
from fleet.metrics.stats import FleetStats


class _CountOnly(FleetStats):
    """The sink's statistics before fleet kept wire histograms: a count and taint per row."""

    def exchange(
        self, kind: str, action: str, ms: float, error: str | None, tainted: bool = False
    ) -> None:
        key = (kind, action)
        counts: Any = self.wire.get(key)
        if counts is None:
            counts = self.wire[key] = _Counts()
        counts.count += 1
        if tainted:
            counts.tainted += 1


class _Counts:
    __slots__ = ("count", "tainted")

    def __init__(self) -> None:
        self.count = 0
        self.tainted = 0


def _per_call_ns(stats: FleetStats, rtts: list[float]) -> float:
    queue: list[Any] = []
    sink = LocustSink(queue.append, StateCounts(), lambda start, end: False)
    sink.stats = stats
    exchange = sink.exchange
    started = time.perf_counter()
    for rtt in rtts:
        exchange("CP-1", "OCPP1.6", "Heartbeat", 0.0, rtt, 40, None)
    return (time.perf_counter() - started) / len(rtts) * 1e9


def _otel_ns(rtts: list[float]) -> float:
    """--otel: what one pump costs per new sample (recorded into the SDK's histogram)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from fleet.metrics.otel import FleetInstruments

    stats = FleetStats()
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instruments = FleetInstruments(provider.get_meter("bench"), lambda: (stats, {}))
    for rtt in rtts:
        stats.exchange("OCPP1.6", "Heartbeat", rtt, None)
    started = time.perf_counter()
    recorded = instruments.pump()
    spent = time.perf_counter() - started
    provider.shutdown()
    return spent / recorded * 1e9


def measure(calls: int, rounds: int) -> dict[str, float]:
    rng = random.Random(14)
    rtts = [rng.lognormvariate(1.6, 0.6) + rng.random() for _ in range(calls)]
    shipped, before, otel = [], [], []
    for _ in range(rounds):
        shipped.append(_per_call_ns(FleetStats(), rtts))
        before.append(_per_call_ns(_CountOnly(), rtts))
        otel.append(_otel_ns(rtts[: calls // 4]))
    return {"shipped": median(shipped), "count_only": median(before), "otel": median(otel)}


def table(result: dict[str, float]) -> str:
    extra = result["shipped"] - result["count_only"]
    return "\n".join(
        [
            "| LocustSink.exchange | ns per exchange |",
            "|---|---:|",
            f"| as shipped: count, taint and fleet's histogram | {result['shipped']:.0f} |",
            f"| counting only (before issue 14) | {result['count_only']:.0f} |",
            f"| the histogram's cost | {extra:.0f} ({extra / 1000:.2f} µs) |",
            f"| --otel only: recording it into the OTel SDK's histogram (once a second, in "
            f"fleet's pump) | {result['otel']:.0f} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(table(measure(args.calls, args.rounds)))


if __name__ == "__main__":
    main()
