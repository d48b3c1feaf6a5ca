"""Benchmark locustfile: fleet's stations, with Locust's stats reset WARMUP_S seconds after all
users are spawned and snapshotted when the test starts stopping, so figures describe the steady
state: not the ramp, not the first heartbeat wave after it, not the shutdown (closing 10,000
websockets holds the loop for ~1 s, which is not load on the CSMS)."""

from __future__ import annotations

import json
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


_ramp: dict[str, float] = {}


@events.spawning_complete.add_listener
def _reset_later(user_count: int, **_: Any) -> None:
    environment = _environment[0]
    gevent.spawn_later(WARMUP_S, _end_warmup, environment)


def _end_warmup(environment: Environment) -> None:
    # What the ramp and the first heartbeat wave looked like, before the steady state starts.
    lag = environment.stats.entries.get(("loop lag", "fleet"))
    if lag is not None and lag.num_requests:
        _ramp["p99_ms"] = lag.get_response_time_percentile(0.99)
        _ramp["max_ms"] = lag.max_response_time
    environment.stats.reset_all()


@events.test_stopping.add_listener
def _snapshot(environment: Environment, **_: Any) -> None:
    target = os.environ.get("FLEET_BENCH_STEADY_JSON")
    if not target:
        return
    rows = {}
    for (name, _kind), entry in environment.stats.entries.items():
        row = rows.setdefault(name, {"count": 0, "p99_ms": 0.0, "rps": 0.0})
        row["count"] += entry.num_requests
        row["rps"] += entry.total_rps
        if entry.num_requests:
            row["p99_ms"] = max(row["p99_ms"], entry.get_response_time_percentile(0.99))
    if _ramp:
        rows["loop lag (ramp)"] = {"count": 0, **_ramp}
    with open(target, "w") as f:
        json.dump(rows, f)
