"""The device model and configuration over real sockets, against the embedded CSMS: variables
answered per spec, changes that change behaviour, reports paged within the station's limits,
and 1.6 keys that need a reboot."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.station import device_model as dm
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

V201 = make_scenario(stations={"ocpp": "2.0.1", "connectors": 2})


def item(component: dict[str, Any], name: str, **more: Any) -> dict[str, Any]:
    return {"component": component, "variable": {"name": name}, **more}


async def test_get_and_set_variables_answer_per_spec_and_change_behaviour() -> None:
    async with csms_running(interval_s=300) as csms, fleet_running(V201, csms.url) as fleet:
        await accepted(fleet)
        got = await csms.call(
            "CP-00001",
            c201.GetVariables(
                get_variable_data=[
                    item({"name": "EVSE", "evse": {"id": 2}}, "AvailabilityState"),
                    item({"name": "EVSE", "evse": {"id": 9}}, "AvailabilityState"),
                    item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval"),
                    item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", attributeType="Target"),
                    item({"name": "OCPPCommCtrlr"}, "Nope"),
                    item({"name": "Nope"}, "Nope"),
                ]
            ),
        )
        statuses = [
            (r["attribute_status"], r.get("attribute_value")) for r in got.get_variable_result
        ]
        assert statuses == [
            ("Accepted", "Available"),
            ("UnknownComponent", None),
            ("Accepted", "300"),
            ("NotSupportedAttributeType", None),
            ("UnknownVariable", None),
            ("UnknownComponent", None),
        ]
        changed = await csms.call(
            "CP-00001",
            c201.SetVariables(
                set_variable_data=[
                    item({"name": "SampledDataCtrlr"}, "TxUpdatedInterval", attributeValue="15"),
                    item({"name": "SampledDataCtrlr"}, "TxEndedInterval", attributeValue="30"),
                    item({"name": "SecurityCtrlr"}, "CertificateEntries", attributeValue="3"),
                    item({"name": "TxCtrlr"}, "TxStartPoint", attributeValue="Sometime"),
                    item(
                        {"name": "OCPPCommCtrlr"},
                        "NetworkConfigurationPriority",
                        attributeValue="1",
                    ),
                ]
            ),
        )
        assert [r["attribute_status"] for r in changed.set_variable_result] == [
            "Accepted",
            "Accepted",
            "Rejected",  # read-only
            "Rejected",  # not a value it takes
            "RebootRequired",
        ]
        station = fleet.stations[0]
        assert station.get_setting("MeterValueSampleInterval") == "15"  # what sessions read
        again = await csms.call(
            "CP-00001",
            c201.GetVariables(
                get_variable_data=[item({"name": "SampledDataCtrlr"}, "TxEndedInterval")]
            ),
        )
        assert again.get_variable_result[0]["attribute_value"] == "30"
        too_many = [item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval")] * 21
        with pytest.raises(OCPPError) as refused:
            await csms.call("CP-00001", c201.GetVariables(get_variable_data=too_many))
        assert refused.value.code == "OccurrenceConstraintViolation"


def reports(csms, request_id: int) -> list[dict[str, Any]]:
    return [
        c.message[3]
        for c in calls(csms, action="NotifyReport")
        if c.message[3]["requestId"] == request_id
    ]


async def test_reports_come_paged_after_their_answer_and_add_up() -> None:
    async with csms_running(interval_s=300) as csms, fleet_running(V201, csms.url) as fleet:
        await accepted(fleet)
        answer = await csms.call(
            "CP-00001", c201.GetBaseReport(request_id=7, report_base="FullInventory")
        )
        assert answer.status == "Accepted"
        expected = len(dm.base_report("FullInventory", evses=2))
        await wait_until(lambda: sum(len(p["reportData"]) for p in reports(csms, 7)) == expected)
        pages = reports(csms, 7)
        assert [p["seqNo"] for p in pages] == list(range(len(pages)))
        assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
        assert all(len(p["reportData"]) <= 10 for p in pages)  # ItemsPerMessage[GetReport]
        shown = {
            (d["component"]["name"], d["variable"]["name"]): d["variableAttribute"][0].get("value")
            for p in pages
            for d in p["reportData"]
        }
        assert shown[("OCPPCommCtrlr", "HeartbeatInterval")] == "300"
        assert shown[("ChargingStation", "Model")] == V201.stations.model

        criteria = await csms.call(
            "CP-00001", c201.GetReport(request_id=8, component_criteria=["Enabled"])
        )
        assert criteria.status == "Accepted"
        await wait_until(lambda: reports(csms, 8) and not reports(csms, 8)[-1]["tbc"])
        components = {d["component"]["name"] for p in reports(csms, 8) for d in p["reportData"]}
        assert components == {
            "SampledDataCtrlr",
            "AlignedDataCtrlr",
            "AuthCtrlr",
            "SmartChargingCtrlr",
            "LocalAuthListCtrlr",
        }

        nothing = await csms.call(
            "CP-00001",
            c201.GetReport(request_id=9, component_variable=[{"component": {"name": "Nope"}}]),
        )
        assert nothing.status == "EmptyResultSet"
    assert not reports(csms, 9)
    assert_schema_valid(csms)  # every NotifyReport page meets the schema


async def test_1_6_configuration_lists_core_keys_and_applies_reboot_keys_at_reboot() -> None:
    scenario = make_scenario(stations={"ocpp": "1.6"})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        everything = await csms.call("CP-00001", c16.GetConfiguration())
        keys = {k["key"]: k for k in everything.configuration_key}
        assert len(keys) >= 34 and "TxStartPoint" not in keys
        assert keys["SupportedFeatureProfiles"]["readonly"] is True
        changed = await csms.call(
            "CP-00001", c16.ChangeConfiguration(key="ConnectorPhaseRotation", value="0.RTS")
        )
        assert changed.status == "RebootRequired"
        before = await csms.call("CP-00001", c16.GetConfiguration(key=["ConnectorPhaseRotation"]))
        assert before.configuration_key[0]["value"] == "0.RST"  # not applied yet
        assert (await csms.call("CP-00001", c16.Reset(type="Soft"))).status == "Accepted"
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 2)
        await accepted(fleet)
        after = await csms.call("CP-00001", c16.GetConfiguration(key=["ConnectorPhaseRotation"]))
        assert after.configuration_key[0]["value"] == "0.RTS"
