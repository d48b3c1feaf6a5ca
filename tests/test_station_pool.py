"""The Locust process's station pool: numbers go out lowest free first; a stopped user's station
is kept for the next user when the scenario keeps state, else the next one is made anew."""

from __future__ import annotations

import pytest

from fleet.metrics.summary import Summary
from fleet.scenario import Scenario
from fleet.station.session import make_station
from fleet.users import _Stations

pytestmark = pytest.mark.in_process_locust  # see tests/conftest.py


def test_a_returning_number_gets_its_station_back_only_when_state_is_kept() -> None:
    for keep in (True, False):
        scenario = Scenario.model_validate({"stations": {"count": 3, "keep_state": keep}})
        pool = _Stations()
        numbers = [pool.take(), pool.take(), pool.take()]
        assert numbers == [1, 2, 3]
        station = make_station(scenario, 2, Summary())
        pool.give_back(2, station)
        assert pool.take() == 2  # the lowest free number first
        assert (pool.kept.get(2) is station) is keep
        assert pool.take() == 4
