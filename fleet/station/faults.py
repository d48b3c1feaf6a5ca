"""When a connector fails, with which error code, and when it recovers. Pure and seeded (per
station and connector, from ``sessions.seed``): the same seed gives the same faults in every
run and process, so two runs are comparable. The charger (``sessions.FaultyCharger``) asks it
the time and carries out what a fault does to the connector and its session."""

from __future__ import annotations

from typing import Final

from fleet.scenario_faults import Faults
from fleet.station.generator import Rng, between

_DAY_S: Final = 86_400.0
RETRY_S: Final = 1.0  # a fault due mid-exchange (an Authorize out, a start unanswered) waits


class FaultPlan:
    """One connector's faults: a Poisson process of ``per_day`` a day; each lasts a duration
    drawn log-uniformly from ``duration_s``, with a code drawn from ``error_codes``."""

    __slots__ = ("_config", "_rate", "_rng", "code", "next_at", "until")

    def __init__(self, config: Faults, seed_text: str, now_s: float) -> None:
        self._config = config
        self._rate = config.per_day / _DAY_S
        self._rng = Rng(f"faults:{seed_text}")
        self.code: str | None = None  # the error code while faulted, else None
        self.until = 0.0  # when the current fault clears
        self.next_at = now_s + self._rng.expovariate(self._rate)

    @classmethod
    def for_connector(
        cls, config: Faults, seed: int, station_id: str, connector: int, now_s: float
    ) -> FaultPlan:
        return cls(config, f"{seed}:{station_id}:{connector}", now_s)

    @property
    def wake_at(self) -> float:
        """When the connector next fails, or (faulted) recovers."""
        return self.until if self.code is not None else self.next_at

    def fail(self, now_s: float) -> str:
        """The fault begins: its code (its end is ``until``)."""
        config, rng = self._config, self._rng
        self.code = config.error_codes[rng.randrange(0, len(config.error_codes))]
        self.until = now_s + between(rng, config.duration_s.min, config.duration_s.max)
        return self.code

    def clear(self, now_s: float) -> None:
        """The fault is over: the next one is drawn from now."""
        self.code = None
        self.next_at = now_s + self._rng.expovariate(self._rate)

    def defer(self, now_s: float) -> None:
        """The fault is due while the charger waits on the CSMS: it strikes a little later."""
        self.next_at = now_s + RETRY_S
