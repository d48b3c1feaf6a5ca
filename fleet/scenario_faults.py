"""Scenario section for connector faults: connectors that fail and recover, as a real fleet's
do (a ground fault, an overheated cable, a broken power switch), so the CSMS's fault and alarm
path is under load too. Off by default."""

from __future__ import annotations

from typing import Final

from pydantic import Field, field_validator

from fleet.scenario_charging import Range
from fleet.scenario_fields import FieldProblem, Section, comma_list

# OCPP 1.6 ChargePointErrorCode: every value but NoError (and LocalListConflict, not a fault of
# the hardware).
ERROR_CODES: Final = (
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "OtherError",
    "OverCurrentFailure",
    "OverVoltage",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "WeakSignal",
)


class Faults(Section):
    """Each connector fails at random (a Poisson process, seeded per station and connector with
    ``sessions.seed``) ``per_day`` times a day on average, for a drawn duration, with an error
    code drawn from ``error_codes``."""

    per_day: float = Field(0.0, ge=0)  # mean faults per connector per day; 0: none
    duration_s: Range = Field(default_factory=lambda: Range(min=60, max=900))
    error_codes: tuple[str, ...] = (
        "GroundFailure",
        "HighTemperature",
        "OverCurrentFailure",
        "PowerSwitchFailure",
        "OtherError",
    )

    @field_validator("duration_s")
    @classmethod
    def _lasts(cls, duration: Range) -> Range:
        if duration.min <= 0:
            raise FieldProblem("a fault lasts more than 0 s", at=("min",), got=duration.min)
        return duration

    @field_validator("error_codes", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        value = comma_list(value)
        if not isinstance(value, list | tuple) or not value:
            raise FieldProblem("must be a list of 1.6 ChargePointErrorCode values")
        for index, code in enumerate(value):
            if code not in ERROR_CODES:
                raise FieldProblem(
                    f"must be one of {', '.join(ERROR_CODES)}", at=(index,), got=code
                )
        return tuple(value)
