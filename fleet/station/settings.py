"""A station's configuration keys, as OCPP 1.6 names them, and the rules for changing them.
Pure: no station, no loop. 2.0.1 device-model variables that mean the same thing map onto these
keys (``device_model.py``), so both versions change behaviour through one table.

The table holds every key of the 1.6 Core profile (§9.1) with its read-only flag, plus the 2.0.1
transaction points. A station keeps only the keys the CSMS changed; the rest come from here (or,
for transaction keys, from the scenario's sessions section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fleet.certs import ORGANIZATION
from fleet.scenario_charging import MEASURANDS, PLUG_FIRST, Sessions
from fleet.station.local_list import LIST_MAX, SEND_MAX
from fleet.station.network import SLOTS
from fleet.station.smart_charging import MAX_PERIODS, MAX_PROFILES, MAX_STACK_LEVEL


@dataclass(slots=True, frozen=True)
class Setting:
    """One configuration key."""

    default: str
    readonly: bool = False
    kind: str = "int"  # int, bool, list (CSL of choices), str (one of choices, or free), rotation
    minimum: int = 0
    choices: tuple[str, ...] = ()  # list kinds: each item; str kinds: the value (empty: any)
    version: str | None = None  # a setting of one OCPP version only
    reboot: bool = False  # a change is accepted but applied at the next reboot


HEARTBEAT_INTERVAL: Final = "HeartbeatInterval"
WS_PING_INTERVAL: Final = "WebSocketPingInterval"  # default: the scenario's heartbeat.ws_ping_s
# OCPP 1.6 Security Whitepaper keys, kept out of the table: AuthorizationKey is write-only (a
# hex-encoded Basic-auth password, never shown), SecurityProfile shows the profile in use.
AUTHORIZATION_KEY: Final = "AuthorizationKey"
NETWORK_PRIORITY: Final = "NetworkConfigurationPriority"
NETWORK_ATTEMPTS: Final = "NetworkProfileConnectionAttempts"
# The organisation a station's CSR names (1.6 CpoName, 2.0.1 SecurityCtrlr.OrganizationName).
CPO_NAME: Final = "CpoName"
SECURITY_PROFILE: Final = "SecurityProfile"
PNC_ENABLED: Final = "ISO15118PnCEnabled"  # 2.0.1 ISO15118Ctrlr.PnCEnabled
# 2.0.1 TxStartPoint values a station can follow: the transaction starts when the cable is
# plugged in (EVConnected), or once the driver is authorised with the EV plugged in.
TX_START_POINTS: Final = ("PowerPathClosed", "Authorized", "EVConnected")
# The station ends a transaction when the EV leaves or the authorisation ends, whichever is
# first: these TxStopPoint values say exactly that.
TX_STOP_POINTS: Final = ("PowerPathClosed", "EVConnected,Authorized", "Authorized,EVConnected")
# Settings the chargers read: a change reaches them at once.
TX_SETTINGS: Final = frozenset(
    {
        "MeterValueSampleInterval",
        "ClockAlignedDataInterval",
        "MeterValuesSampledData",
        "StopTransactionOnInvalidId",
        "TxStartPoint",
        "LocalPreAuthorize",
        "LocalAuthListEnabled",
        "AllowOfflineTxForUnknownId",
        "LocalAuthorizeOffline",
        "MeterValuesAlignedData",
        "StopTxnSampledData",
        "TxStartedMeasurands",
        "AuthorizeRemoteTxRequests",
        "SampledDataEnabled",
        "AlignedDataEnabled",
        "AuthEnabled",
        "StopTxnAlignedData",
        "TxEndedInterval",
        "AlignedTxEndedInterval",
        "ISO15118PnCEnabled",
        "CentralContractValidationAllowed",
        "ContractValidationOffline",
    }
)
FEATURE_PROFILES: Final = (
    "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging"
)
_BOOL: Final = "bool"
_LIST: Final = "list"
_ENERGY: Final = "Energy.Active.Import.Register"

SETTINGS: Final[dict[str, Setting]] = {
    # 1.6 Core profile, §9.1, in the spec's order.
    "AllowOfflineTxForUnknownId": Setting("false", kind=_BOOL),
    "AuthorizationCacheEnabled": Setting("false", kind=_BOOL),
    "AuthorizeRemoteTxRequests": Setting("false", kind=_BOOL),
    "BlinkRepeat": Setting("0"),
    "ClockAlignedDataInterval": Setting("0"),
    "ConnectionTimeOut": Setting("60"),
    # Wiring of each connector to the grid; read at start-up, so a change needs a reboot.
    "ConnectorPhaseRotation": Setting("0.RST", kind="rotation", reboot=True),
    "ConnectorPhaseRotationMaxLength": Setting("8", readonly=True),
    "GetConfigurationMaxKeys": Setting("60", readonly=True),
    HEARTBEAT_INTERVAL: Setting("0", minimum=1),  # the live value comes from the station
    "LightIntensity": Setting("80"),
    "LocalAuthorizeOffline": Setting("false", kind=_BOOL),
    "LocalPreAuthorize": Setting("false", kind=_BOOL),
    "MaxEnergyOnInvalidId": Setting("0"),
    "MeterValuesAlignedData": Setting(
        "Energy.Active.Import.Register", kind=_LIST, choices=MEASURANDS
    ),
    "MeterValuesAlignedDataMaxLength": Setting("5", readonly=True),
    # Transactions: the defaults shown here are replaced by the scenario's sessions section.
    "MeterValuesSampledData": Setting("", kind=_LIST, choices=MEASURANDS),
    "MeterValuesSampledDataMaxLength": Setting("5", readonly=True),
    "MeterValueSampleInterval": Setting("60"),
    "MinimumStatusDuration": Setting("0"),
    "NumberOfConnectors": Setting("1", readonly=True),  # the live value comes from the station
    "ResetRetries": Setting("3"),
    "StopTransactionOnEVSideDisconnect": Setting("true", kind=_BOOL),
    "StopTransactionOnInvalidId": Setting("true", kind=_BOOL),
    "StopTxnAlignedData": Setting(_ENERGY, kind=_LIST, choices=MEASURANDS),
    "StopTxnAlignedDataMaxLength": Setting("5", readonly=True),
    "StopTxnSampledData": Setting(_ENERGY, kind=_LIST, choices=MEASURANDS),
    "StopTxnSampledDataMaxLength": Setting("5", readonly=True),
    "SupportedFeatureProfiles": Setting(FEATURE_PROFILES, readonly=True, kind="str"),
    "SupportedFeatureProfilesMaxLength": Setting("6", readonly=True),
    "TransactionMessageAttempts": Setting("3", minimum=1),
    "TransactionMessageRetryInterval": Setting("60"),
    "UnlockConnectorOnEVSideDisconnect": Setting("true", kind=_BOOL),
    WS_PING_INTERVAL: Setting("0"),
    CPO_NAME: Setting(ORGANIZATION, kind="str"),  # 1.6 Security Whitepaper
    # Plug & Charge (the OCA's ISO 15118 on 1.6; 2.0.1 ISO15118Ctrlr): the first two from the
    # scenario's plug_and_charge section.
    "ISO15118PnCEnabled": Setting("false", kind=_BOOL),
    "CentralContractValidationAllowed": Setting("false", kind=_BOOL),
    "ContractValidationOffline": Setting("true", kind=_BOOL),
    # 1.6 Local Auth List Management profile, §9.2.
    "LocalAuthListEnabled": Setting("true", kind=_BOOL),
    "LocalAuthListMaxLength": Setting(str(LIST_MAX), readonly=True),
    "SendLocalListMaxLength": Setting(str(SEND_MAX), readonly=True),
    # 1.6 Reservation profile, §9.5: connector 0 (any connector) cannot be reserved.
    "ReserveConnectorZeroSupported": Setting("false", readonly=True, kind=_BOOL),
    # 1.6 Smart Charging profile, §9.4: what the station's profile store can hold.
    "ChargeProfileMaxStackLevel": Setting(str(MAX_STACK_LEVEL), readonly=True),
    "ChargingScheduleAllowedChargingRateUnit": Setting("Current,Power", readonly=True, kind="str"),
    "ChargingScheduleMaxPeriods": Setting(str(MAX_PERIODS), readonly=True),
    "MaxChargingProfilesInstalled": Setting(str(MAX_PROFILES), readonly=True),
    # 2.0.1 only (OCPPCommCtrlr): the spec reconnect back-off; defaults from the scenario.
    "RetryBackOffWaitMinimum": Setting("1", minimum=0, version="2.0.1"),
    "RetryBackOffRandomRange": Setting("10", minimum=0, version="2.0.1"),
    "RetryBackOffRepeatTimes": Setting("5", minimum=0, version="2.0.1"),
    # 2.0.1 only (OCPPCommCtrlr, B04): after a resumed drop this long, every connector is
    # reported again, not only those that changed; default from the scenario.
    "OfflineThreshold": Setting("60", minimum=0, version="2.0.1"),
    # 2.0.1 only (TxCtrlr), kept here so both versions share the transaction rules.
    "TxStartPoint": Setting(
        "PowerPathClosed", kind="str", choices=TX_START_POINTS, version="2.0.1"
    ),
    "TxStopPoint": Setting("PowerPathClosed", kind="str", choices=TX_STOP_POINTS, version="2.0.1"),
    # 2.0.1 only (SampledDataCtrlr): what a transaction's Started event reads.
    "TxStartedMeasurands": Setting(_ENERGY, kind=_LIST, choices=MEASURANDS, version="2.0.1"),
    # 2.0.1 only: how often a transaction's readings are kept for its Ended event
    # (SampledDataCtrlr.TxEndedInterval, AlignedDataCtrlr.TxEndedInterval); 0: none kept.
    "TxEndedInterval": Setting("0", version="2.0.1"),
    "AlignedTxEndedInterval": Setting("0", version="2.0.1"),
    # 2.0.1 only, named as the spec's key names them: SampledDataCtrlr.Enabled (false: no
    # periodic readings), AlignedDataCtrlr.Enabled (false: no clock-aligned ones),
    # AuthCtrlr.Enabled (false: sessions start without authorising the driver).
    "SampledDataEnabled": Setting("true", kind=_BOOL, version="2.0.1"),
    "AlignedDataEnabled": Setting("true", kind=_BOOL, version="2.0.1"),
    "AuthEnabled": Setting("true", kind=_BOOL, version="2.0.1"),
    # 2.0.1 only (OCPPCommCtrlr, B10): the network profile slots in order, used from the next
    # reboot, and how many failed connects move the station on to the next one.
    NETWORK_PRIORITY: Setting("0", kind="slots", reboot=True, version="2.0.1"),
    NETWORK_ATTEMPTS: Setting("3", minimum=1, version="2.0.1"),
}


# Settings whose default is a field of the scenario's offline section.
OFFLINE: Final = {
    "TransactionMessageAttempts": "message_attempts",
    "TransactionMessageRetryInterval": "attempt_interval_s",
    "AllowOfflineTxForUnknownId": "allow_unknown_tags",
}
# The reconnect settings and the scenario's reconnect field each stands for.
RECONNECT: Final = {
    "RetryBackOffWaitMinimum": "min_s",
    "RetryBackOffRandomRange": "random_range_s",
    "RetryBackOffRepeatTimes": "repeat_times",
    "OfflineThreshold": "offline_threshold_s",
}


def tx_defaults(sessions: Sessions) -> dict[str, str]:
    """The transaction settings a scenario's sessions section stands for, as a station shows
    them (GetConfiguration, GetVariables) until the CSMS changes them."""
    return {
        "MeterValueSampleInterval": f"{sessions.meter_interval_s:g}",
        "ClockAlignedDataInterval": f"{sessions.clock_aligned_s:g}",
        "MeterValuesSampledData": ",".join(sessions.measurands),
        "StopTransactionOnInvalidId": "true" if sessions.stop_on_invalid_id else "false",
        "TxStartPoint": "EVConnected" if sessions.start in PLUG_FIRST else "PowerPathClosed",
        "MeterValuesAlignedData": ",".join(sessions.aligned_measurands),
        "StopTxnSampledData": ",".join(sessions.end_measurands),
        "TxStartedMeasurands": ",".join(sessions.begin_measurands),
        "AuthorizeRemoteTxRequests": "true" if sessions.authorize_remote_starts else "false",
        "TxEndedInterval": f"{sessions.meter_interval_s if sessions.end_series else 0:g}",
        "AlignedTxEndedInterval": f"{sessions.clock_aligned_s if sessions.end_series else 0:g}",
        "ISO15118PnCEnabled": "true" if sessions.plug_and_charge.share else "false",
        "CentralContractValidationAllowed": "true" if _central(sessions) else "false",
    }


def _central(sessions: Sessions) -> bool:
    return sessions.plug_and_charge.validation == "central"


class ChangeResult:
    """Outcomes of changing a setting, in 1.6 words (2.0.1 maps them to attribute statuses)."""

    ACCEPTED: Final = "Accepted"
    REJECTED: Final = "Rejected"
    REBOOT_REQUIRED: Final = "RebootRequired"
    NOT_SUPPORTED: Final = "NotSupported"


_ROTATION: Final = re.compile(r"^\d+\.(RST|RTS|SRT|STR|TRS|TSR|NotApplicable|Unknown)$")


def check_change(key: str, value: str) -> tuple[str, str | None]:
    """(result, normalised value) for setting ``key`` to ``value``; a value only when it is
    to be stored (Accepted, or RebootRequired: stored and applied at the next reboot)."""
    setting = SETTINGS.get(key)
    if setting is None:
        return ChangeResult.NOT_SUPPORTED, None
    if setting.readonly:
        return ChangeResult.REJECTED, None
    normalised = _normalised(setting, value)
    if normalised is None:
        return ChangeResult.REJECTED, None
    return (ChangeResult.REBOOT_REQUIRED if setting.reboot else ChangeResult.ACCEPTED), normalised


def _normalised(setting: Setting, value: str) -> str | None:
    """The value as stored, or None when the key cannot take it."""
    text = value.strip()
    if setting.kind == "int":
        try:
            number = int(text)
        except ValueError:
            return None
        return str(number) if number >= setting.minimum else None
    if setting.kind == _BOOL:
        lowered = text.lower()
        return lowered if lowered in ("true", "false") else None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if setting.kind == _LIST:
        ok = items and all(item in setting.choices for item in items)
        return ",".join(items) if ok else None
    if setting.kind == "slots":
        ok = items and all(item.isdigit() and int(item) < SLOTS for item in items)
        return ",".join(items) if ok else None
    if setting.kind == "rotation":
        ok = items and all(_ROTATION.match(item) for item in items)
        return ",".join(items) if ok else None
    if setting.choices and text not in setting.choices:
        return None
    return text
