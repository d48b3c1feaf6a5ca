"""The 2.0.1 device model and the 1.6 configuration keys without sockets: lookups, value rules,
what each report holds, and report pages."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fleet.station import device_model as dm
from fleet.station.device_model import Place
from fleet.station.settings import SETTINGS, check_change


def component(name: str, evse: int | None = None, connector: int | None = None) -> dict:
    shown: dict[str, Any] = {"name": name}
    if evse is not None:
        shown["evse"] = {"id": evse}
        if connector is not None:
            shown["evse"]["connector_id"] = connector
    return shown


@pytest.mark.parametrize(
    ("where", "variable", "failure"),
    [
        (component("Nope"), {"name": "X"}, "UnknownComponent"),
        (component("EVSE", 3), {"name": "AvailabilityState"}, "UnknownComponent"),  # 2 EVSEs
        (component("EVSE"), {"name": "AvailabilityState"}, "UnknownComponent"),  # which one?
        (component("OCPPCommCtrlr", 1), {"name": "HeartbeatInterval"}, "UnknownComponent"),
        (component("Connector", 1, 2), {"name": "ConnectorType"}, "UnknownComponent"),
        (component("OCPPCommCtrlr"), {"name": "Heartbeat"}, "UnknownVariable"),
        (component("DeviceDataCtrlr"), {"name": "ItemsPerMessage"}, "UnknownVariable"),
        (component("DeviceDataCtrlr"), {"name": "ItemsPerMessage", "instance": "GetReport"}, None),
        (component("EVSE", 2), {"name": "Power"}, None),
        (component("Connector", 2), {"name": "ConnectorType"}, None),  # connector 1 implied
    ],
)
def test_lookups_answer_per_spec(where: dict, variable: dict, failure: str | None) -> None:
    found, _, why = dm.find(where, variable, evses=2)
    assert why == failure
    assert (found is None) == (failure is not None)


def variable(component_name: str, name: str, instance: str | None = None) -> dm.Variable:
    found = dm.find(component(component_name), {"name": name, "instance": instance}, 1)[0]
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"), "5", ("Rejected", None)),  # RO
        (("OCPPCommCtrlr", "HeartbeatInterval", None), "0", ("Rejected", None)),
        (("OCPPCommCtrlr", "HeartbeatInterval", None), " 30 ", ("Accepted", "30")),
        (("SampledDataCtrlr", "TxEndedInterval", None), "x", ("Rejected", None)),
        (
            ("SampledDataCtrlr", "TxEndedMeasurands", None),
            "SoC,Voltage",
            ("Accepted", "SoC,Voltage"),
        ),
        (("SampledDataCtrlr", "TxStartedMeasurands", None), "Frequency", ("Rejected", None)),
        (("TxCtrlr", "TxStartPoint", None), "EVConnected", ("Accepted", "EVConnected")),
        (("TxCtrlr", "TxStartPoint", None), "DataSigned", ("Rejected", None)),
        (("ClockCtrlr", "TimeSource", None), "NTP,Heartbeat", ("Accepted", "NTP,Heartbeat")),
        (("AuthCtrlr", "Enabled", None), "TRUE", ("Accepted", "true")),
        (("OCPPCommCtrlr", "NetworkConfigurationPriority", None), "1", ("RebootRequired", "1")),
    ],
)
def test_set_values_follow_the_variables_rules(
    where: tuple[str, str, str | None], value: str, expected: tuple[str, str | None]
) -> None:
    assert dm.check_value(variable(*where), value) == expected


def test_1_6_keys_have_the_core_profile_and_their_rules() -> None:
    core = [k for k, s in SETTINGS.items() if s.version is None]
    assert len(core) >= 34  # every Core key of 1.6 §9.1, optional ones included
    assert SETTINGS["NumberOfConnectors"].readonly and SETTINGS["GetConfigurationMaxKeys"].readonly
    assert check_change("ConnectorPhaseRotation", "0.RST, 1.RTS") == (
        "RebootRequired",
        "0.RST,1.RTS",
    )
    assert check_change("ConnectorPhaseRotation", "1.XYZ") == ("Rejected", None)
    assert check_change("StopTxnSampledData", "SoC") == ("Accepted", "SoC")
    assert check_change("SupportedFeatureProfiles", "Core") == ("Rejected", None)
    assert check_change("Bogus", "1") == ("NotSupported", None)


def values(variable: dm.Variable, place: Place) -> str:
    if variable.name == "Enabled":
        return "false" if variable.component == "AuthCtrlr" else "true"
    if variable.live:
        return "x" * 40
    return SETTINGS[variable.setting].default if variable.setting else variable.default


def test_reports_hold_what_their_base_or_criteria_name() -> None:
    full = dm.base_report("FullInventory", evses=2)
    per_station = [v for v in dm.VARIABLES if v.scope == dm.STATION]
    per_evse = [v for v in dm.VARIABLES if v.scope != dm.STATION]
    assert len(full) == len(per_station) + 2 * len(per_evse)
    configuration = dm.base_report("ConfigurationInventory", evses=2)
    assert configuration and all(v.mutability != dm.RO for v, _ in configuration)
    summary = dm.base_report("SummaryInventory", evses=2)
    assert {v.name for v, _ in summary} == {"AvailabilityState", "Available", "Problem"}

    enabled = dm.report(None, ["Enabled"], 2, values)
    assert {v.component for v, _ in enabled} == {
        "SampledDataCtrlr",
        "AlignedDataCtrlr",
        "SmartChargingCtrlr",
        "LocalAuthListCtrlr",
    }
    evse_two = dm.report([{"component": component("EVSE", 2)}], None, 2, values)
    assert evse_two and all(p == Place(2) for _, p in evse_two)
    one = [{"component": component("OCPPCommCtrlr"), "variable": {"name": "HeartbeatInterval"}}]
    assert [v.name for v, _ in dm.report(one, None, 2, values)] == ["HeartbeatInterval"]
    assert dm.report([{"component": component("Nope")}], None, 2, values) == []


@pytest.mark.parametrize(("per_page", "max_bytes"), [(10, 4000), (3, 100_000), (50, 900)])
def test_report_pages_add_up_and_respect_both_limits(per_page: int, max_bytes: int) -> None:
    chosen = dm.base_report("FullInventory", evses=3)
    items = [dm.report_data(v, p, values) for v, p in chosen]
    pages = dm.pages(items, per_page, max_bytes)
    assert [item for page in pages for item in page] == items
    assert all(1 <= len(page) <= per_page for page in pages)
    for page in pages:
        assert len(page) == 1 or dm.PAGE_OVERHEAD + len(orjson.dumps(page)) <= max_bytes
