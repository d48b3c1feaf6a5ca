"""The charts of the fleet section: inline SVG line charts (no script, no external asset) of
the chart points ``fleet.metrics.charts`` makes, for the Fleet tab and the HTML report alike."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from typing import Any, Final

from fleet.metrics.charts import WINDOW_S

PALETTE: Final = (
    "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
)  # fmt: skip


def nice_top(value: float) -> float:
    """The axis top: the smallest 4 x (1, 1.5, 2, 2.5, 3, 4 or 5 x 10^k) at or above
    ``value``, so the five gridlines read round numbers, 0.1 ms steps for a sub-ms lag."""
    if value <= 0:
        return 1.0
    step = value / 4
    magnitude = 10 ** math.floor(math.log10(step))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5):
        if factor * magnitude >= step:
            return 4 * factor * magnitude
    return 40 * magnitude


def line_chart(
    title: str, unit: str, times: Sequence[float], series: dict[str, list[float | None]]
) -> str:
    """An inline SVG line chart: one polyline per series over ``times`` (unix seconds)."""
    width, height, left, bottom, top, right = 900, 230, 56, 28, 24, 210
    series = {name: points for name, points in series.items() if any(points)}
    if len(times) < 2 or not series:
        why = "not enough points yet" if len(times) < 2 else "nothing measured"
        return f"<h3>{html.escape(title)}</h3><p class='note'>{why}</p>"
    values = [v for points in series.values() for v in points if v is not None]
    peak = nice_top(max(values, default=0.0))
    t0, t1 = times[0], times[-1]
    span = (t1 - t0) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"role='img' aria-label='{html.escape(title)}' style='font-size:11px'>"
    ]
    for i in range(5):
        v = peak * i / 4
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(v):.1f}' y2='{y(v):.1f}' "
            "stroke='#8884'/>"
            f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' fill='currentColor'>"
            f"{v:,.10g}</text>"
        )
    for t in (t0, t0 + span / 2, t1):
        label = time.strftime("%H:%M:%S", time.localtime(t))
        parts.append(
            f"<text x='{x(t):.1f}' y='{height - 8}' text-anchor='middle' "
            f"fill='currentColor'>{label}</text>"
        )
    parts.append(
        f"<text x='{left}' y='14' fill='currentColor' font-weight='600'>"
        f"{html.escape(title)} ({html.escape(unit)})</text>"
    )
    for n, (label, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = " ".join(
            f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, points, strict=False) if v is not None
        )
        if coords:
            parts.append(
                f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{coords}'/>"
            )
        ly = top + 14 * n + 8
        parts.append(
            f"<rect x='{left + plot_w + 12}' y='{ly - 8}' width='10' height='10' "
            f"fill='{color}'/><text x='{left + plot_w + 26}' y='{ly + 1}' "
            f"fill='currentColor'>{html.escape(label[:30])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(history: Sequence[dict[str, Any]], pick: Any) -> dict[str, list[float | None]]:
    """{series name: one value per point}: ``pick(point)`` gives a point's {name: value}."""
    series: dict[str, list[float | None]] = {}
    for n, point in enumerate(history):
        for name, value in (pick(point) or {}).items():
            series.setdefault(name, [None] * len(history))[n] = value
    return series


def charts(history: Sequence[dict[str, Any]]) -> str:
    """Stations per state, charging sessions, energy, round-trip percentiles per action and the
    event loop's lag, over time (percentiles: fleet's histograms, the last WINDOW_S seconds)."""
    times = [point["t"] for point in history]
    states = _series(history, lambda p: p["states"])
    sessions = _series(history, lambda p: p.get("sessions"))
    energy = {"energy delivered": sessions.pop("energy_kwh", [])}
    window = f"last {WINDOW_S:g} s"

    # The actions busiest now (the last point's), with their earlier values: one colour each.
    shown = set(history[-1].get("latency_ms", {})) if history else set()

    def latency(key: str) -> Any:
        return lambda p: {k: v and v[key] for k, v in p.get("latency_ms", {}).items() if k in shown}

    lag = _series(
        history,
        lambda p: {k: v for k, v in (p.get("loop_lag_ms") or {}).items() if k in ("p99", "max")},
    )
    return "".join(
        (
            line_chart("Stations per state", "stations", times, states),
            line_chart(
                "Charging: stations charging, sessions started and completed",
                "count",
                times,
                sessions,
            ),
            line_chart("Energy delivered", "kWh", times, energy),
            line_chart(
                f"Round trip p95 per action, {window}",
                "ms",
                times,
                _series(history, latency("p95")),
            ),
            line_chart(
                f"Round trip p99 per action, {window}",
                "ms",
                times,
                _series(history, latency("p99")),
            ),
            line_chart(f"fleet's event-loop lag, {window}", "ms", times, lag),
        )
    )
