"""OCPP 2.0.1 device-model calls: GetVariables, SetVariables, GetBaseReport and GetReport (with
NotifyReport after the answer), and variable monitoring, answered per spec as not offered.
``StationV201`` (``v201.py``) inherits these ``@on`` handlers; the rules are in
``device_model.py`` and one station's values in ``variables.py``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from fleet.station import device_model as dm
from fleet.station.rare import Rare
from fleet.station.v201_security import SecurityV201
from fleet.station.variables import DeviceModel


class DeviceModelStation(SecurityV201):
    """A 2.0.1 station's device-model answers."""

    __slots__ = ()
    device_model: Rare[DeviceModel | None] = Rare(None)  # made on first use

    def variables(self) -> DeviceModel:
        """The station's device model, made on first use."""
        if self.device_model is None:
            self.device_model = DeviceModel(self)
        return self.device_model

    def _report(self, action: str, request_id: int, chosen: list[Any]) -> str:
        """Answer a report request and send the report after the answer."""
        status = self.status_for(action)
        if status != "Accepted":
            return status
        if not chosen:
            return "EmptyResultSet"
        pages = self.variables().pages(chosen)
        stamp = self.timestamp()
        reports = [
            {
                "requestId": request_id,
                "generatedAt": stamp,
                "seqNo": seq_no,
                "tbc": seq_no < len(pages) - 1,
                "reportData": page,
            }
            for seq_no, page in enumerate(pages)
        ]  # page by page, seqNo from 0, tbc until the last
        self.then(partial(self.send_each, "NotifyReport", reports))
        return status

    @on(Action.get_variables)
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        model = self.variables()
        _within(get_variable_data, model.limit("ItemsPerMessage", "GetVariables"))
        results = [model.get(item) for item in get_variable_data]
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        model = self.variables()
        _within(set_variable_data, model.limit("ItemsPerMessage", "SetVariables"))
        results = [model.set(item) for item in set_variable_data]
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(
        self, request_id: int, report_base: str, **_: Any
    ) -> call_result.GetBaseReport:
        chosen = dm.base_report(report_base, self.scenario.stations.connectors)
        return call_result.GetBaseReport(status=self._report("GetBaseReport", request_id, chosen))

    @on(Action.get_report)
    def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> call_result.GetReport:
        model = self.variables()
        chosen = dm.report(component_variable, component_criteria, model.evses, model.value)
        return call_result.GetReport(status=self._report("GetReport", request_id, chosen))

    # Variable monitoring is not offered (every variable reports supportsMonitoring false):
    # the answers say so per spec, by decision.

    @on(Action.set_variable_monitoring)
    def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariableMonitoring:
        results = [self.variables().monitor(item) for item in set_monitoring_data]
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.clear_variable_monitoring)
    def on_clear_variable_monitoring(
        self, id: list[int], **_: Any
    ) -> call_result.ClearVariableMonitoring:
        results = [{"status": "NotFound", "id": n} for n in id]
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @on(Action.get_monitoring_report)
    def on_get_monitoring_report(self, **_: Any) -> call_result.GetMonitoringReport:
        return call_result.GetMonitoringReport(status="EmptyResultSet")

    @on(Action.set_monitoring_base)
    def on_set_monitoring_base(self, **_: Any) -> call_result.SetMonitoringBase:
        return call_result.SetMonitoringBase(status="NotSupported")

    @on(Action.set_monitoring_level)
    def on_set_monitoring_level(self, **_: Any) -> call_result.SetMonitoringLevel:
        return call_result.SetMonitoringLevel(status="Rejected")


def _within(items: list[Any], limit: int) -> None:
    """B06.FR.14 / B05.FR.13: more items than ItemsPerMessage may be refused with a CallError."""
    if len(items) > limit:
        raise OccurrenceConstraintViolationError(
            description=f"{len(items)} items, ItemsPerMessage is {limit}"
        )
