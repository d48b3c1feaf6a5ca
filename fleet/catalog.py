"""Which CSMS-initiated calls fleet's stations answer, and which statuses each may answer with.

Scenario validation and the stations both read this table, so a status a scenario accepts is one
the station can send. The allowed statuses come from the response schemas the ``ocpp`` package
ships, not from a list of ours.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from fleet.wire import VERSIONS, load_schema

ANSWERED: Final[dict[str, tuple[str, ...]]] = {
    "1.6": (
        "Reset",
        "ChangeConfiguration",
        "GetConfiguration",
        "TriggerMessage",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
        "DataTransfer",
        "UpdateFirmware",
        "GetDiagnostics",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "SendLocalList",
        "GetLocalListVersion",
        "ReserveNow",
        "CancelReservation",
        "CertificateSigned",
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "SignedUpdateFirmware",
        "GetLog",
    ),
    "2.0.1": (
        "Reset",
        "GetVariables",
        "SetVariables",
        "GetBaseReport",
        "GetReport",
        "TriggerMessage",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
        "DataTransfer",
        "UpdateFirmware",
        "GetLog",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "SendLocalList",
        "GetLocalListVersion",
        "SetVariableMonitoring",
        "ClearVariableMonitoring",
        "GetMonitoringReport",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "GetTransactionStatus",
        "SetNetworkProfile",
        "ReserveNow",
        "CancelReservation",
        "CertificateSigned",
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
    ),
}

# Every CSMS-initiated action of each version (the 1.6 security extension included): what the
# README's table accounts for, answered or NotImplemented by decision.
CSMS_INITIATED: Final[dict[str, tuple[str, ...]]] = {
    "1.6": (
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ChangeConfiguration",
        "ClearCache", "ClearChargingProfile", "DataTransfer", "DeleteCertificate",
        "ExtendedTriggerMessage", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics",
        "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "InstallCertificate",
        "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset",
        "SendLocalList", "SetChargingProfile", "SignedUpdateFirmware", "TriggerMessage",
        "UnlockConnector", "UpdateFirmware",
    ),
    "2.0.1": (
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
        "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
        "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
        "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
        "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
        "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
        "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
        "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase",
        "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "SetVariables",
        "TriggerMessage", "UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
    ),
}  # fmt: skip

# Where the configurable status sits in a response, when not at the top-level "status".
# GetConfiguration/GetVariables report the station's real configuration: nothing to configure.
_STATUS_LOCATION: Final[dict[str, tuple[str, ...] | None]] = {
    "GetConfiguration": None,
    "GetVariables": None,
    "SetVariables": ("setVariableResult", "items", "attributeStatus"),
}


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        resolved: dict[str, Any] = schema["definitions"][ref.rsplit("/", 1)[1]]
        return resolved
    return node


@functools.cache
def statuses(version: str, action: str) -> tuple[str, ...]:
    """Statuses a scenario may choose for ``action`` in ``version`` (empty: not configurable)."""
    if action not in ANSWERED.get(version, ()):
        return ()
    location = _STATUS_LOCATION.get(action, ("status",))
    schema = load_schema(version, action, "response")
    if location is None or schema is None:
        return ()
    node: dict[str, Any] = schema
    for step in location:
        node = _resolve(schema, node)
        found = node.get("items") if step == "items" else node.get("properties", {}).get(step)
        if found is None:  # a response without a status (1.6 UpdateFirmware, GetDiagnostics)
            return ()
        node = found
    return tuple(_resolve(schema, node).get("enum", ()))


def default_status(version: str, action: str) -> str | None:
    """The success status: Accepted where the action has it, else the schema's first value."""
    allowed = statuses(version, action)
    if not allowed:
        return None
    return "Accepted" if "Accepted" in allowed else allowed[0]


def configurable_actions() -> dict[str, dict[str, tuple[str, ...]]]:
    """action -> {version: allowed statuses} for every action a scenario may configure."""
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for version in VERSIONS:
        for action in ANSWERED[version]:
            allowed = statuses(version, action)
            if allowed:
                table.setdefault(action, {})[version] = allowed
    return table
