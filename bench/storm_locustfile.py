"""Benchmark locustfile for storms: fleet's stations, with every loop-lag sample kept with its
wall-clock time from the end of the ramp (the bridge exists by then), so a benchmark can read the
lag during the storm itself (a run's p99 would hide a few seconds of storm among minutes of
calm). Written to $FLEET_BENCH_LAG_JSON at exit."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

from fleet.locust_ext.bridge import current_bridge
from fleet.users import ChargePointUser

_samples: list[tuple[float, float]] = []


class Station(ChargePointUser):
    """A station of the --scenario fleet."""


@events.spawning_complete.add_listener
def _record_lag(**_: Any) -> None:
    bridge = current_bridge()
    if bridge is None:
        return
    health = bridge.health
    counted = health.on_lag

    def on_lag(ms: float) -> None:
        _samples.append((time.time(), ms))  # the loop thread: one append per 10 ms sample
        if counted is not None:
            counted(ms)

    health.on_lag = on_lag


@events.quitting.add_listener
def _write(**_: Any) -> None:
    path = os.environ.get("FLEET_BENCH_LAG_JSON")
    if path:
        with open(path, "w") as f:
            json.dump(_samples, f)
