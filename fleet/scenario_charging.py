"""Scenario sections for charging: the EVSE's electrical side and the session generator.

Validated like every field (one line naming the field); read by the pure station modules
(``station.generator``, ``station.meter``, ``station.sessions``).
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from fleet.scenario_fields import (
    FieldProblem,
    PositiveFloat,
    Section,
    listed_field,
    optional_path,
    resolved,
)

# Measurands a station can report coherently (OCPP 1.6 §7.31 / 2.0.1 MeasurandEnumType).
MEASURANDS: Final = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
)


class Range(Section):
    """Bounds of a drawn quantity (log-uniform between them when both are positive)."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


# sessions.start: drivers plug in, then start from an app (the CSMS's remote start); the cable
# comes first in this and plug_first (2.0.1: TxStartPoint EVConnected by default).
BY_APP: Final = "plug_then_remote"
PLUG_FIRST: Final = ("plug_first", BY_APP)
_TAG: Final = re.compile(r"^[!-~]{1,20}$")  # a listed idTag: fits 1.6's CiString20


def numbered(pattern: str, what: str) -> str:
    """A pattern of ids with the field {n}, whose ids fit 1.6's IdToken (CiString20)."""
    try:
        sample = pattern.format(n=1)
    except (KeyError, IndexError, ValueError):
        raise FieldProblem("must use exactly the field {n}") from None
    if not 1 <= len(sample) <= 20:
        raise FieldProblem(f"gives {sample!r}: {what} are 1-20 characters")
    return pattern


def _range(low: float, high: float) -> Any:
    return Field(default_factory=lambda: Range(min=low, max=high))


class IdTags(Section):
    """The pool drivers' tags come from: ``pattern`` with {n} in 1..size, or the tags a
    ``file`` lists (one per line, the first column of a CSV: the test tags a CSMS already
    knows, as it exports them)."""

    pattern: str = "TAG-{n:05d}"
    size: int = Field(1000, gt=0)
    file: str | None = None  # replaces pattern and size
    unknown_share: float = Field(0.0, ge=0, le=1)  # tags the CSMS should refuse
    _listed: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        return numbered(pattern, "idTags")

    _file = field_validator("file")(optional_path)

    @model_validator(mode="after")
    def _read(self) -> IdTags:
        if self.file is not None:
            rule = "1-20 printable characters without spaces (1.6 idTag)"
            self._listed = listed_field(self, "file", {"pattern", "size"}, "idTag", _TAG, rule)
        return self

    def draw(self, rng: Any) -> str:
        """A driver's tag: one of the file's, or the pattern's with a drawn number."""
        if self._listed:
            return self._listed[rng.randrange(0, len(self._listed))]
        return self.pattern.format(n=rng.randrange(1, self.size + 1))


class PlugAndCharge(Section):
    """ISO 15118 Plug & Charge: a share of drivers whose EV authorises with its contract
    certificate, not a tag (2.0.1 C07 Authorize; 1.6 through DataTransfer, as the OCA's
    "Using ISO 15118 Plug & Charge with OCPP 1.6" describes). The CSMS does what makes these
    dear: an OCSP check or a chain validation per session."""

    share: float = Field(0.0, ge=0, le=1)
    # local: the station validated the chain itself and sends the OCSP request data of each
    # certificate (iso15118CertificateHashData); central: it sends the chain (`certificate`)
    # for the CSMS to validate (2.0.1 CentralContractValidationAllowed).
    validation: Literal["local", "central"] = "local"
    emaid_pattern: str = "DEFLTC{n:09d}"  # contract ids (eMAID), {n} in 1..contracts
    contracts: int = Field(1000, gt=0, le=100_000)  # each one met is kept: ~2 KB per process
    responder_url: str = Field("http://ocsp.fleet.invalid/", min_length=1, max_length=512)
    # A folder with ca.pem and ca.key (as `fleet certs` writes them): the CA that issues the
    # contract certificates, one the CSMS can be made to trust. None: a CA fleet makes per
    # process, which no CSMS trusts (its answers then say so).
    authority: str | None = None
    # 2.0.1: the ISO 15118 EV tells its needs once authorised (NotifyEVChargingNeeds, K15):
    # energy, departure time, its current and power limits; a smart-charging CSMS answers them.
    charging_needs: bool = True
    # The station's own V2G certificate chain (2.0.1 M06; 1.6 in DataTransfer): the OCSP status
    # of each certificate but the root, asked of the CSMS once accepted and then every this
    # many hours (EVerest: 167); after a try that failed, again in certificate_status_retry_h.
    # 0: never asked.
    certificate_status_h: float = Field(167.0, ge=0)
    certificate_status_retry_h: float = Field(24.0, gt=0)
    # The first round: this long after the first acceptance (EVerest's 2.0.1 stack asks at
    # once, its 1.6 one after 60 s): in a boot storm, with the boots or after them.
    certificate_status_after_s: float = Field(0.0, ge=0, le=86_400)

    @field_validator("emaid_pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        return numbered(pattern, "contract ids")  # the idTag of 1.6's StartTransaction

    @field_validator("authority")
    @classmethod
    def _authority(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        from fleet.certs import load_authority  # cryptography: only for scenarios that ask

        folder = resolved(value, info)
        if not folder.is_dir():
            raise FieldProblem("is not a folder", got=str(folder))
        try:
            found = load_authority(folder)
        except (OSError, ValueError) as exc:
            raise FieldProblem(f"holds no usable CA: {exc}", got=str(folder)) from None
        if found is None:
            raise FieldProblem("must hold ca.pem and ca.key", got=str(folder))
        return str(folder)


class Evse(Section):
    """What each connector can deliver. AC: phases * voltage * max current; DC: max power, with
    the EV's taper above 80 % state of charge."""

    current: Literal["AC", "DC"] = "AC"
    phases: Literal[1, 3] = 3
    voltage_v: PositiveFloat = 230.0
    max_current_a: PositiveFloat = 32.0  # AC, per phase
    max_power_kw: PositiveFloat = 50.0  # DC

    def max_kw(self) -> float:
        if self.current == "DC":
            return self.max_power_kw
        return self.phases * self.voltage_v * self.max_current_a / 1000


class Sessions(Section):
    """Charging sessions. With ``arrivals_per_hour`` 0 (the default) stations stay idle."""

    arrivals_per_hour: float = Field(0.0, ge=0, le=3600)  # per connector, Poisson
    profile: tuple[float, ...] = ()  # 24 weights by UTC hour; empty: flat
    # plug_then_remote: drivers plug in and start from an app (the CSMS's remote start; 2.0.1
    # F01 with TxStartPoint EVConnected); without one they leave when they were due to.
    start: Literal["badge_first", "plug_first", "plug_then_remote", "remote_only"] = "badge_first"
    seed: int = 0
    plug_in_min: Range = _range(30, 240)
    battery_kwh: Range = _range(40, 100)
    soc_start: Range = _range(0.1, 0.5)
    soc_target: Range = _range(0.8, 1.0)
    ev_max_kw: Range = _range(7.4, 150)
    id_tags: IdTags = IdTags()
    plug_and_charge: PlugAndCharge = PlugAndCharge()
    meter_interval_s: float = Field(60.0, ge=0)  # MeterValueSampleInterval/TxUpdatedInterval
    clock_aligned_s: float = Field(0.0, ge=0)  # ClockAlignedDataInterval; 0: none
    measurands: tuple[str, ...] = MEASURANDS  # MeterValuesSampledData (periodic readings)
    # What the other readings carry: MeterValuesAlignedData (clock-aligned), StopTxnSampledData
    # (a transaction's last: 1.6 transactionData, 2.0.1 Ended), 2.0.1 TxStartedMeasurands.
    aligned_measurands: tuple[str, ...] = (MEASURANDS[0],)
    end_measurands: tuple[str, ...] = (MEASURANDS[0],)
    begin_measurands: tuple[str, ...] = (MEASURANDS[0],)
    # A transaction's last message carries its readings over the whole transaction, not only
    # the last: 1.6 StopTransaction transactionData every MeterValueSampleInterval (with
    # StopTxnSampledData) and ClockAlignedDataInterval (StopTxnAlignedData); 2.0.1 Ended every
    # SampledDataCtrlr.TxEndedInterval and AlignedDataCtrlr.TxEndedInterval (their defaults:
    # meter_interval_s and clock_aligned_s; 0 without the series). Long sessions make big frames.
    end_series: bool = False
    stop_on_invalid_id: bool = True  # 1.6 StopTransactionOnInvalidId
    # AuthorizeRemoteTxRequests (2.0.1 AuthCtrlr.AuthorizeRemoteStart): a remote start's tag is
    # authorised (Authorize, or the local list) before its transaction starts.
    authorize_remote_starts: bool = False

    @field_validator("profile")
    @classmethod
    def _profile(cls, profile: tuple[float, ...]) -> tuple[float, ...]:
        if profile and (len(profile) != 24 or min(profile) < 0 or not any(profile)):
            raise FieldProblem("must be 24 non-negative weights (one per UTC hour), not all 0")
        return profile

    @field_validator("measurands", "aligned_measurands", "end_measurands", "begin_measurands")
    @classmethod
    def _measurands(cls, measurands: tuple[str, ...]) -> tuple[str, ...]:
        for name in measurands:
            if name not in MEASURANDS:
                raise FieldProblem(f"must be among {', '.join(MEASURANDS)}", got=name)
        return measurands

    @model_validator(mode="after")
    def _socs(self) -> Sessions:
        for name in ("soc_start", "soc_target"):
            if getattr(self, name).max > 1:
                raise FieldProblem("is a fraction of the battery: at most 1", at=(name, "max"))
        return self
