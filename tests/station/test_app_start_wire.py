"""Drivers who plug in first and start from an app (``sessions.start: plug_then_remote``), over
real sockets against the embedded CSMS: the connector waits for the CSMS's remote start (1.6 in
Preparing; 2.0.1 F01, the transaction Started by the cable), which goes to the connector the EV
waits on, and the session charges under the app's tag."""

from __future__ import annotations

import pytest

from fleet.station import console
from fleet.station.sessions import Phase
from tests.conftest import (
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)
from tests.station.test_charging import remote_start

SESSIONS = {
    "start": "plug_then_remote",
    "arrivals_per_hour": 3600,
    "plug_in_min": {"min": 5, "max": 5},
    "meter_interval_s": 1,
}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_driver_plugged_in_is_started_from_the_app(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version, "connectors": 2}, sessions=SESSIONS)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            chargers = station.charging.chargers
            await wait_until(lambda: any(c.phase is Phase.PLUGGED for c in chargers), 10)
            waiting = next(c for c in chargers if c.phase is Phase.PLUGGED)
            assert console.find(fleet.stations, "waiting_for_app", 5)["ids"] == [station.id]
            assert not calls(csms, station.id, "Authorize")  # nobody badged
            cable_tx = None if waiting.tx is None else waiting.tx.tx_id
            # No connector named: the start goes to the EV waiting for it.
            answer = await csms.call(station.id, remote_start(version, "APP-1", 77, anywhere=True))
            assert answer.status == "Accepted"
            if version == "2.0.1":  # F01: the transaction the cable started
                assert cable_tx is not None and answer.transaction_id == cable_tx
            await wait_until(lambda: waiting.phase is Phase.CHARGING, 5)
            reading = "MeterValues" if version == "1.6" else "TransactionEvent"
            await wait_until(lambda: len(calls(csms, station.id, reading)) >= 3)
            # The other connector's EV, started by name.
            other = next(c for c in chargers if c is not waiting)
            await wait_until(lambda: other.phase is Phase.PLUGGED, 10)
            named = other.connector.id
            answer = await csms.call(station.id, remote_start(version, "APP-2", 78, at=named))
            assert answer.status == "Accepted"
            await wait_until(lambda: other.phase is Phase.CHARGING, 5)
            assert other.tx.tag == "APP-2"
    if version == "1.6":
        (start,) = [c.message[3] for c in calls(csms, station.id, "StartTransaction")][:1]
        assert start["idTag"] == "APP-1" and start["connectorId"] == waiting.connector.id
    else:
        events = [c.message[3] for c in calls(csms, station.id, "TransactionEvent")]
        mine = [e for e in events if e["transactionInfo"]["transactionId"] == cable_tx]
        assert mine[0]["triggerReason"] == "CablePluggedIn" and "idToken" not in mine[0]
        remote = next(e for e in mine if e["triggerReason"] == "RemoteStart")
        assert remote["idToken"]["idToken"] == "APP-1"
        assert remote["transactionInfo"]["remoteStartId"] == 77
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_embedded_csms_plays_the_drivers_app(version: str) -> None:
    """``fleet csms --start-plugged``: each EV plugged in without a badge gets its remote start
    (idTag APP) a moment later, so a plug_then_remote fleet charges against the embedded
    CSMS."""
    sessions = {**SESSIONS, "plug_in_min": {"min": 0.02, "max": 0.04}}
    scenario = make_scenario(stations={"ocpp": version, "count": 2}, sessions=sessions)
    async with csms_running(interval_s=60, start_plugged_after_s=0.1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: all(
                    s.charging is not None and s.charging.chargers[0].counts.completed >= 1
                    for s in fleet.stations
                ),
                15,
            )
    for station in fleet.stations:
        if version == "1.6":
            tags = {c.message[3]["idTag"] for c in calls(csms, station.id, "StartTransaction")}
            assert tags == {"APP"}
        else:
            events = [c.message[3] for c in calls(csms, station.id, "TransactionEvent")]
            remote = [e for e in events if e["triggerReason"] == "RemoteStart"]
            assert remote and {e["idToken"]["idToken"] for e in remote} == {"APP"}
        assert not calls(csms, station.id, "Authorize")
    assert fleet.summary.failures == []
    assert_schema_valid(csms)
