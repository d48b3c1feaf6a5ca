"""What a charging session is made of, for both versions: the messages a charger decides on
(``Send``), the transaction they carry (``Tx``), why it ends, the settings that time its
readings (``TxSettings``), its counts, and the message shapes each OCPP version supplies
(``Shapes``: ``v16_tx.TxShapes``, ``v201_tx.TxShapes``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fleet.scenario_charging import MEASURANDS, PLUG_FIRST, Sessions
from fleet.station.connectors import Status
from fleet.station.intents import Send
from fleet.station.local_list import LocalList
from fleet.station.meter import Reading

if TYPE_CHECKING:
    from fleet.scenario_charging import Evse
    from fleet.station.contracts import Contract
    from fleet.station.generator import Demand


class Shapes(Protocol):
    """Message shapes of one OCPP version (``v16_tx.TxShapes``, ``v201_tx.TxShapes``)."""

    v201: bool

    def status(
        self, connector: int, old: Status, new: Status, now_s: float, error_code: str = "NoError"
    ) -> Send | None: ...
    def authorize(self, tag: str, contract: Contract | None = None, central: bool = False) -> Send:
        """Authorize for a tag, or (``contract``) for a Plug & Charge EV's contract."""

    def start(self, tx: Tx, reading: Reading, now_s: float, begin: Measurands) -> Send: ...
    def update(
        self,
        tx: Tx,
        reading: Reading | None,
        trigger: str,
        now_s: float,
        measurands: Measurands | None = None,
    ) -> Send: ...
    def stop(
        self, tx: Tx, reading: Reading, reason: StopReason, now_s: float, end: Measurands
    ) -> Send: ...
    def mark_offline(self, send: Send) -> None: ...
    def charging_needs(
        self, connector: int, demand: Demand, evse: Evse, departure_s: float
    ) -> Send | None: ...
    def fault_event(
        self, connector: int, error_code: str, event_id: int, now_s: float, cleared: bool
    ) -> Send | None: ...
    def meter_values(
        self,
        connector: int,
        tx: Tx | None,
        reading: Reading,
        measurands: Measurands,
        now_s: float,
        context: str,
    ) -> Send: ...


Measurands = tuple[str, ...]

# Why a transaction ended: (1.6 Reason, 2.0.1 triggerReason, 2.0.1 stoppedReason).
StopReason = tuple[str, str, str]
EV_LEFT = ("EVDisconnected", "EVDeparted", "EVDisconnected")
REMOTE = ("Remote", "RemoteStop", "Remote")
LOCAL = ("Local", "StopAuthorized", "Local")
DEAUTHORIZED = ("DeAuthorized", "Deauthorized", "DeAuthorized")
RESET = ("SoftReset", "ResetCommand", "ImmediateReset")
HARD_RESET = ("HardReset", "ResetCommand", "ImmediateReset")
UNLOCKED = ("UnlockCommand", "UnlockCommand", "Other")
FIRMWARE_REBOOT = ("Reboot", "AbnormalCondition", "Reboot")
LOCAL_REBOOT = FIRMWARE_REBOOT  # rebooted at the station: the spec's reasons are the same
# A connector fault (scenario ``faults``): 1.6 has no fault reason; 2.0.1 names some faults.
_FAULT_STOPPED = {
    "GroundFailure": "GroundFault",
    "OverCurrentFailure": "OvercurrentFault",
    "OverVoltage": "PowerQuality",
    "UnderVoltage": "PowerQuality",
}


def fault_reason(error_code: str) -> StopReason:
    """Why a transaction a fault ended stopped: 1.6 Other; 2.0.1 AbnormalCondition, with the
    stoppedReason the fault has (GroundFault, OvercurrentFault, PowerQuality; else Other)."""
    return ("Other", "AbnormalCondition", _FAULT_STOPPED.get(error_code, "Other"))


@dataclass(slots=True)
class Tx:
    """One transaction: what every message of it carries."""

    connector: int
    tag: str
    measurands: tuple[str, ...]
    contract: bool = False  # ``tag`` is a Plug & Charge contract id (2.0.1 idToken type eMAID)
    tx_id: str | int | None = None  # 1.6: the CSMS's; 2.0.1: the station's
    seq_no: int = 0  # 2.0.1: the next message's
    remote_start_id: int | None = None
    reservation_id: int | None = None  # the reservation its driver held
    trigger: str = "Authorized"  # 2.0.1: why it started
    charging_state: str = "Charging"
    meter_start_wh: float = 0.0
    started: bool = False  # 2.0.1: Started sent
    started_s: float = 0.0  # when it started (the station's wall clock): Relative profiles
    lost: bool = False  # 1.6: its StartTransaction was given up, so nothing of it can be sent
    # Readings kept for its last message (``TxSettings.keeps_series``): (wall time, reading,
    # context, measurands shown), in the order taken.
    series: list[tuple[float, Reading, str, Measurands]] | None = None

    def next_seq(self) -> int:
        seq, self.seq_no = self.seq_no, self.seq_no + 1
        return seq


@dataclass(slots=True)
class TxSettings:
    """What a station's configuration says about its transactions: the scenario's sessions
    section until the CSMS changes a key (ChangeConfiguration, SetVariables). One per station,
    shared by its chargers, so a change reaches them all at once."""

    meter_interval_s: float  # MeterValueSampleInterval / SampledDataCtrlr.TxUpdatedInterval
    clock_aligned_s: float  # ClockAlignedDataInterval / AlignedDataCtrlr.Interval; 0: none
    measurands: tuple[str, ...]  # MeterValuesSampledData / SampledDataCtrlr.TxUpdatedMeasurands
    stop_on_invalid_id: bool  # StopTransactionOnInvalidId / TxCtrlr.StopTxOnInvalidId
    start_on_plug: bool  # 2.0.1 TxStartPoint EVConnected: Started when the cable is plugged in
    pre_authorize: bool = False  # LocalPreAuthorize: a tag on the local list needs no Authorize
    local: LocalList | None = None  # the local authorisation list, when enabled
    # Offline (1.6 §3.4): AllowOfflineTxForUnknownId and LocalAuthorizeOffline.
    offline_unknown: bool = False
    offline_local: bool = False
    # What the other readings carry: clock-aligned ones (MeterValuesAlignedData /
    # AlignedDataCtrlr.Measurands), a transaction's last (StopTxnSampledData /
    # SampledDataCtrlr.TxEndedMeasurands) and, in 2.0.1, its first (TxStartedMeasurands).
    authorize_remote: bool = False  # AuthorizeRemoteTxRequests / AuthCtrlr.AuthorizeRemoteStart
    authorize: bool = True  # 2.0.1 AuthCtrlr.Enabled: false, drivers are not authorised
    aligned: tuple[str, ...] = (MEASURANDS[0],)  # the energy register, as the keys' defaults
    end: tuple[str, ...] = (MEASURANDS[0],)
    begin: tuple[str, ...] = (MEASURANDS[0],)
    # The readings a transaction's last message carries besides its end (sessions.end_series):
    # sampled every ``ended_s`` (StopTxnSampledData), clock-aligned every ``ended_aligned_s``
    # (StopTxnAlignedData / AlignedDataCtrlr.TxEndedMeasurands); 0: none.
    ended_s: float = 0.0
    ended_aligned_s: float = 0.0
    end_aligned: tuple[str, ...] = (MEASURANDS[0],)
    # Plug & Charge: ISO15118PnCEnabled (ISO15118Ctrlr.PnCEnabled), CentralContractValidation-
    # Allowed, ContractValidationOffline.
    pnc: bool = False
    pnc_central: bool = False
    pnc_offline: bool = True

    @property
    def keeps_series(self) -> bool:
        return bool(self.ended_s or self.ended_aligned_s)

    @classmethod
    def of(
        cls,
        config: Sessions,
        settings: Mapping[str, str] | None = None,
        local: LocalList | None = None,
        allow_unknown: bool = False,
        v201: bool = False,
    ) -> TxSettings:
        """The scenario's values (``allow_unknown``: its offline.allow_unknown_tags), with the
        station's changed keys (as stored) over them. ``v201``: the series a transaction keeps
        has its own intervals (TxEndedInterval); 1.6 keeps it at the readings' own."""
        changed = settings or {}  # values as check_change stored them ("true", "a,b", "60")

        def number(key: str, default: float) -> float:
            return float(changed[key]) if key in changed else default

        def flag(key: str, default: bool) -> bool:
            return changed[key] == "true" if key in changed else default

        def members(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(changed[key].split(",")) if key in changed else default

        start, pnc = changed.get("TxStartPoint"), config.plug_and_charge
        # 2.0.1's Enabled flags: a disabled kind of reading has no interval
        sampled, aligned = flag("SampledDataEnabled", True), flag("AlignedDataEnabled", True)
        sample_s = number("MeterValueSampleInterval", config.meter_interval_s) if sampled else 0.0
        clock_s = number("ClockAlignedDataInterval", config.clock_aligned_s) if aligned else 0.0
        series = config.end_series
        if v201:
            ended_s = number("TxEndedInterval", config.meter_interval_s if series else 0.0)
            ended_aligned_s = number(
                "AlignedTxEndedInterval", config.clock_aligned_s if series else 0.0
            )
        else:
            ended_s, ended_aligned_s = (sample_s, clock_s) if series else (0.0, 0.0)
        return cls(
            sample_s,
            clock_s,
            members("MeterValuesSampledData", config.measurands),
            flag("StopTransactionOnInvalidId", config.stop_on_invalid_id),
            start == "EVConnected" if start is not None else config.start in PLUG_FIRST,
            flag("LocalPreAuthorize", False),
            local,
            flag("AllowOfflineTxForUnknownId", allow_unknown),
            flag("LocalAuthorizeOffline", False),
            flag("AuthorizeRemoteTxRequests", config.authorize_remote_starts),
            flag("AuthEnabled", True),
            members("MeterValuesAlignedData", config.aligned_measurands),
            members("StopTxnSampledData", config.end_measurands),
            members("TxStartedMeasurands", config.begin_measurands),
            ended_s,
            ended_aligned_s,
            members("StopTxnAlignedData", (MEASURANDS[0],)),
            flag("ISO15118PnCEnabled", bool(pnc.share)),
            flag("CentralContractValidationAllowed", pnc.validation == "central"),
            flag("ContractValidationOffline", True),
        )

    def listed(self, tag: str) -> str | None:
        """The tag's status on the local list when the station pre-authorises from it (1.6
        §3.5 LocalPreAuthorize, 2.0.1 C13), else None: ask the CSMS."""
        if not self.pre_authorize or self.local is None:
            return None
        return self.local.status(tag)

    def offline_verdict(self, tag: str) -> str:
        """Whether a tag may charge while the station cannot ask the CSMS: its local list entry
        (with LocalAuthorizeOffline), else Accepted only with AllowOfflineTxForUnknownId."""
        if self.offline_local and self.local is not None:
            status = self.local.status(tag)
            if status is not None:
                return status
        return "Accepted" if self.offline_unknown else "Invalid"


@dataclass(slots=True)
class Counts:
    started: int = 0
    completed: int = 0
    energy_wh: float = 0.0
    faults: int = 0  # connector faults (scenario ``faults``)


def accepts(answer: dict[str, Any] | None) -> bool:
    """An Authorize/StartTransaction answer accepting the tag (1.6 idTagInfo, 2.0.1 idTokenInfo)
    and, for a contract, its certificates (2.0.1 C07: no charging on a certificateStatus other
    than Accepted)."""
    if answer is None:
        return False
    info = answer.get("idTagInfo") or answer.get("idTokenInfo") or {}
    if info.get("status") != "Accepted":
        return False
    return answer.get("certificateStatus") in (None, "Accepted")
