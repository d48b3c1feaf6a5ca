"""The OCPP 2.0.1 device model of a fleet station: components, variables, their characteristics,
and the rules GetVariables, SetVariables, GetBaseReport and GetReport answer by. Pure: the
station supplies values (``Values``); nothing here knows a socket or a clock.

One table is shared by every station; a station keeps only what the CSMS changed. Variables that
mean what a 1.6 configuration key means name that key (``setting``), so a change goes through the
same rules and reaches the same behaviour (heartbeats, sampling, transaction points).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from fleet.scenario_charging import MEASURANDS
from fleet.station import settings
from fleet.station.local_list import SEND_MAX
from fleet.station.smart_charging import MAX_PERIODS, MAX_STACK_LEVEL

STATION, EVSE, CONNECTOR = "station", "evse", "connector"  # how many of a component there are
RO, RW, WO = "ReadOnly", "ReadWrite", "WriteOnly"


@dataclass(slots=True, frozen=True)
class Variable:
    component: str
    name: str
    data_type: str  # integer, decimal, boolean, string, dateTime, OptionList, MemberList, ...
    mutability: str = RW
    setting: str | None = None  # read and written as this configuration key
    default: str = ""  # the value until changed (neither a setting nor live)
    live: bool = False  # the station works it out when asked (states, clock, identity)
    values: tuple[str, ...] = ()  # valuesList of Option/Member/SequenceList
    unit: str | None = None
    instance: str | None = None
    minimum: float | None = None
    reboot: bool = False  # a change is applied at the next reboot

    @property
    def scope(self) -> str:
        return SCOPES.get(self.component, STATION)


def _v(component: str, name: str, data_type: str, **more: Any) -> Variable:
    return Variable(component, name, data_type, **more)


def _ro(component: str, name: str, data_type: str, **more: Any) -> Variable:
    return Variable(component, name, data_type, mutability=RO, **more)


_ENERGY: Final = "Energy.Active.Import.Register"
_STATES: Final = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
_TX_POINTS: Final = ("PowerPathClosed", "EVConnected", "Authorized")
SCOPES: Final = {"EVSE": EVSE, "Connector": CONNECTOR}
# Component names and data types, short so the table reads as one.
_CS, _COMM, _DD = "ChargingStation", "OCPPCommCtrlr", "DeviceDataCtrlr"
_SD, _AD, _TX, _AUTH = "SampledDataCtrlr", "AlignedDataCtrlr", "TxCtrlr", "AuthCtrlr"
_ISO = "ISO15118Ctrlr"
INT, BOOL, TEXT, OPTIONS, MEMBERS = "integer", "boolean", "string", "OptionList", "MemberList"
_TE = "TransactionEvent"

VARIABLES: Final[tuple[Variable, ...]] = (
    _ro(_CS, "AvailabilityState", OPTIONS, live=True, values=_STATES),
    _ro(_CS, "Available", BOOL, default="true"),
    _ro(_CS, "Model", TEXT, live=True),
    _ro(_CS, "VendorName", TEXT, live=True),
    _ro(_CS, "SupplyPhases", INT, live=True),
    _ro(_CS, "Problem", BOOL, default="false"),
    _ro("EVSE", "AvailabilityState", OPTIONS, live=True, values=_STATES),
    _ro("EVSE", "Available", BOOL, default="true"),
    _ro("EVSE", "Power", "decimal", live=True, unit="W"),
    _ro("EVSE", "SupplyPhases", INT, live=True),
    _ro("Connector", "AvailabilityState", OPTIONS, live=True, values=_STATES),
    _ro("Connector", "Available", BOOL, default="true"),
    _ro("Connector", "ConnectorType", TEXT, live=True),
    _ro("ClockCtrlr", "DateTime", "dateTime", live=True),
    _v("ClockCtrlr", "TimeSource", "SequenceList", default="Heartbeat",
       values=("Heartbeat", "NTP", "RealTimeClock")),
    _ro(_DD, "ItemsPerMessage", INT, default="10", instance="GetReport"),
    _ro(_DD, "ItemsPerMessage", INT, default="20", instance="GetVariables"),
    _ro(_DD, "ItemsPerMessage", INT, default="20", instance="SetVariables"),
    _ro(_DD, "BytesPerMessage", INT, default="4000", instance="GetReport"),
    _ro(_DD, "BytesPerMessage", INT, default="8000", instance="GetVariables"),
    _ro(_DD, "BytesPerMessage", INT, default="8000", instance="SetVariables"),
    _v(_COMM, "HeartbeatInterval", INT, setting="HeartbeatInterval", unit="s", minimum=1),
    _v(_COMM, "WebSocketPingInterval", INT, setting="WebSocketPingInterval", unit="s"),
    _v(_COMM, "ResetRetries", INT, setting="ResetRetries"),
    _ro(_COMM, "MessageTimeout", INT, live=True, unit="s", instance="Default"),
    _v(_COMM, "MessageAttempts", INT, setting="TransactionMessageAttempts", instance=_TE),
    _v(_COMM, "MessageAttemptInterval", INT, setting="TransactionMessageRetryInterval",
       unit="s", instance=_TE),
    _v(_COMM, "NetworkConfigurationPriority", "SequenceList", values=("0", "1", "2", "3"),
       setting=settings.NETWORK_PRIORITY, reboot=True),
    _v(_COMM, "NetworkProfileConnectionAttempts", INT, setting=settings.NETWORK_ATTEMPTS),
    _v(_COMM, "RetryBackOffWaitMinimum", INT, setting="RetryBackOffWaitMinimum", unit="s"),
    _v(_COMM, "RetryBackOffRandomRange", INT, setting="RetryBackOffRandomRange", unit="s"),
    _v(_COMM, "RetryBackOffRepeatTimes", INT, setting="RetryBackOffRepeatTimes"),
    _v(_COMM, "OfflineThreshold", INT, setting="OfflineThreshold", unit="s"),
    _ro(_COMM, "FileTransferProtocols", MEMBERS, default="HTTPS", values=("HTTPS",)),
    _v(_COMM, "UnlockOnEVSideDisconnect", BOOL, setting="UnlockConnectorOnEVSideDisconnect"),
    _v(_SD, "Enabled", BOOL, setting="SampledDataEnabled"),
    _v(_SD, "TxUpdatedInterval", INT, setting="MeterValueSampleInterval", unit="s"),
    _v(_SD, "TxUpdatedMeasurands", MEMBERS, setting="MeterValuesSampledData", values=MEASURANDS),
    _v(_SD, "TxStartedMeasurands", MEMBERS, setting="TxStartedMeasurands", values=MEASURANDS),
    _v(_SD, "TxEndedMeasurands", MEMBERS, setting="StopTxnSampledData", values=MEASURANDS),
    _v(_SD, "TxEndedInterval", INT, setting="TxEndedInterval", unit="s"),
    _v(_AD, "Enabled", BOOL, setting="AlignedDataEnabled"),
    _v(_AD, "Interval", INT, setting="ClockAlignedDataInterval", unit="s"),
    _v(_AD, "Measurands", MEMBERS, setting="MeterValuesAlignedData", values=MEASURANDS),
    _v(_AD, "TxEndedMeasurands", MEMBERS, setting="StopTxnAlignedData", values=MEASURANDS),
    _v(_AD, "TxEndedInterval", INT, setting="AlignedTxEndedInterval", unit="s"),
    _v(_TX, "EVConnectionTimeOut", INT, setting="ConnectionTimeOut", unit="s"),
    _v(_TX, "StopTxOnEVSideDisconnect", BOOL, setting="StopTransactionOnEVSideDisconnect"),
    _v(_TX, "StopTxOnInvalidId", BOOL, setting="StopTransactionOnInvalidId"),
    _v(_TX, "MaxEnergyOnInvalidId", INT, setting="MaxEnergyOnInvalidId", unit="Wh"),
    _v(_TX, "TxBeforeAcceptedEnabled", BOOL, default="false"),
    _v(_TX, "TxStartPoint", MEMBERS, setting="TxStartPoint", values=_TX_POINTS),
    _v(_TX, "TxStopPoint", MEMBERS, setting="TxStopPoint", values=_TX_POINTS),
    _v(_AUTH, "Enabled", BOOL, setting="AuthEnabled"),
    _v(_AUTH, "AuthorizeRemoteStart", BOOL, setting="AuthorizeRemoteTxRequests"),
    _v(_AUTH, "LocalAuthorizeOffline", BOOL, setting="LocalAuthorizeOffline"),
    _v(_AUTH, "LocalPreAuthorize", BOOL, setting="LocalPreAuthorize"),
    _v(_AUTH, "OfflineTxForUnknownIdEnabled", BOOL, setting="AllowOfflineTxForUnknownId"),
    _v(_ISO, "PnCEnabled", BOOL, setting="ISO15118PnCEnabled"),
    _v(_ISO, "CentralContractValidationAllowed", BOOL, setting="CentralContractValidationAllowed"),
    _v(_ISO, "ContractValidationOffline", BOOL, setting="ContractValidationOffline"),
    _v("LocalAuthListCtrlr", "Enabled", BOOL, setting="LocalAuthListEnabled"),
    _ro("LocalAuthListCtrlr", "Entries", INT, live=True),
    _ro("LocalAuthListCtrlr", "ItemsPerMessage", INT, default=str(SEND_MAX)),
    _ro("SmartChargingCtrlr", "Enabled", BOOL, default="true"),
    _ro("SmartChargingCtrlr", "ProfileStackLevel", INT, default=str(MAX_STACK_LEVEL)),
    _ro("SmartChargingCtrlr", "PeriodsPerSchedule", INT, default=str(MAX_PERIODS)),
    _ro("SmartChargingCtrlr", "Entries", INT, live=True, instance="ChargingProfiles"),
    _ro("SmartChargingCtrlr", "RateUnit", MEMBERS, default="A,W", values=("A", "W")),
    _v("SmartChargingCtrlr", "LimitChangeSignificance", "decimal", default="1.0"),
    _v("SecurityCtrlr", "OrganizationName", TEXT, setting="CpoName"),
    _ro("SecurityCtrlr", "CertificateEntries", INT, default="0"),
    _ro("SecurityCtrlr", "SecurityProfile", INT, live=True),
    # The Basic-auth password (A01): set by the CSMS, used from the next connect, never read.
    _v("SecurityCtrlr", "BasicAuthPassword", TEXT, mutability=WO),
)  # fmt: skip

_BY_KEY: Final = {(v.component, v.name, v.instance): v for v in VARIABLES}
COMPONENTS: Final = frozenset(v.component for v in VARIABLES)
REPORT_BASES: Final = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
CRITERIA: Final = ("Active", "Available", "Enabled", "Problem")


@dataclass(slots=True, frozen=True)
class Place:
    """Where a component instance sits: EVSE ``evse`` (0: the station), its ``connector``."""

    evse: int = 0
    connector: int = 0

    def component(self, name: str) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": name}
        if self.evse:
            shown["evse"] = {"id": self.evse}
            if self.connector:
                shown["evse"]["connectorId"] = self.connector
        return shown


Values = Callable[[Variable, Place], str]  # the station's current value of a variable


# --- GetVariables / SetVariables -----------------------------------------------------------------


def find(
    component: dict[str, Any], variable: dict[str, Any], evses: int
) -> tuple[Variable | None, Place, str | None]:
    """The variable an item names, where, or the failure status (UnknownComponent,
    UnknownVariable). ``component``/``variable`` as the ``ocpp`` library hands them over."""
    name = component.get("name")
    if name not in COMPONENTS:
        return None, Place(), "UnknownComponent"
    evse = component.get("evse") or {}
    place = Place(evse.get("id", 0), evse.get("connector_id", 0))
    scope = SCOPES.get(name, STATION)
    if scope == STATION and place.evse:
        return None, place, "UnknownComponent"
    if scope != STATION:
        if not 1 <= place.evse <= evses:
            return None, place, "UnknownComponent"
        if scope == CONNECTOR:
            place = Place(place.evse, place.connector or 1)
            if place.connector != 1:
                return None, place, "UnknownComponent"
        elif place.connector:
            return None, place, "UnknownComponent"
    found = _BY_KEY.get((str(name), str(variable.get("name")), variable.get("instance")))
    if found is None:
        return None, place, "UnknownVariable"
    return found, place, None


def check_value(variable: Variable, value: str) -> tuple[str, str | None]:
    """(attribute status, normalised value) for SetVariables; a value only when it is stored."""
    if variable.mutability == RO:
        return "Rejected", None
    if variable.setting is not None:
        result, normalised = settings.check_change(variable.setting, value)
        status = {"NotSupported": "Rejected"}.get(result, result)
        return status, normalised
    normalised = _typed(variable, value)
    if normalised is None:
        return "Rejected", None
    return ("RebootRequired" if variable.reboot else "Accepted"), normalised


def _typed(variable: Variable, value: str) -> str | None:
    text = value.strip()
    kind = variable.data_type
    if kind == "integer":
        try:
            number = int(text)
        except ValueError:
            return None
        minimum = variable.minimum
        return str(number) if minimum is None or number >= minimum else None
    if kind == "decimal":
        try:
            return str(float(text))
        except ValueError:
            return None
    if kind == "boolean":
        return text.lower() if text.lower() in ("true", "false") else None
    if kind in ("OptionList", "MemberList", "SequenceList"):
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items or any(item not in variable.values for item in items):
            return None
        if kind == "OptionList" and len(items) != 1:
            return None
        return ",".join(items)
    return text if len(text) <= 1000 else None


# --- reports -------------------------------------------------------------------------------------


def instances(evses: int) -> Iterator[tuple[Variable, Place]]:
    """Every variable of a station with ``evses`` EVSEs (one connector each), where it sits."""
    for variable in VARIABLES:
        if variable.scope == STATION:
            yield variable, Place()
        else:
            for evse in range(1, evses + 1):
                yield variable, Place(evse, 1 if variable.scope == CONNECTOR else 0)


def base_report(base: str, evses: int) -> list[tuple[Variable, Place]]:
    """What GetBaseReport reports: every variable (FullInventory), the writable ones
    (ConfigurationInventory), or the components' availability (SummaryInventory)."""
    every = instances(evses)
    if base == "ConfigurationInventory":
        return [(v, p) for v, p in every if v.mutability != RO]
    if base == "SummaryInventory":
        return [(v, p) for v, p in every if v.name in ("AvailabilityState", "Available", "Problem")]
    return list(every)


def report(
    wanted: Sequence[dict[str, Any]] | None,
    criteria: Sequence[str] | None,
    evses: int,
    value: Values,
) -> list[tuple[Variable, Place]]:
    """What GetReport reports: the variables ``wanted`` names (a component, optionally one of
    its variables) of components meeting any of ``criteria`` (a variable of that name reads
    "true"); either left out means all."""
    chosen = list(instances(evses))
    if criteria:
        meeting = {
            (v.component, p) for v, p in chosen if v.name in criteria and value(v, p) == "true"
        }
        chosen = [(v, p) for v, p in chosen if (v.component, p) in meeting]
    if wanted:
        chosen = [(v, p) for v, p in chosen if any(_named(v, p, w) for w in wanted)]
    return chosen


def _named(variable: Variable, place: Place, wanted: dict[str, Any]) -> bool:
    component = wanted.get("component", {})
    if component.get("name") != variable.component:
        return False
    if component.get("instance") is not None:
        return False  # fleet's components have no instances
    evse = component.get("evse")
    if evse is not None:
        if evse.get("id") != place.evse:
            return False
        if evse.get("connector_id") is not None and evse["connector_id"] != place.connector:
            return False
    named = wanted.get("variable")
    if named is None:
        return True
    return named.get("name") == variable.name and named.get("instance") in (
        None,
        variable.instance,
    )


def report_data(variable: Variable, place: Place, value: Values) -> dict[str, Any]:
    """One ReportData entry (camelCase, as it goes on the wire)."""
    shown_variable: dict[str, Any] = {"name": variable.name}
    if variable.instance is not None:
        shown_variable["instance"] = variable.instance
    attribute: dict[str, Any] = {"type": "Actual"}
    if variable.mutability != WO:
        attribute["value"] = value(variable, place)[:2500]
    attribute |= {
        "mutability": variable.mutability,
        "persistent": not variable.live,
        "constant": variable.mutability == RO and not variable.live,
    }
    characteristics: dict[str, Any] = {
        "dataType": variable.data_type,
        "supportsMonitoring": False,
    }
    if variable.unit is not None:
        characteristics["unit"] = variable.unit
    if variable.values:
        characteristics["valuesList"] = ",".join(variable.values)
    return {
        "component": place.component(variable.component),
        "variable": shown_variable,
        "variableAttribute": [attribute],
        "variableCharacteristics": characteristics,
    }


PAGE_OVERHEAD: Final = 160  # the NotifyReport fields around reportData, in bytes, generously


def pages(items: Iterable[dict[str, Any]], per_page: int, max_bytes: int) -> list[list[Any]]:
    """ReportData split into NotifyReport pages of at most ``per_page`` entries and about
    ``max_bytes`` bytes of payload each (a page always holds at least one entry)."""
    out: list[list[Any]] = []
    page: list[Any] = []
    size = PAGE_OVERHEAD
    for item in items:
        item_size = len(orjson.dumps(item)) + 1
        if page and (len(page) >= per_page or size + item_size > max_bytes):
            out.append(page)
            page, size = [], PAGE_OVERHEAD
        page.append(item)
        size += item_size
    if page:
        out.append(page)
    return out
