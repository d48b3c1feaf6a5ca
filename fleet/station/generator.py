"""When drivers arrive at a connector and what their EV wants: seeded, pure, per connector.

Arrivals are a Poisson process (``sessions.arrivals_per_hour`` per connector), thinned by a
24-hour profile of weights when the scenario gives one: the rate at hour h is the mean rate *
weight[h] / mean(weights), so the profile shapes the day without changing how many sessions it
holds. Each session draws a plug-in duration, a battery, a start and target state of charge, the
EV's maximum power and an idTag from the pool.

Everything comes from one ``random.Random`` per (seed, station id, connector): the same scenario
seed gives the same session times and demands in ``fleet run`` and under Locust, in any process,
so two runs are comparable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fleet.scenario import Sessions

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S


@dataclass(slots=True, frozen=True)
class Demand:
    """One driver's visit: how long the EV stays plugged in and what it can take."""

    plugged_s: float
    battery_kwh: float
    soc_start: float  # 0..1
    soc_target: float  # 0..1, charging ends (SuspendedEV) when reached
    ev_max_kw: float
    id_tag: str
    known: bool  # False: a tag the CSMS should not know (the scenario's unknown share)


class SessionGenerator:
    """Arrivals and demands for one connector."""

    __slots__ = ("_peak", "_rng", "config")

    def __init__(self, config: Sessions, seed_text: str) -> None:
        self.config = config
        self._rng = random.Random(seed_text)
        weights = config.profile
        self._peak = max(weights) / (sum(weights) / len(weights)) if weights else 1.0

    @classmethod
    def for_connector(cls, config: Sessions, station_id: str, connector: int) -> SessionGenerator:
        return cls(config, f"{config.seed}:{station_id}:{connector}")

    def rate_per_s(self, at_s: float) -> float:
        """The arrival rate at wall-clock time ``at_s`` (epoch seconds, UTC hours)."""
        base = self.config.arrivals_per_hour / HOUR_S
        weights = self.config.profile
        if not weights:
            return base
        hour = int((at_s % DAY_S) // HOUR_S)
        return base * weights[hour] / (sum(weights) / len(weights))

    def next_arrival(self, after_s: float) -> float | None:
        """The next arrival after ``after_s`` (epoch seconds), or None when there are none."""
        peak = self.config.arrivals_per_hour / HOUR_S * self._peak
        if peak <= 0:
            return None
        at = after_s
        for _ in range(10_000):  # thinning: candidates at the peak rate, kept by rate/peak
            at += self._rng.expovariate(peak)
            if self._rng.random() * peak <= self.rate_per_s(at):
                return at
        return None

    def demand(self) -> Demand:
        c, rng = self.config, self._rng
        plugged_s = _between(rng, c.plug_in_min.min, c.plug_in_min.max) * 60
        battery = _between(rng, c.battery_kwh.min, c.battery_kwh.max)
        soc_start = _between(rng, c.soc_start.min, c.soc_start.max)
        soc_target = max(_between(rng, c.soc_target.min, c.soc_target.max), soc_start)
        ev_max_kw = _between(rng, c.ev_max_kw.min, c.ev_max_kw.max)
        tags = c.id_tags
        known = rng.random() >= tags.unknown_share
        if known:
            tag = tags.pattern.format(n=rng.randrange(1, tags.size + 1))
        else:
            tag = f"UNKNOWN-{rng.randrange(16**8):08X}"
        return Demand(plugged_s, battery, soc_start, soc_target, ev_max_kw, tag, known)


def _between(rng: random.Random, low: float, high: float) -> float:
    """Log-uniform between two positive bounds (durations and sizes spread over a range are
    skewed that way), uniform when a bound is 0."""
    if low == high:
        return low
    if low <= 0:
        return rng.uniform(low, high)
    return math.exp(rng.uniform(math.log(low), math.log(high)))
