"""Boot semantics of both versions against the embedded CSMS on 127.0.0.1 (OCPP 1.6 §4.2,
2.0.1 B01-B03): what the CSMS receives on the wire, and when."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from ocpp.v16 import call as call16

from fleet.station.state import State
from tests.conftest import (
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

VERSIONS = ["1.6", "2.0.1"]


def connector_ids(version: str, frames: list) -> list[int]:
    key = "connectorId" if version == "1.6" else "evseId"
    return sorted(f.message[3][key] for f in frames)


@pytest.mark.parametrize("version", VERSIONS)
async def test_accepted_syncs_clock_reports_connectors_and_heartbeats(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version, "connectors": 2})
    async with csms_running(interval_s=1, clock_skew_s=3600) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: len(calls(csms, action="Heartbeat")) >= 3, timeout_s=6)
            assert station.state is State.ACCEPTED
            # Station clock = CSMS clock: the CSMS runs an hour ahead.
            assert station.clock_offset_s == pytest.approx(3600, abs=2)

    statuses = calls(csms, action="StatusNotification")
    expected = [0, 1, 2] if version == "1.6" else [1, 2]
    assert connector_ids(version, statuses) == expected
    stamp = statuses[0].message[3]["timestamp"]
    from fleet.station.behaviour import parse_csms_time

    sent = parse_csms_time(stamp)
    assert sent is not None and abs(sent.timestamp() - (time.time() + 3600)) < 30

    # Order on the wire: boot first, statuses before the first heartbeat.
    actions = [c.message[2] for c in calls(csms)]
    assert actions[0] == "BootNotification"
    assert actions.index("Heartbeat") > max(
        i for i, a in enumerate(actions) if a == "StatusNotification"
    )

    beats = [c.at for c in calls(csms, action="Heartbeat")]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert all(0.8 < gap < 1.4 for gap in gaps), gaps
    assert csms.ledger["CP-00001"].errors == {}
    assert assert_schema_valid(csms) >= 6


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_sends_only_boots_until_accepted(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version})
    async with csms_running(boot_status="Pending", interval_s=1, accept_after_s=2.2) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(calls(csms, action="Heartbeat")) >= 1, timeout_s=8)
            assert fleet.stations[0].state is State.ACCEPTED
            pending_answers = fleet.summary.rows["BootNotification"].count

    actions = [c.message[2] for c in calls(csms)]
    boots = [c.at for c in calls(csms, action="BootNotification")]
    first_other = actions.index("StatusNotification")
    # Pending: nothing but BootNotification until the accepting boot.
    assert set(actions[:first_other]) == {"BootNotification"}
    assert len(boots) >= 3 and pending_answers == len(boots)
    # Boot again only after the interval the CSMS gave (1 s), not earlier.
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(boots))
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_station_answers_csms_calls(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version})
    async with csms_running(boot_status="Pending", interval_s=30) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: fleet.stations[0].state is State.PENDING)
            if version == "1.6":
                answer = await csms.call(
                    "CP-00001", call16.GetConfiguration(key=["HeartbeatInterval"])
                )
                assert answer.configuration_key[0]["key"] == "HeartbeatInterval"
            else:
                from ocpp.v201 import call as call201

                answer = await csms.call(
                    "CP-00001",
                    call201.GetVariables(
                        get_variable_data=[
                            {
                                "component": {"name": "OCPPCommCtrlr"},
                                "variable": {"name": "HeartbeatInterval"},
                            }
                        ]
                    ),
                )
                assert answer.get_variable_result[0]["attribute_status"] == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
async def test_rejected_is_silent_for_the_interval_then_boots_again(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version})
    async with csms_running(boot_status="Rejected", interval_s=2, accept_after_s=1.5) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.state is State.REJECTED)
            # While Rejected the station does not answer CSMS calls (1.6 §4.2).
            payload = (
                call16.ClearCache()
                if version == "1.6"
                else __import__("ocpp.v201.call", fromlist=["ClearCache"]).ClearCache()
            )
            with pytest.raises(asyncio.TimeoutError):
                await csms.call("CP-00001", payload, timeout_s=0.5)
            await wait_until(lambda: station.state is State.ACCEPTED, timeout_s=6)
            rejected = fleet.summary.rows["BootNotification"].failures

    frames = calls(csms)
    assert [f.message[2] for f in frames[:2]] == ["BootNotification", "BootNotification"]
    assert frames[1].at - frames[0].at >= 1.95  # silent for the whole interval
    assert rejected == 1  # a Rejected boot is a counted failure
    assert fleet.summary.failures[0]["reason"] == "boot Rejected by the CSMS"


async def test_absurd_interval_falls_back_to_the_scenario_default() -> None:
    scenario = make_scenario(heartbeat={"fallback_s": 5, "max_s": 3600})
    async with csms_running(interval_s=0) as csms, fleet_running(scenario, csms.url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        assert fleet.stations[0].heartbeat_s == 5
        await asyncio.sleep(0.5)
    assert calls(csms, action="Heartbeat") == []  # no flood at interval 0


async def test_reconnect_does_not_duplicate_heartbeat_timers() -> None:
    scenario = make_scenario()
    async with csms_running(interval_s=1) as csms, fleet_running(scenario, csms.url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 2, timeout_s=5)
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        reconnected = time.monotonic()
        await asyncio.sleep(3.2)
    beats = [c.at for c in calls(csms, action="Heartbeat") if c.at > reconnected]
    assert 2 <= len(beats) <= 4, beats  # one timer: ~3 beats in 3.2 s, not 6
    lost = fleet.summary.stats.timings["connection lost"]
    assert lost.failures == 1
