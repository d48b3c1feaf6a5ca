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

import hashlib
import math
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
    id_tag: str  # the driver's tag, or the contract id (eMAID) of a Plug & Charge EV
    known: bool  # False: a tag the CSMS should not know (the scenario's unknown share)
    contract: bool = False  # the EV authorises with its contract certificate (ISO 15118)
    badge: str = ""  # a contract's driver's tag, for a station that takes no contract


class SessionGenerator:
    """Arrivals and demands for one connector."""

    __slots__ = ("_mean_weight", "_peak", "_rng", "config", "surges")

    def __init__(self, config: Sessions, seed_text: str) -> None:
        self.config = config
        self._rng = Rng(seed_text)
        weights = config.profile
        self._mean_weight = sum(weights) / len(weights) if weights else 1.0
        self._peak = max(weights) / self._mean_weight if weights else 1.0
        # Peak hours (storms): (start, end, factor), epoch seconds; arrivals x factor within.
        self.surges: tuple[tuple[float, float, float], ...] = ()

    @classmethod
    def for_connector(cls, config: Sessions, station_id: str, connector: int) -> SessionGenerator:
        return cls(config, f"{config.seed}:{station_id}:{connector}")

    def rate_per_s(self, at_s: float) -> float:
        """The arrival rate at wall-clock time ``at_s`` (epoch seconds, UTC hours)."""
        base = self.config.arrivals_per_hour / HOUR_S
        for start, end, factor in self.surges:
            if start <= at_s < end:
                base *= factor
        weights = self.config.profile
        if not weights:
            return base
        hour = int((at_s % DAY_S) // HOUR_S)
        return base * weights[hour] / self._mean_weight

    def next_arrival(self, after_s: float) -> float | None:
        """The next arrival after ``after_s`` (epoch seconds), or None when there are none."""
        peak = self.config.arrivals_per_hour / HOUR_S * self._peak
        for _, end, factor in self.surges:
            if end > after_s:
                peak *= factor
        if peak <= 0:
            return None
        at = after_s
        for _ in range(10_000):  # thinning: candidates at the peak rate, kept by rate/peak
            at += self._rng.expovariate(peak)
            if self._rng.random() * peak <= self.rate_per_s(at):
                return at
        return None

    @property
    def rng(self) -> Rng:
        return self._rng

    def demand(self) -> Demand:
        c, rng = self.config, self._rng
        plugged_s = between(rng, c.plug_in_min.min, c.plug_in_min.max) * 60
        battery = between(rng, c.battery_kwh.min, c.battery_kwh.max)
        soc_start = between(rng, c.soc_start.min, c.soc_start.max)
        soc_target = max(between(rng, c.soc_target.min, c.soc_target.max), soc_start)
        ev_max_kw = between(rng, c.ev_max_kw.min, c.ev_max_kw.max)
        pnc, tags = c.plug_and_charge, c.id_tags
        if pnc.share and rng.random() < pnc.share:  # no draw at all without Plug & Charge
            emaid = pnc.emaid_pattern.format(n=rng.randrange(1, pnc.contracts + 1))
            badge = tags.draw(rng)
            return Demand(
                plugged_s, battery, soc_start, soc_target, ev_max_kw, emaid, True, True, badge
            )
        known = rng.random() >= tags.unknown_share
        tag = tags.draw(rng) if known else f"UNKNOWN-{rng.randrange(0, 16**8):08X}"
        return Demand(plugged_s, battery, soc_start, soc_target, ev_max_kw, tag, known)


class Rng:
    """A small seeded generator (SplitMix64): one int of state where ``random.Random`` keeps
    2.5 KB, which matters with a generator per connector at 10,000 stations. Seeded from a text
    through BLAKE2, so the same text gives the same draws in every process."""

    __slots__ = ("_state",)
    _MASK = (1 << 64) - 1

    def __init__(self, seed_text: str) -> None:
        digest = hashlib.blake2b(seed_text.encode(), digest_size=8).digest()
        self._state = int.from_bytes(digest, "big")

    def _next(self) -> int:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & self._MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """Uniform in [0, 1)."""
        return (self._next() >> 11) * (1.0 / (1 << 53))

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def randrange(self, start: int, stop: int) -> int:
        return start + self._next() % (stop - start)

    def expovariate(self, rate: float) -> float:
        return -math.log(1.0 - self.random()) / rate


def between(rng: Rng, low: float, high: float) -> float:
    """Log-uniform between two positive bounds (durations and sizes spread over a range are
    skewed that way), uniform when a bound is 0."""
    if low == high:
        return low
    if low <= 0:
        return rng.uniform(low, high)
    return math.exp(rng.uniform(math.log(low), math.log(high)))
