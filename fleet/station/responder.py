"""How a station answers the CSMS's calls, per the scenario's responder policies. Pure: no loop,
no clock; draws come from a generator seeded per station, so the same scenario and station id
answer alike in every run and process.

For each call the engine asks ``reply(action)``: never answered (None), a CallError, or a normal
answer, each after a delay. The handler asks ``status(action)`` for the status to answer with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fleet import catalog
from fleet.scenario_responses import Delay, Policy
from fleet.station.generator import Rng

if TYPE_CHECKING:
    from fleet.scenario import Scenario


@dataclass(slots=True, frozen=True)
class Reply:
    """Answer after ``delay_s`` seconds: with a CallError ``error_code``, else normally."""

    delay_s: float = 0.0
    error_code: str | None = None


NOW: Final = Reply()


class Responder:
    """One station's answers. Stations whose policies draw nothing share one responder."""

    __slots__ = ("policies", "rng", "version")

    def __init__(self, policies: Mapping[str, Policy], version: str, rng: Rng | None) -> None:
        self.policies = policies
        self.version = version
        self.rng = rng  # None: no policy draws

    @classmethod
    def for_station(cls, scenario: Scenario, station_id: str, version: str) -> Responder:
        group = group_of(scenario, station_id)
        policies = _tables(scenario)[group]
        if all(policy.instant for policy in policies.values()):
            return _shared(scenario, group, version)
        return cls(policies, version, Rng(f"{scenario.seed}:{station_id}:responses"))

    def reply(self, action: str) -> Reply | None:
        """How this call is answered; None: never (the CSMS's timeout path). Draws in a fixed
        order (never answered, CallError, delay), so a seed gives the same answers."""
        policy = self.policies.get(action)
        rng = self.rng
        if policy is None or policy.instant or rng is None:
            return NOW
        if policy.unanswered and rng.random() < policy.unanswered:
            return None
        error = None
        if policy.call_errors and rng.random() < policy.call_errors:
            error = policy.error_code
        delay_s = 0.0 if policy.delay_s is None else draw_delay(policy.delay_s, rng)
        return Reply(delay_s, error) if delay_s or error else NOW

    def status(self, action: str) -> str:
        """The status to answer ``action`` with: the policy's (drawn from its mix), else the
        action's success status."""
        policy = self.policies.get(action)
        chosen = None if policy is None else policy.status
        if isinstance(chosen, dict):
            assert self.rng is not None
            chosen = _weighted(chosen, self.rng.random())
        if chosen is not None and chosen in catalog.statuses(self.version, action):
            return chosen
        default = catalog.default_status(self.version, action)
        assert default is not None, action
        return default


def draw_delay(delay: Delay, rng: Rng) -> float:
    if delay.fixed is not None:
        return delay.fixed
    if delay.min is not None and delay.max is not None:
        return rng.uniform(delay.min, delay.max)
    mu_sigma = delay.lognormal
    assert mu_sigma is not None
    mu, sigma = mu_sigma
    # Box-Muller: one standard normal from two uniforms.
    z = math.sqrt(-2.0 * math.log(1.0 - rng.random())) * math.cos(2.0 * math.pi * rng.random())
    return min(math.exp(mu + sigma * z), 3600.0)


def _weighted(weights: Mapping[str, float], u: float) -> str:
    target = u * sum(weights.values())
    running = 0.0
    last = ""
    for name, weight in weights.items():
        if weight <= 0:
            continue
        running += weight
        last = name
        if target < running:
            return name
    return last  # rounding at the very top


# Per scenario: the policy table of each group (the group's over the fleet's), made once.
_TABLES: dict[int, tuple[Scenario, dict[str | None, dict[str, Policy]]]] = {}
_SHARED: dict[tuple[int, str | None, str], Responder] = {}


def _tables(scenario: Scenario) -> dict[str | None, dict[str, Policy]]:
    cached = _TABLES.get(id(scenario))
    if cached is not None and cached[0] is scenario:
        return cached[1]
    tables: dict[str | None, dict[str, Policy]] = {None: dict(scenario.responses)}
    for group in scenario.response_groups:
        tables[group.name] = {**scenario.responses, **group.responses}
    if len(_TABLES) > 16:  # scenarios come and go in tests; a run has one
        _TABLES.clear()
        _SHARED.clear()
    _TABLES[id(scenario)] = (scenario, tables)
    return tables


def group_of(scenario: Scenario, station_id: str) -> str | None:
    """The response group a station is in (the first that picks it), or None."""
    for group in scenario.response_groups:
        draw = Rng(f"{scenario.seed}:{station_id}:group:{group.name}").random()
        if group.picks(station_id, draw):
            return group.name
    return None


def _shared(scenario: Scenario, group: str | None, version: str) -> Responder:
    """The one responder of a group whose policies draw nothing, per version."""
    key = (id(scenario), group, version)
    responder = _SHARED.get(key)
    if responder is None:
        responder = _SHARED[key] = Responder(_tables(scenario)[group], version, None)
    return responder
