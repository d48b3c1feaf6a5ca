"""A transaction's readings in its last message, over real sockets against the embedded CSMS:
1.6 StopTransaction transactionData every MeterValueSampleInterval, 2.0.1 Ended every
SampledDataCtrlr.TxEndedInterval as the CSMS sets it; every frame valid."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v201 import call as c201

from fleet.station.sessions import Phase
from tests.conftest import (
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)
from tests.station.test_charging import remote_start, remote_stop

ENDED = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxEndedInterval"}}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_last_message_of_a_transaction_carries_its_readings(version: str) -> None:
    sessions = {"start": "remote_only", "meter_interval_s": 1, "end_series": True}
    scenario = make_scenario(stations={"ocpp": version}, sessions=sessions)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            if version == "2.0.1":  # the scenario's default, then the CSMS's own interval
                shown = await csms.call(station.id, c201.GetVariables(get_variable_data=[ENDED]))
                assert shown.get_variable_result[0]["attribute_value"] == "1"
                change = set_setting(version, "2", "TxEndedInterval", "SampledDataCtrlr")
                await csms.call(station.id, change)
            assert (await csms.call(station.id, remote_start(version, "S-1"))).status == "Accepted"
            charger = station.charging.chargers[0]
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            await asyncio.sleep(4.5)
            await csms.call(station.id, remote_stop(version, charger.tx.tx_id))
            await wait_until(lambda: charger.counts.completed == 1)
    if version == "1.6":
        values = calls(csms, action="StopTransaction")[-1].message[3]["transactionData"]
        sent = [c.message[3]["meterValue"][0] for c in calls(csms, action="MeterValues")]
    else:
        events = [c.message[3] for c in calls(csms, action="TransactionEvent")]
        values = events[-1]["meterValue"]
        sent = [e["meterValue"][0] for e in events[1:-1] if "meterValue" in e]
    contexts = [v["sampledValue"][0]["context"] for v in values]
    kept = contexts.count("Sample.Periodic")
    assert contexts == ["Sample.Periodic"] * kept + ["Transaction.End"]
    assert len(sent) in (4, 5)  # a reading a second for 4.5 s
    assert kept == (len(sent) if version == "1.6" else 2)  # 2.0.1: every 2 s, as the CSMS set
    stamps = [v["timestamp"] for v in values]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert_schema_valid(csms)
