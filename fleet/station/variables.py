"""One 2.0.1 station's device model: its values (live states, shared settings, what the CSMS
changed) and its answers to GetVariables, SetVariables and the report requests, built on the
rules in ``device_model.py``. Made on first use, so an idle fleet does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from fleet.station import device_model as dm
from fleet.station.connectors import V201 as V201_STATUS
from fleet.station.device_model import Place, Variable
from fleet.station.security import basic_auth_password

if TYPE_CHECKING:
    from fleet.station.core import Station

Key = tuple[str, str, str | None, Place]
UNAVAILABLE: Final = "Unavailable"


class DeviceModel:
    __slots__ = ("changed", "station")

    def __init__(self, station: Station) -> None:
        self.station = station
        self.changed: dict[Key, str] = {}  # variables without a setting, as the CSMS set them

    @property
    def evses(self) -> int:
        return self.station.scenario.stations.connectors

    def value(self, variable: Variable, place: Place) -> str:
        """The Actual value, as GetVariables and reports show it."""
        if variable.setting is not None:
            return self.station.get_setting(variable.setting) or ""
        if variable.live:
            return self._live(variable, place)
        key = (variable.component, variable.name, variable.instance, place)
        return self.changed.get(key, variable.default)

    def _live(self, variable: Variable, place: Place) -> str:
        station = self.station
        config = station.scenario.stations
        evse = config.evse
        name = variable.name
        if name == "AvailabilityState":
            if place.evse:
                return V201_STATUS[station.connector_state(place.evse)]
            states = {V201_STATUS[station.connector_state(e)] for e in range(1, self.evses + 1)}
            return UNAVAILABLE if states == {UNAVAILABLE} else "Available"
        if name == "Model":
            return config.model
        if name == "VendorName":
            return config.vendor
        if name == "SupplyPhases":
            return str(evse.phases) if evse.current == "AC" else "0"
        if name == "Power":
            return f"{evse.max_kw() * 1000:g}"
        if name == "ConnectorType":
            return "cType2" if evse.current == "AC" else "cCCS2"
        if name == "DateTime":
            return station.timestamp()
        if name == "MessageTimeout":
            return f"{station.scenario.csms.call_timeout_s:g}"
        if variable.component == "LocalAuthListCtrlr":  # Entries: tags on the list
            return str(0 if station.local_list is None else len(station.local_list.entries))
        if name == "Entries":  # SmartChargingCtrlr: charging profiles installed
            limits = None if station.charging is None else station.charging.limits
            return "0" if limits is None else str(len(limits.profiles.items))
        if name == "SecurityProfile":
            return str(station.security_profile())
        raise KeyError(name)

    # --- answers ---------------------------------------------------------------------------------

    def get(self, item: dict[str, Any]) -> dict[str, Any]:
        """A GetVariableResult for one GetVariableData."""
        variable, place, failure = dm.find(item["component"], item["variable"], self.evses)
        if failure is None and item.get("attribute_type", "Actual") != "Actual":
            failure = "NotSupportedAttributeType"
        if variable is not None and variable.mutability == dm.WO:
            failure = failure or "Rejected"  # write-only: a password is never read back
        result = _result(item, failure or "Accepted")
        if variable is not None and failure is None:
            result["attribute_value"] = self.value(variable, place)
        return result

    def set(self, item: dict[str, Any]) -> dict[str, Any]:
        """A SetVariableResult for one SetVariableData, the change applied when accepted."""
        variable, place, failure = dm.find(item["component"], item["variable"], self.evses)
        if failure is None and item.get("attribute_type", "Actual") != "Actual":
            failure = "NotSupportedAttributeType"
        if variable is None or failure is not None:
            return _result(item, failure or "UnknownVariable")
        value = item["attribute_value"]
        if variable.setting is not None and variable.mutability != dm.RO:
            status = self.station.change_setting(variable.setting, value, "SetVariables")
            return _result(item, {"NotSupported": "Rejected"}.get(status, status))
        chosen = self.station.status_for("SetVariables")
        if chosen != "Accepted":
            return _result(item, chosen)
        if variable.name == "BasicAuthPassword":
            return _result(item, self.station.set_password(basic_auth_password(value)))
        status, normalised = dm.check_value(variable, value)
        if normalised is not None:
            self.changed[(variable.component, variable.name, variable.instance, place)] = normalised
        return _result(item, status)

    def monitor(self, item: dict[str, Any]) -> dict[str, Any]:
        """A SetMonitoringResult: fleet's variables support no monitoring."""
        _, _, failure = dm.find(item["component"], item["variable"], self.evses)
        result = {
            "status": failure or "UnsupportedMonitorType",
            "type": item["type"],
            "severity": item["severity"],
            "component": item["component"],
            "variable": item["variable"],
        }
        if "id" in item:
            result["id"] = item["id"]
        return result

    def limit(self, name: str, instance: str) -> int:
        """A DeviceDataCtrlr limit (ItemsPerMessage, BytesPerMessage) for one request kind."""
        variable = dm.find({"name": "DeviceDataCtrlr"}, {"name": name, "instance": instance}, 0)[0]
        assert variable is not None, (name, instance)
        return int(self.value(variable, Place()))

    def pages(self, chosen: list[tuple[Variable, Place]]) -> list[list[dict[str, Any]]]:
        """NotifyReport pages of ``chosen``, within the station's ItemsPerMessage and
        BytesPerMessage for reports."""
        items = (dm.report_data(v, p, self.value) for v, p in chosen)
        per_page = self.limit("ItemsPerMessage", "GetReport")
        return dm.pages(items, per_page, self.limit("BytesPerMessage", "GetReport"))


def _result(item: dict[str, Any], status: str) -> dict[str, Any]:
    """A Get/SetVariableResult: the status, with component, variable and attribute type echoed."""
    result: dict[str, Any] = {
        "attribute_status": status,
        "component": item["component"],
        "variable": item["variable"],
    }
    if "attribute_type" in item:
        result["attribute_type"] = item["attribute_type"]
    return result
