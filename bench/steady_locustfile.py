"""Benchmark locustfile: fleet's stations, measured in their steady state.

WARMUP_S seconds after all users are spawned, Locust's statistics and fleet's are reset and the
process's CPU time is noted; when the test starts stopping, both are read again. So latency,
lag, rate and CPU figures describe the steady state: not the ramp, not the first heartbeat wave
after it, not the shutdown (closing 10,000 websockets holds the loop for ~1 s, which is not
load on the CSMS). Failures and missed beats are counted over the whole run: what the ramp
counted is written out before the reset, and what the stop counts reaches the summary file.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.stats import StatsEntry

from fleet.locust_ext.bridge import current_bridge
from fleet.metrics.stats import FleetStats
from fleet.users import ChargePointUser

WARMUP_S = float(os.environ.get("FLEET_BENCH_WARMUP_S", "5"))
_environment: list[Environment] = []
_marks: dict[str, Any] = {}


class Station(ChargePointUser):
    """A station of the --scenario fleet."""


@events.init.add_listener
def _keep(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


@events.spawning_complete.add_listener
def _reset_later(user_count: int, **_: Any) -> None:
    gevent.spawn_later(WARMUP_S, _end_warmup, _environment[0])


def _ocpp_calls(environment: Environment) -> int:
    return sum(e.num_requests for (_, kind), e in environment.stats.entries.items() if kind != "WS")


def _heartbeats(environment: Environment) -> list[dict[str, Any]]:
    return [
        e.serialize() for (name, _), e in environment.stats.entries.items() if name == "Heartbeat"
    ]


def _p99(entries: list[dict[str, Any]], environment: Environment) -> float | None:
    combined = StatsEntry(environment.stats, "Heartbeat", "", use_response_times_cache=False)
    for data in entries:
        combined.extend(StatsEntry.unserialize(data, environment.stats))
    if not combined.num_requests:
        return None
    return float(combined.get_response_time_percentile(0.99))


def _end_warmup(environment: Environment) -> None:
    bridge = current_bridge()
    assert bridge is not None
    bridge.flush()
    ramp = bridge.stats
    lag = ramp.timings.get("loop lag")
    _marks["ramp"] = {
        "failures": environment.stats.total.num_failures + ramp.failures,
        "missed": ramp.missed_total(),
        "lag_p99_ms": lag.percentile(99) if lag is not None else None,
        "lag_max_ms": lag.max_ms if lag is not None else None,
        "seconds": time.monotonic() - _marks.get("started", time.monotonic()),
    }
    _marks["ramp_fleet"] = ramp.to_dict()
    _marks["ramp_heartbeats"] = _heartbeats(environment)
    environment.stats.reset_all()
    bridge.reset_stats()
    _marks["cpu_s"], _marks["at"] = time.process_time(), time.monotonic()


@events.test_start.add_listener
def _started(**_: Any) -> None:
    _marks["started"] = time.monotonic()


@events.test_stopping.add_listener
def _snapshot(environment: Environment, **_: Any) -> None:
    target = os.environ.get("FLEET_BENCH_STEADY_JSON")
    if not target or "cpu_s" not in _marks:
        return
    bridge = current_bridge()
    assert bridge is not None
    bridge.flush()
    cpu_s, seconds = time.process_time() - _marks["cpu_s"], time.monotonic() - _marks["at"]
    calls = _ocpp_calls(environment)
    rows: dict[str, Any] = {}
    for (name, _kind), entry in environment.stats.entries.items():
        row = rows.setdefault(name, {"count": 0, "p99_ms": 0.0, "rps": 0.0})
        row["count"] += entry.num_requests
        row["rps"] += entry.total_rps
        if entry.num_requests:
            row["p99_ms"] = max(row["p99_ms"], entry.get_response_time_percentile(0.99))
    lag = bridge.stats.timings.get("loop lag")
    whole = FleetStats.from_dict(_marks["ramp_fleet"])
    whole.merge(bridge.stats)
    whole_lag = whole.timings.get("loop lag")
    steady = {
        "actions": rows,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "cpu_us_per_call": cpu_s / calls * 1e6 if calls else None,
        "cpu_share": cpu_s / seconds,
        "lag_p99_ms": lag.percentile(99) if lag is not None else None,
        "lag_max_ms": lag.max_ms if lag is not None else None,
        "tainted_share": bridge.stats.tainted_share(),
        "heartbeat_p99_ms": _p99(_heartbeats(environment), environment),
        "ramp": _marks["ramp"],
        "whole": {  # ramp and steady state together (not the stop)
            "lag_p99_ms": whole_lag.percentile(99) if whole_lag is not None else None,
            "lag_max_ms": whole_lag.max_ms if whole_lag is not None else None,
            "heartbeat_p99_ms": _p99(
                _marks["ramp_heartbeats"] + _heartbeats(environment), environment
            ),
            "tainted_share": whole.tainted_share(),
        },
    }
    with open(target, "w") as f:
        json.dump(steady, f)
