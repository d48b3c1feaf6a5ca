"""How stations answer the CSMS's calls: responder policies, validated like every field.

``responses`` maps a CSMS-initiated action to a status (today's form: ``Reset: Rejected``) or a
policy: a status mix, an answer delay, a share of CallErrors and a share of calls never answered
(the CSMS's timeout path). ``response_groups`` give some stations other policies: stations picked
by id pattern or a seeded share of the fleet, first matching group wins, per action. Draws are
seeded per station (``seed``), so two runs of a scenario answer alike.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from typing import Any, Final

from pydantic import Field, field_validator, model_validator

from fleet import catalog
from fleet.scenario_fields import FieldProblem, Section, comma_list
from fleet.wire import VERSIONS

# RPC error codes a station may answer with, per version (OCPP-J 1.6 §4.2.3, 2.0.1 §4.3).
ERROR_CODES: Final[dict[str, frozenset[str]]] = {
    "1.6": frozenset(
        {
            "NotImplemented",
            "NotSupported",
            "InternalError",
            "ProtocolError",
            "SecurityError",
            "FormationViolation",
            "PropertyConstraintViolation",
            "OccurenceConstraintViolation",
            "TypeConstraintViolation",
            "GenericError",
        }
    ),
    "2.0.1": frozenset(
        {
            "FormatViolation",
            "GenericError",
            "InternalError",
            "MessageTypeNotSupported",
            "NotImplemented",
            "NotSupported",
            "OccurrenceConstraintViolation",
            "PropertyConstraintViolation",
            "ProtocolError",
            "RpcFrameworkError",
            "SecurityError",
            "TypeConstraintViolation",
        }
    ),
}
MAX_DELAY_S: Final = 3600.0
_Z99: Final = 2.3263478740408408  # the standard normal's 99th percentile


class Delay(Section):
    """How long a station takes to answer: ``fixed`` seconds, uniform between ``min`` and
    ``max``, or lognormal with median ``p50`` and 99th percentile ``p99`` (answer times have a
    long tail). Written as a number (fixed) or as {min, max} or {p50, p99}."""

    fixed: float | None = Field(None, ge=0, le=MAX_DELAY_S)
    min: float | None = Field(None, ge=0, le=MAX_DELAY_S)
    max: float | None = Field(None, ge=0, le=MAX_DELAY_S)
    p50: float | None = Field(None, gt=0, le=MAX_DELAY_S)
    p99: float | None = Field(None, gt=0, le=MAX_DELAY_S)

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"fixed": value}
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Delay:
        given = {
            name
            for name in ("fixed", "min", "max", "p50", "p99")
            if getattr(self, name) is not None
        }
        if given not in ({"fixed"}, {"min", "max"}, {"p50", "p99"}):
            raise ValueError("must be seconds, {min, max} (uniform) or {p50, p99} (lognormal)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.p50 is not None and self.p99 is not None and self.p50 > self.p99:
            raise ValueError("p50 must not exceed p99")
        return self

    @property
    def lognormal(self) -> tuple[float, float] | None:
        """(mu, sigma) of the lognormal form."""
        if self.p50 is None or self.p99 is None:
            return None
        return math.log(self.p50), math.log(self.p99 / self.p50) / _Z99


class Policy(Section):
    """How one action is answered. ``status``: one status or a weighted mix
    (``{Accepted: 95, Rejected: 5}``); the others default to an instant, normal answer."""

    status: str | dict[str, float] | None = None
    delay_s: Delay | None = None
    call_errors: float = Field(0.0, ge=0, le=1)  # share answered with a CallError
    error_code: str = "InternalError"
    unanswered: float = Field(0.0, ge=0, le=1)  # share never answered

    @model_validator(mode="before")
    @classmethod
    def _status_only(cls, value: Any) -> Any:
        return {"status": value} if isinstance(value, str) else value

    @field_validator("status")
    @classmethod
    def _weights(cls, status: Any) -> Any:
        if isinstance(status, dict):
            if not status:
                raise FieldProblem("must name at least one status")
            for name, weight in status.items():
                if weight < 0:
                    raise FieldProblem("weights must not be negative", at=(name,), got=weight)
            if not any(status.values()):
                raise FieldProblem("must give some status a weight above 0")
        return status

    @model_validator(mode="after")
    def _shares(self) -> Policy:
        if self.call_errors + self.unanswered > 1:
            raise ValueError("call_errors + unanswered must not exceed 1")
        return self

    @property
    def statuses(self) -> tuple[str, ...]:
        if self.status is None:
            return ()
        return (self.status,) if isinstance(self.status, str) else tuple(self.status)

    @property
    def instant(self) -> bool:
        """Answered at once with one fixed status: no draw needed."""
        return (
            not isinstance(self.status, dict)
            and self.delay_s is None
            and not self.call_errors
            and not self.unanswered
        )


Responses = dict[str, Policy]


class ResponseGroup(Section):
    """Stations that answer differently: picked by id pattern (``stations``, shell patterns
    such as ``CP-00*``) or as a seeded ``share`` of the fleet, or both (either picks)."""

    name: str
    stations: tuple[str, ...] = ()
    share: float = Field(0.0, ge=0, le=1)
    responses: Responses = Field(default_factory=dict)

    @field_validator("stations", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        value = comma_list(value)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise FieldProblem("must be a list of station id patterns")
        return value

    @model_validator(mode="after")
    def _picks_someone(self) -> ResponseGroup:
        if not self.stations and not self.share:
            raise ValueError("must pick stations: give id patterns (stations) or a share")
        return self

    def picks(self, station_id: str, draw: float) -> bool:
        """Whether the station is in the group; ``draw`` is the station's seeded uniform."""
        if any(fnmatch.fnmatchcase(station_id, p) for p in self.stations):
            return True
        return draw < self.share


def check_responses(responses: Mapping[str, Policy], versions: set[str]) -> None:
    """Refuse, naming the field, an action no station of ``versions`` answers, a status one of
    them cannot send, or an error code one of them does not have."""
    answered = {a for v in versions for a in catalog.ANSWERED[v]}
    for action, policy in responses.items():
        if action not in answered:
            raise FieldProblem(
                f"is not a CSMS-initiated action fleet's stations answer; expected one of "
                f"{', '.join(sorted(answered))}",
                at=(action,),
            )
        for version in sorted(versions):
            if action not in catalog.ANSWERED[version]:
                continue
            allowed = catalog.statuses(version, action)
            if policy.statuses and not allowed:
                raise FieldProblem(
                    f"has no status to choose (OCPP {version}): give delay_s, call_errors or "
                    "unanswered only",
                    at=(action, "status"),
                )
            for status in policy.statuses:
                if status not in allowed:
                    raise FieldProblem(
                        f"must be one of {', '.join(allowed)} (OCPP {version})",
                        at=(action,) if isinstance(policy.status, str) else (action, "status"),
                        got=status,
                    )
            if policy.error_code not in ERROR_CODES[version]:
                raise FieldProblem(
                    f"must be an RPC error code of OCPP {version}: "
                    f"{', '.join(sorted(ERROR_CODES[version]))}",
                    at=(action, "error_code"),
                    got=policy.error_code,
                )


def used_versions(mix: Mapping[str, float] | None) -> set[str]:
    return {v for v, w in mix.items() if w} if mix else set(VERSIONS)
