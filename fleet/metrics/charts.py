"""One point of the Fleet tab's charts (and the HTML report's): stations per state, charging
sessions and energy, each busy action's round-trip percentiles and the event loop's lag over
the last few seconds, all from fleet's own statistics. Pure: the caller passes the time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fleet.metrics.histogram import Histogram
from fleet.metrics.sample import CHARGING, CONNECT, LOOP_LAG, version_of
from fleet.metrics.stats import FleetStats
from fleet.metrics.windows import Windows

CHART_ACTIONS: Final = 8  # latency charts: the busiest wire rows
WINDOW_S: Final = 10.0  # percentiles over about this many seconds


def wire_labels(stats: FleetStats) -> dict[str, tuple[int, Histogram]]:
    """{label: (count, histogram)} per wire row. A name several versions share is always
    labelled with its version, so a series keeps one label while the busiest set changes."""
    kinds: dict[str, int] = {}
    for _, action in stats.wire:
        kinds[action] = kinds.get(action, 0) + 1
    labelled = {}
    for (kind, action), row in stats.wire.items():
        label = action if kinds[action] == 1 or kind == CONNECT else f"{action} {version_of(kind)}"
        labelled[label] = (row.count, row.histogram)
    return labelled


def point(
    now: float,
    stats: FleetStats,
    table: Mapping[str, Mapping[str, int]],
    windows: Windows,
) -> dict[str, Any]:
    """The chart point at ``now``; ``windows`` keeps the snapshots the percentiles need."""
    states: dict[str, int] = {}
    for counts in table.values():
        for state, n in counts.items():
            states[state] = states.get(state, 0) + n
    sessions = {
        CHARGING: states.pop(CHARGING, 0),
        "started": sum(t.started for t in stats.sessions.values()),
        "completed": sum(t.completed for t in stats.sessions.values()),
        "energy_kwh": round(sum(t.energy_wh for t in stats.sessions.values()) / 1000, 3),
    }
    labelled = wire_labels(stats)
    rows = {label: histogram for label, (_, histogram) in labelled.items()}
    lag = stats.timings.get(LOOP_LAG)
    if lag is not None:
        rows[LOOP_LAG] = lag.histogram
    figures = windows.add(now, rows)
    busiest = sorted(labelled, key=lambda label: labelled[label][0], reverse=True)
    return {
        "t": now,
        "states": states,
        "sessions": sessions,
        "latency_ms": {label: figures.get(label) for label in busiest[:CHART_ACTIONS]},
        "loop_lag_ms": figures.get(LOOP_LAG),
    }
