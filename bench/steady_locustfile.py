"""Benchmark locustfile: fleet's stations, with Locust's stats reset WARMUP_S seconds after all
users are spawned, so figures describe the steady state, not the ramp and the first heartbeat
wave after it."""

from __future__ import annotations

import os
from typing import Any

import gevent
from locust import events
from locust.env import Environment

from fleet.users import ChargePointUser

WARMUP_S = float(os.environ.get("FLEET_BENCH_WARMUP_S", "5"))
_environment: list[Environment] = []


class Station(ChargePointUser):
    """A station of the --scenario fleet."""


@events.init.add_listener
def _keep(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


@events.spawning_complete.add_listener
def _reset_later(user_count: int, **_: Any) -> None:
    environment = _environment[0]
    gevent.spawn_later(WARMUP_S, environment.stats.reset_all)
