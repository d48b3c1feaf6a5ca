"""What a station costs in memory, held where a test can hold it: its instance attributes.

A station keeps its attributes in slots, declared by the class of the hierarchy that owns them.
Without them, CPython 3.11 kept a station's attributes inline only while their names were
among its class's shared keys: at most 30, and each new instance shrank the room for names
not yet seen, so a station setting a name first set late got a dict table of its own (1,584
bytes; ~12 % of an idle station). Rare events set such names: a TriggerMessage's follow-up, a
connector set Inoperative, a storm's drop each gave all 12 stations of a run a table. With
slots there is no dict to grow, and a name missing from them fails where it is set: the run
below goes through those paths."""

from __future__ import annotations

import asyncio
import gc
import random

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.metrics.summary import Summary
from fleet.station.core import Station
from fleet.station.session import make_station
from fleet.station.sessions import Charger
from fleet.station.state import State
from tests.conftest import csms_running, fleet_running, make_scenario, wait_until
from tests.station.test_charging import QUICK


def _randoms() -> int:
    return sum(issubclass(type(o), random.Random) for o in gc.get_objects())


def _completed(charger: Charger) -> bool:
    return charger.counts.completed > 0


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_station_has_no_instance_dict(version: str) -> None:
    """Every class of a station declares ``__slots__``: one class without them gives every
    station a ``__dict__``, and names set late make it a table of its own again."""
    scenario = make_scenario(stations={"ocpp": version})
    station = make_station(scenario, 1, Summary())
    assert not hasattr(station, "__dict__"), [
        cls.__qualname__ for cls in type(station).__mro__[:-1] if "__slots__" not in vars(cls)
    ]


def test_a_rare_attribute_reads_its_default_until_set_and_is_the_station_s_own() -> None:
    negative = {"wrong_password": ["CP-00002"]}
    scenario = make_scenario(stations={"count": 2}, security={"negative": negative})
    one, two = (make_station(scenario, index, Summary()) for index in (1, 2))
    assert one._rare is None  # made as every station is, with nothing rare about it
    assert (one.missed, one.unavailable, one.offline_until) == (None, frozenset(), 0.0)
    assert two.negative == "wrong_password" and two._rare == {"negative": "wrong_password"}
    one.missed = {"Heartbeat": 2}
    one.unavailable = frozenset({2})
    assert one._rare == {"missed": {"Heartbeat": 2}, "unavailable": frozenset({2})}
    assert (one.negative, two.missed, two.unavailable) == (None, None, frozenset())


def _rare_calls(station: Station) -> list[object]:
    """CSMS calls whose handling sets what a station rarely sets: a follow-up message, a
    connector unavailable, and back."""
    if station.version == "1.6":
        return [
            c16.TriggerMessage(requested_message="StatusNotification"),
            c16.ChangeAvailability(connector_id=2, type="Inoperative"),
            c16.ChangeAvailability(connector_id=2, type="Operative"),
            c16.ClearCache(),
        ]
    return [
        c201.TriggerMessage(requested_message="StatusNotification"),
        c201.ChangeAvailability(operational_status="Inoperative", evse={"id": 2}),
        c201.ChangeAvailability(operational_status="Operative", evse={"id": 2}),
        c201.ClearCache(),
    ]


async def test_rare_events_set_no_attribute_outside_the_slots() -> None:
    """Boot, heartbeats, sessions, CSMS calls answered with side effects, a storm's drop and
    the reconnection: every station of both versions goes through them, with nothing failed
    (an attribute missing from the slots raises where it is set)."""
    scenario = make_scenario(
        stations={"count": 6, "connectors": 2, "ocpp": {"1.6": 1, "2.0.1": 1}},
        heartbeat={"interval_s": 0.2, "min_s": 0.01},
        sessions=QUICK,
    )
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            stations = fleet.stations
            await wait_until(
                lambda: all(s.charging and _completed(s.charging.chargers[0]) for s in stations),
                timeout_s=20,
            )
            # Boot, heartbeats, sessions: nothing rare yet, so no station holds a rare dict.
            assert [s.id for s in stations if s._rare is not None] == []
            for station in stations:
                answers = [await csms.call(station.id, call) for call in _rare_calls(station)]
                # Scheduled: the connector is charging (it goes unavailable after the session).
                statuses = {a.status for a in answers}
                assert statuses <= {"Accepted", "Scheduled"}, (station.id, answers)
            generators = _randoms()
            for station in stations:
                station.drop(0.2, silent=False)
            await asyncio.sleep(0.1)
            assert all(s.state is not State.ACCEPTED for s in stations)
            await wait_until(lambda: all(s.state is State.ACCEPTED for s in stations), 10)
            assert all(not hasattr(s, "__dict__") for s in stations)
            assert all(s._rare and s.offline_until > 0 for s in stations)
            # The reconnect back-off's jitter: a Random (2.5 KB) per station that reconnected
            # was held for the station's life. One for the process now.
            assert _randoms() - generators < len(stations)
    assert fleet.summary.failures == []
    assert fleet.summary.rows["Heartbeat"].count >= 6
