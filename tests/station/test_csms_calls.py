"""CSMS-initiated calls, sent by the embedded CSMS (the ocpp library's central side, which also
validates every answer against the ocpp package's response schemas)."""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.station.state import State
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

HEARTBEAT_VAR = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


def beat_gaps(csms, after: float) -> list[float]:
    beats = [c.at for c in calls(csms, action="Heartbeat") if c.at > after]
    return [b - a for a, b in itertools.pairwise(beats)]


async def test_v16_configuration_reports_and_changes_heartbeat_interval() -> None:
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(make_scenario(), csms.url) as fleet:
            await accepted(fleet)
            got = await csms.call(
                "CP-00001", c16.GetConfiguration(key=["HeartbeatInterval", "Nope"])
            )
            assert got.configuration_key == [
                {"key": "HeartbeatInterval", "readonly": False, "value": "1"}
            ]
            assert got.unknown_key == ["Nope"]

            everything = await csms.call("CP-00001", c16.GetConfiguration())
            keys = {item["key"]: item for item in everything.configuration_key}
            assert keys["NumberOfConnectors"] == {
                "key": "NumberOfConnectors",
                "readonly": True,
                "value": "1",
            }

            changed = await csms.call(
                "CP-00001", c16.ChangeConfiguration(key="HeartbeatInterval", value="2")
            )
            assert changed.status == "Accepted"
            since = time.monotonic()
            await asyncio.sleep(4.6)
            got = await csms.call("CP-00001", c16.GetConfiguration(key=["HeartbeatInterval"]))
            assert got.configuration_key[0]["value"] == "2"

            bad = await csms.call(
                "CP-00001", c16.ChangeConfiguration(key="HeartbeatInterval", value="x")
            )
            assert bad.status == "Rejected"
            readonly = await csms.call(
                "CP-00001", c16.ChangeConfiguration(key="NumberOfConnectors", value="4")
            )
            assert readonly.status == "Rejected"
            unknown = await csms.call("CP-00001", c16.ChangeConfiguration(key="Bogus", value="1"))
            assert unknown.status == "NotSupported"
    gaps = beat_gaps(csms, since)
    assert gaps and all(1.7 < g < 2.4 for g in gaps), gaps


async def test_v201_variables_report_and_change_heartbeat_interval() -> None:
    scenario = make_scenario(stations={"ocpp": "2.0.1"})
    async with csms_running(interval_s=1) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        unknown_component = {"component": {"name": "Nope"}, "variable": {"name": "X"}}
        got = await csms.call(
            "CP-00001", c201.GetVariables(get_variable_data=[HEARTBEAT_VAR, unknown_component])
        )
        assert got.get_variable_result[0]["attribute_value"] == "1"
        assert got.get_variable_result[0]["attribute_status"] == "Accepted"
        assert got.get_variable_result[1]["attribute_status"] == "UnknownComponent"

        changed = await csms.call(
            "CP-00001",
            c201.SetVariables(set_variable_data=[{**HEARTBEAT_VAR, "attribute_value": "2"}]),
        )
        assert changed.set_variable_result[0]["attribute_status"] == "Accepted"
        since = time.monotonic()
        await asyncio.sleep(4.6)
        got = await csms.call("CP-00001", c201.GetVariables(get_variable_data=[HEARTBEAT_VAR]))
        assert got.get_variable_result[0]["attribute_value"] == "2"
    gaps = beat_gaps(csms, since)
    assert gaps and all(1.7 < g < 2.4 for g in gaps), gaps


@pytest.mark.parametrize(
    ("version", "requests"),
    [
        (
            "1.6",
            [
                (c16.Reset(type="Soft"), "Rejected"),
                (c16.RemoteStartTransaction(id_tag="TAG1"), "Rejected"),
                (c16.RemoteStopTransaction(transaction_id=1), "Rejected"),  # no such transaction
                (c16.ChangeAvailability(connector_id=1, type="Inoperative"), "Scheduled"),
                (c16.UnlockConnector(connector_id=1), "UnlockFailed"),
                (c16.ClearCache(), "Rejected"),
                (c16.DataTransfer(vendor_id="acme"), "UnknownVendorId"),
                (c16.TriggerMessage(requested_message="Heartbeat"), "Accepted"),
            ],
        ),
        (
            "2.0.1",
            [
                (c201.Reset(type="Immediate"), "Rejected"),
                (
                    c201.RequestStartTransaction(
                        id_token={"idToken": "T", "type": "Central"}, remote_start_id=1
                    ),
                    "Rejected",
                ),
                (c201.RequestStopTransaction(transaction_id="tx1"), "Rejected"),  # unknown id
                (c201.ChangeAvailability(operational_status="Inoperative"), "Scheduled"),
                (c201.UnlockConnector(evse_id=1, connector_id=1), "UnlockFailed"),
                (c201.ClearCache(), "Rejected"),
                (c201.DataTransfer(vendor_id="acme"), "UnknownVendorId"),
                (c201.TriggerMessage(requested_message="Heartbeat"), "Accepted"),
            ],
        ),
    ],
)
async def test_calls_are_answered_with_the_scenario_statuses(version: str, requests: list) -> None:
    responses = {
        "Reset": "Rejected",
        "ChangeAvailability": "Scheduled",
        "UnlockConnector": "UnlockFailed",
        "ClearCache": "Rejected",
        "DataTransfer": "UnknownVendorId",
        "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction": "Rejected",
    }
    scenario = make_scenario(stations={"ocpp": version}, responses=responses)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        for payload, expected in requests:
            answer = await csms.call("CP-00001", payload)
            assert answer.status == expected, type(payload).__name__
        await wait_until(lambda: len(calls(csms, action="Heartbeat")) == 1)
        handled = {
            name: row.count
            for name, row in fleet.summary.stats.timings.items()
            if name.startswith("CSMS→CP")
        }
    assert len(handled) == len(requests)
    assert all(count == 1 for count in handled.values())
    # Rejected Reset: no reboot.
    assert csms.ledger["CP-00001"].connections == 1
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_accepted_reset_reboots_and_boots_again(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version})
    reset = c16.Reset(type="Hard") if version == "1.6" else c201.Reset(type="Immediate")
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        assert (await csms.call("CP-00001", reset)).status == "Accepted"
        await wait_until(lambda: len(calls(csms, action="BootNotification")) == 2)
        await accepted(fleet)
        # A later reboot for no reason of the CSMS's (a power cut) is a PowerUp again.
        await fleet.stations[0].reboot()
        await wait_until(lambda: len(calls(csms, action="BootNotification")) == 3)
        assert fleet.summary.failure_count == 0
    boots = [c.message[3] for c in calls(csms, action="BootNotification")]
    if version == "2.0.1":
        assert [boot["reason"] for boot in boots] == ["PowerUp", "RemoteReset", "PowerUp"]
    assert csms.ledger["CP-00001"].connections == 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_trigger_message_sends_the_message_after_the_answer(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version, "connectors": 2})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        # The boot's own reports first (1.6: connectors 0-2; 2.0.1: EVSEs 1-2): counted while
        # one was still on its way, the trigger's would be lost among them.
        before = 3 if version == "1.6" else 2
        await wait_until(lambda: len(calls(csms, action="StatusNotification")) == before)
        trigger = (
            c16.TriggerMessage(requested_message="StatusNotification", connector_id=2)
            if version == "1.6"
            else c201.TriggerMessage(requested_message="StatusNotification", evse={"id": 2})
        )
        assert (await csms.call("CP-00001", trigger)).status == "Accepted"
        await wait_until(lambda: len(calls(csms, action="StatusNotification")) == before + 1)
        last = calls(csms, action="StatusNotification")[-1].message[3]
        assert last["connectorId" if version == "1.6" else "evseId"] == 2

        boot = (
            c16.TriggerMessage(requested_message="BootNotification")
            if version == "1.6"
            else c201.TriggerMessage(requested_message="BootNotification")
        )
        answer = await csms.call("CP-00001", boot)
    if version == "1.6":
        assert answer.status == "Accepted"
    else:
        assert answer.status == "Rejected"  # F06.FR.17: already accepted


async def test_change_availability_reports_the_new_status() -> None:
    scenario = make_scenario(stations={"connectors": 2})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        answer = await csms.call(
            "CP-00001", c16.ChangeAvailability(connector_id=2, type="Inoperative")
        )
        assert answer.status == "Accepted"
        await wait_until(lambda: len(calls(csms, action="StatusNotification")) == 4)
    assert calls(csms, action="StatusNotification")[-1].message[3]["status"] == "Unavailable"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_unsupported_actions_get_the_spec_call_error(version: str) -> None:
    scenario = make_scenario(stations={"ocpp": version})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        if version == "2.0.1":  # every CSMS-initiated 1.6 action is answered
            with pytest.raises(OcppNotImplemented):
                await csms.call("CP-00001", c201.CostUpdated(total_cost=1.5, transaction_id="T-1"))
        # An action that does not exist in the version at all: NotSupported.
        central = csms.connections["CP-00001"]
        central._unique_id_generator = lambda: "fixed-1"
        raw = orjson.dumps([2, "fixed-1", "MakeCoffee", {}]).decode()
        await central._connection.send(raw)
        await wait_until(
            lambda: any(c.message[0] == 4 for c in csms.capture if c.message[1] == "fixed-1")
        )
        error = next(c.message for c in csms.capture if c.message[1] == "fixed-1")
        assert error[2] == "NotSupported"
        assert fleet.stations[0].state is State.ACCEPTED  # the run goes on
