"""Storms as Locust LoadTestShapes: import one into your locustfile and the test is that storm.

    from fleet.locustfile import *          # or your own ChargePointUser classes
    from fleet.shapes import Blackout       # 30 % of the stations offline for 5 minutes

A shape brings the scenario's stations up (users = its ``stations.count``, at ``boot.ramp_per_s``;
a boot storm all at once; -u and -r do not apply to shapes), holds them through the storm, and
ends the test ``settle_s`` after it. The storm itself is struck by the stations
(``scenario_storms``): the users find it on the shape and add it to their scenario, in every
process of a distributed test. Subclass a shape to change its storm:

    class LongBlackout(Blackout):
        storm = Blackout.storm.model_copy(update={"share": 0.5, "duration_s": 900})
"""

from __future__ import annotations

from typing import Any, ClassVar

from locust import LoadTestShape

from fleet.scenario import Scenario, load_scenario
from fleet.scenario_storms import PRESETS, Storm


class ScenarioShape(LoadTestShape):
    """A shape that reads the scenario the users run (--scenario): station count and ramp."""

    abstract = True
    _scenario: Scenario | None = None

    def fleet_scenario(self) -> Scenario:
        if self._scenario is None:
            options = self.runner.environment.parsed_options if self.runner else None
            path = getattr(options, "scenario", "") if options else ""
            self._scenario = load_scenario(path) if path else Scenario()
        return self._scenario


class StormShape(ScenarioShape):
    """Stations up, the storm, then ``settle_s`` to watch the CSMS recover."""

    abstract = True
    storm: ClassVar[Storm]
    settle_s: ClassVar[float] = 60.0  # after the storm ends, before the test stops

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() > self.storm.ends_s + self.settle_s:
            return None
        scenario = self.fleet_scenario()
        users = scenario.stations.count
        if self.storm.kind == "boot_storm":
            return users, float(users)
        return users, scenario.boot.ramp_per_s


def _preset(name: str) -> Storm:
    return PRESETS[name]


class BootStorm(StormShape):
    """Every station boots at once."""

    storm = _preset("boot-storm")


class CsmsRestart(StormShape):
    """At t = 60 s every station loses its connection and reconnects per its policy."""

    storm = _preset("csms-restart")


class Blackout(StormShape):
    """30 % of the stations offline for 5 minutes from t = 60 s, then back with their queues."""

    storm = _preset("blackout")


class Flapping(StormShape):
    """10 % of the stations drop every 20 s for 5 s, for 5 minutes from t = 30 s."""

    storm = _preset("flapping")


class RollingRestart(StormShape):
    """Every station reboots, in 5 waves 30 s apart from t = 30 s (a firmware campaign)."""

    storm = _preset("rolling-restart")


class PeakHour(StormShape):
    """Session arrivals x 3 for 10 minutes from t = 60 s."""

    storm = _preset("peak-hour")


class CertRenewal(StormShape):
    """Every station asks the CSMS to sign a new certificate at once, at t = 30 s."""

    storm = _preset("cert-renewal")


def with_shape_storm(scenario: Scenario, shape: Any) -> Scenario:
    """The scenario with the storm of the test's shape (when it is a StormShape) added."""
    if not isinstance(shape, StormShape) or shape.storm in scenario.storms:
        return scenario
    return scenario.model_copy(update={"storms": (*scenario.storms, shape.storm)})
