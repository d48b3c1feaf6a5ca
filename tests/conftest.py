"""Shared fixtures: real CSMS servers on 127.0.0.1 and real stations talking to them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop
from ocpp.messages import Call, _validate_payload
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.certs import make_certificates
from fleet.csms import Captured, Csms
from fleet.metrics.health import LoopHealth
from fleet.metrics.summary import Summary
from fleet.scenario import Scenario
from fleet.station.core import Station
from fleet.station.session import StopSwitch, keep_connected, make_station
from fleet.station.state import State


def pytest_ignore_collect(collection_path: Path, config: Any) -> bool | None:
    """Under pytest-xdist, a module marked ``in_process_locust`` is not even imported: importing
    Locust lets gevent patch the threads the xdist worker runs on (it then stops with
    LoopExit). ``make test`` runs those modules in a second, plain pass."""
    if "PYTEST_XDIST_WORKER" not in os.environ or collection_path.suffix != ".py":
        return None
    if "pytest.mark.in_process_locust" in collection_path.read_text(encoding="utf-8"):
        return True
    return None


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Under pytest-xdist, tests marked ``serial`` (bounds on fleet's own punctuality, which a
    second test process on a 2-core machine moves) are left to ``make test``'s plain pass."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    serial = [item for item in items if item.get_closest_marker("serial") is not None]
    if serial:
        config.hook.pytest_deselected(items=serial)
        items[:] = [item for item in items if item.get_closest_marker("serial") is None]


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    # Stations run on uvloop in production; tests use the same loop.
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the CSMS certificate, four stations' certificates and CP-00004's expired one."""
    out = tmp_path_factory.mktemp("certs")
    ids = [f"CP-{i:05d}" for i in range(1, 5)]
    make_certificates(out, ids, expired_ids=["CP-00004"])
    return out


def make_scenario(**sections: Any) -> Scenario:
    """A scenario tuned for fast tests: short timeouts and back-off, no jitter."""
    data: dict[str, Any] = {
        "csms": {"call_timeout_s": 2},
        "stations": {"count": 1},
        "boot": {"ramp_per_s": 1000, "jitter_s": 0, "retry_s": 1},
        "reconnect": {"min_s": 0.1, "max_s": 0.5},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return Scenario.model_validate(data)


@dataclass
class Fleet:
    stations: list[Station]
    summary: Summary

    def station(self, station_id: str) -> Station:
        return next(s for s in self.stations if s.id == station_id)


@contextlib.asynccontextmanager
async def fleet_running(
    scenario: Scenario, url: str | None = None, health: bool = False
) -> AsyncIterator[Fleet]:
    """All of the scenario's stations connected to ``url`` (default: the scenario's URL for
    their version) until the block ends; ``health``: with the event-loop sampler marking
    samples its stalls delayed, as runs have."""
    monitor = LoopHealth(scenario.run.lag_warn_ms) if health else None
    summary = Summary(monitor)
    stop = StopSwitch()
    stations = [make_station(scenario, i, summary) for i in range(1, scenario.stations.count + 1)]
    if monitor is not None:
        monitor.start()
    tasks = [
        asyncio.create_task(keep_connected(s, url or scenario.csms.url_for(s.version), stop))
        for s in stations
    ]
    try:
        yield Fleet(stations, summary)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        if monitor is not None:
            monitor.stop()


@contextlib.asynccontextmanager
async def csms_running(**options: Any) -> AsyncIterator[Csms]:
    csms = Csms(capture=True, **options)
    await csms.start("127.0.0.1", 0)
    try:
        yield csms
    finally:
        await csms.stop()


async def wait_until(predicate: Callable[[], Any], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


async def accepted(fleet: Fleet, timeout_s: float = 5.0) -> None:
    """Wait until every station of the fleet is Accepted."""
    await wait_until(lambda: all(s.state is State.ACCEPTED for s in fleet.stations), timeout_s)


def calls(csms: Csms, station: str | None = None, action: str | None = None) -> list[Captured]:
    """CALL frames the CSMS received, optionally of one station and one action."""
    assert csms.capture is not None
    return [
        c
        for c in csms.capture
        if c.message[0] == 2
        and (station is None or c.station == station)
        and (action is None or c.message[2] == action)
    ]


def assert_schema_valid(csms: Csms) -> int:
    """Check every CALL stations sent with the ocpp package's own (jsonschema) validators; the
    stations' answers to CSMS calls are checked by the ocpp ChargePoint inside ``Csms.call``."""
    checked = 0
    for c in calls(csms):
        message = c.message
        _validate_payload(Call(message[1], message[2], message[3]), c.version)
        checked += 1
    assert checked, "no frames captured"
    return checked


def set_setting(version: str, value: str, key: str, component: str, variable: str = "") -> Any:
    """The CSMS call that sets a station's setting: 1.6 ChangeConfiguration ``key``, 2.0.1
    SetVariables ``component``.``variable`` (by default named as the 1.6 key)."""
    if version == "1.6":
        return c16.ChangeConfiguration(key=key, value=value)
    data = {
        "component": {"name": component},
        "variable": {"name": variable or key},
        "attributeValue": value,
    }
    return c201.SetVariables(set_variable_data=[data])
