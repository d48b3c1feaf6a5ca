"""The figures fleet exports to monitoring systems, defined once: their names, kinds, units,
labels and meaning, and how each is read from fleet's statistics. The Prometheus endpoint
(``prometheus.py``) and the OpenTelemetry instruments (``otel.py``) only spell them their way:
``fleet_ocpp_request_duration_seconds`` and ``fleet.ocpp.request.duration`` are one figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fleet.metrics.sample import CHARGING, CONNECT, LOOP_LAG, version_of
from fleet.metrics.stats import FleetStats
from fleet.metrics.timing import Timing

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
# Histogram bucket upper bounds in ms: fine from 1 ms to 30 s (and two below 1 ms).
BUCKETS_MS: Final = (
    0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500,
    700, 1000, 1500, 2000, 3000, 4000, 5000, 7000, 10_000, 15_000, 20_000, 30_000,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figure:
    name: str  # dotted, without the "fleet" prefix: "ocpp.request.duration"
    kind: str  # COUNTER, GAUGE or HISTOGRAM
    unit: str  # "s", "Wh" or "" (a count)
    labels: tuple[str, ...]
    description: str


FIGURES: Final = (
    Figure("ocpp.request.duration", HISTOGRAM, "s", ("action", "version"),
           "Round trip of the stations' answered OCPP CALLs (wire time, fleet's histogram)"),
    Figure("ocpp.requests", COUNTER, "", ("action", "version"), "OCPP CALLs the stations sent"),
    Figure("ocpp.failures", COUNTER, "", ("action", "version", "reason"),
           "OCPP CALLs that failed, by reason class (call_error, timeout, invalid_response, ...)"),
    Figure("connect.duration", HISTOGRAM, "s", ("attempt",),
           "Websocket connects (TCP, TLS and websocket handshakes) that succeeded"),
    Figure("connects", COUNTER, "", ("attempt",), "Websocket connects attempted"),
    Figure("connect.failures", COUNTER, "", ("attempt", "reason"),
           "Websocket connects that failed, by reason class (refused, tls, let_in, other)"),
    Figure("stations", GAUGE, "", ("version", "state"), "Stations per OCPP version and state"),
    Figure("stations.charging", GAUGE, "", ("version",),
           "Stations with a charging session running"),
    Figure("sessions.started", COUNTER, "", ("version",), "Charging sessions started"),
    Figure("sessions.completed", COUNTER, "", ("version",), "Charging sessions completed"),
    Figure("energy.delivered", COUNTER, "Wh", ("version",),
           "Energy the stations' meters counted, running sessions included"),
    Figure("connector.faults", COUNTER, "", ("version",),
           "Connector faults the stations had (scenario faults)"),
    Figure("loop.lag", HISTOGRAM, "s", (),
           "How late the stations' event loop ran its timers (fleet's own punctuality)"),
    Figure("timing", HISTOGRAM, "s", ("row",),
           "fleet's derived timings (boot→accepted, CSMS→CP handling, drift, ...), answered ones"),
    Figure("timing.failures", COUNTER, "", ("row",), "Failures in fleet's derived timing rows"),
    Figure("missed_beats", COUNTER, "", ("action", "cause"),
           "Scheduled messages that could not leave on time, by cause (offline, busy, stall)"),
    Figure("csms.violations", COUNTER, "", ("direction", "action"),
           "CSMS messages that broke OCPP, by direction (answer, call) and action"),
    Figure("saturated", GAUGE, "", (), "1 when fleet itself was the bottleneck"),
)  # fmt: skip


@dataclass(slots=True)
class Reading:
    """One read of the statistics: per figure name, (label values, value) for counters and
    gauges, and (row key, label values, Timing) for histograms."""

    values: dict[str, list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)
    histograms: dict[str, list[tuple[Any, tuple[str, ...], Timing]]] = field(default_factory=dict)

    def value(self, name: str, labels: tuple[str, ...], value: float) -> None:
        self.values.setdefault(name, []).append((labels, value))

    def histogram(self, name: str, key: Any, labels: tuple[str, ...], row: Timing) -> None:
        self.histograms.setdefault(name, []).append((key, labels, row))


def read(stats: FleetStats, table: Mapping[str, Mapping[str, int]]) -> Reading:
    """Every figure of FIGURES from ``stats`` and ``table`` ({version: {state: n, "charging":
    n}}), in a stable order."""
    out = Reading()
    for (kind, action), row in sorted(stats.wire.items()):
        if kind == CONNECT:
            out.histogram("connect.duration", (kind, action), (action,), row)
            out.value("connects", (action,), row.count)
        else:
            version = version_of(kind)
            out.histogram("ocpp.request.duration", (kind, action), (action, version), row)
            out.value("ocpp.requests", (action, version), row.count)
    for (kind, action, reason), n in sorted(stats.wire_failures.items()):
        if kind == CONNECT:
            out.value("connect.failures", (action, reason), n)
        else:
            out.value("ocpp.failures", (action, version_of(kind), reason), n)
    for version, counts in sorted(table.items()):
        for state, n in counts.items():
            if state == CHARGING:
                out.value("stations.charging", (version,), n)
            else:
                out.value("stations", (version, state), n)
    for version, totals in sorted(stats.sessions.items()):
        out.value("sessions.started", (version,), totals.started)
        out.value("sessions.completed", (version,), totals.completed)
        out.value("energy.delivered", (version,), totals.energy_wh)
        out.value("connector.faults", (version,), totals.faults)
    for name, row in sorted(stats.timings.items()):
        if name == LOOP_LAG:
            out.histogram("loop.lag", name, (), row)
        else:
            out.histogram("timing", name, (name,), row)
            out.value("timing.failures", (name,), row.failures)
    for action, causes in sorted(stats.missed.items()):
        for cause, n in sorted(causes.items()):
            out.value("missed_beats", (action, cause), n)
    violations: dict[tuple[str, str], int] = {}
    for (direction, action, _, _), n in stats.conformance.counts.items():
        violations[direction, action] = violations.get((direction, action), 0) + n
    if stats.conformance.overflow:
        violations["other", "other"] = stats.conformance.overflow
    for key, n in sorted(violations.items()):
        out.value("csms.violations", key, n)
    out.value("saturated", (), 1.0 if stats.saturated else 0.0)
    return out
