"""The local authorisation list and variable monitoring over real sockets, against the embedded
CSMS: versions, refusals per spec, and monitoring answered as not offered."""

from __future__ import annotations

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.conftest import (
    accepted,
    assert_schema_valid,
    csms_running,
    fleet_running,
    make_scenario,
)


async def test_1_6_local_list_versions_and_a_disabled_list() -> None:
    scenario = make_scenario(stations={"ocpp": "1.6", "count": 2})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        version = c16.GetLocalListVersion()
        assert (await csms.call("CP-00001", version)).list_version == 0
        entries = [{"idTag": "TAG-1", "idTagInfo": {"status": "Accepted"}}]
        full = c16.SendLocalList(
            list_version=4, update_type="Full", local_authorization_list=entries
        )
        assert (await csms.call("CP-00001", full)).status == "Accepted"
        assert (await csms.call("CP-00001", version)).list_version == 4
        stale = c16.SendLocalList(
            list_version=4, update_type="Differential", local_authorization_list=entries
        )
        assert (await csms.call("CP-00001", stale)).status == "VersionMismatch"
        off = c16.ChangeConfiguration(key="LocalAuthListEnabled", value="false")
        assert (await csms.call("CP-00001", off)).status == "Accepted"
        assert (await csms.call("CP-00001", version)).list_version == -1
        assert (await csms.call("CP-00001", full)).status == "NotSupported"
        never = c16.ChangeConfiguration(key="LocalAuthListEnabled", value="false")
        assert (await csms.call("CP-00002", never)).status == "Accepted"
        assert (await csms.call("CP-00002", version)).list_version == -1
    assert_schema_valid(csms)


async def test_2_0_1_local_list_and_monitoring_answered_per_spec() -> None:
    scenario = make_scenario(stations={"ocpp": "2.0.1"})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        entries = [
            {
                "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
                "idTokenInfo": {"status": "Accepted"},
            }
        ]
        full = c201.SendLocalList(
            version_number=3, update_type="Full", local_authorization_list=entries
        )
        assert (await csms.call("CP-00001", full)).status == "Accepted"
        got = await csms.call("CP-00001", c201.GetLocalListVersion())
        assert got.version_number == 3
        count = c201.GetVariables(
            get_variable_data=[
                {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Entries"}}
            ]
        )
        assert (await csms.call("CP-00001", count)).get_variable_result[0]["attribute_value"] == "1"
        monitors = c201.SetVariableMonitoring(
            set_monitoring_data=[
                {"value": 10, "type": "UpperThreshold", "severity": 5,
                 "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
                {"value": 1, "type": "Delta", "severity": 5,
                 "component": {"name": "Nope"}, "variable": {"name": "X"}},
            ]
        )  # fmt: skip
        results = (await csms.call("CP-00001", monitors)).set_monitoring_result
        assert [r["status"] for r in results] == ["UnsupportedMonitorType", "UnknownComponent"]
        cleared = await csms.call("CP-00001", c201.ClearVariableMonitoring(id=[1, 2]))
        assert [r["status"] for r in cleared.clear_monitoring_result] == ["NotFound", "NotFound"]
        report = await csms.call("CP-00001", c201.GetMonitoringReport(request_id=1))
        assert report.status == "EmptyResultSet"
        base = await csms.call("CP-00001", c201.SetMonitoringBase(monitoring_base="All"))
        assert base.status == "NotSupported"
    assert_schema_valid(csms)
