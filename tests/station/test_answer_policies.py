"""Responder policies on the wire, against the embedded CSMS: answers held back by a delay while
the station's own CALLs go on, CallErrors by policy, calls never answered, and the station's
handling time in fleet's statistics."""

from __future__ import annotations

import asyncio
import time

import pytest
from ocpp.exceptions import GenericError
from ocpp.v16 import call as c16

from fleet.metrics.sample import handling_row
from tests.conftest import accepted, calls, csms_running, fleet_running, make_scenario


async def test_a_held_back_answer_does_not_hold_up_the_stations_own_calls() -> None:
    scenario = make_scenario(
        heartbeat={"interval_s": 0.3},
        responses={"ChangeConfiguration": {"status": "Rejected", "delay_s": 1.5}},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        sent = time.monotonic()
        answer = await csms.call(
            "CP-00001", c16.ChangeConfiguration(key="HeartbeatInterval", value="60")
        )
        took = time.monotonic() - sent
        beats_meanwhile = [c for c in calls(csms, action="Heartbeat") if c.at > sent]
        handled = fleet.summary.stats.timings[handling_row("ChangeConfiguration")]
    assert answer.status == "Rejected"
    assert 1.45 < took < 2.5
    assert len(beats_meanwhile) >= 3  # one every 0.3 s while the answer was held back
    assert handled.count == 1 and handled.max_ms >= 1450  # the station's handling time


async def test_call_errors_and_unanswered_calls_by_policy() -> None:
    scenario = make_scenario(
        responses={
            "ClearCache": {"call_errors": 1, "error_code": "GenericError"},
            "DataTransfer": {"unanswered": 1},
        }
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        with pytest.raises(GenericError):
            await csms.call("CP-00001", c16.ClearCache())
        with pytest.raises(asyncio.TimeoutError):
            await csms.call("CP-00001", c16.DataTransfer(vendor_id="x"), timeout_s=0.5)
        # The station goes on: the next call is answered.
        answer = await csms.call("CP-00001", c16.ChangeAvailability(0, "Operative"))
        assert answer.status == "Accepted"
        station = fleet.stations[0]
        answers = fleet.summary.stats.answers_json()
    assert answers["DataTransfer"]["outcomes"] == {"(unanswered)": 1}
    assert answers["ClearCache"]["outcomes"] == {"CallError GenericError": 1}
    assert answers["ClearCache"]["p50_ms"] is not None  # its handling time
    assert answers["ChangeAvailability"]["outcomes"] == {"Accepted": 1}
    assert fleet.summary.failure_count == 0  # what the scenario asked for is no failure
    assert not station._delayed and station._followup is None  # nothing kept for them


async def test_a_held_back_answer_dies_with_the_connection() -> None:
    scenario = make_scenario(responses={"ClearCache": {"delay_s": 30}})
    async with csms_running(interval_s=300) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await accepted(fleet)
            with pytest.raises(asyncio.TimeoutError):
                await csms.call("CP-00001", c16.ClearCache(), timeout_s=0.3)
            station = fleet.stations[0]
            assert station._delayed and len(station._delayed) == 1
            (held,) = station._delayed
        assert held.cancelled() and not station._delayed  # dropped when the connection ended
    assert fleet.summary.stats.answers == {"ClearCache": {"(connection lost)": 1}}
