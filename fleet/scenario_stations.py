"""Scenario section for the stations: how many, their ids (a pattern, or a CSMS's own list in
``ids_file``), their OCPP versions, what they report of themselves."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Final

from pydantic import Field, PrivateAttr, field_validator, model_validator

from fleet.scenario_charging import Evse
from fleet.scenario_fields import FieldProblem, Section, listed_field, optional_path
from fleet.wire import VERSIONS

# OCPP 1.6 CiString20/20/50; 2.0.1 allows 50/20/50. The stricter bound keeps both valid.
_MAX_VENDOR, _MAX_MODEL, _MAX_FIRMWARE = 20, 20, 50
# OCPP-J 2.0.1 §3.1: the identity is at most 48 characters of this set.
_ID_CHARS: Final = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")
_ID_RULE: Final = "ids are 1-48 characters of A-Z a-z 0-9 * - _ = : + | @ . (OCPP-J)"


class Stations(Section):
    count: int = Field(10, gt=0, le=1_000_000)
    id_pattern: str = "CP-{index:05d}"
    ocpp: dict[str, int] = Field(default_factory=lambda: {"1.6": 1})
    vendor: str = Field("fleet", min_length=1, max_length=_MAX_VENDOR)
    model: str = Field("simulated", min_length=1, max_length=_MAX_MODEL)
    firmware: str = Field("0.1.0", min_length=1, max_length=_MAX_FIRMWARE)
    connectors: int = Field(1, ge=1, le=64)
    evse: Evse = Evse()
    # Under Locust, a station whose user stops keeps its state (registers, sessions, queued
    # transaction messages) for when a user brings it back; false: it comes back as new.
    keep_state: bool = True
    # The CSMS's own station ids, one per line (the first column of a CSV), in place of
    # id_pattern: a CSMS that lets in only the stations it knows. count defaults to all of them.
    ids_file: str | None = None
    _ids: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("ocpp", mode="before")
    @classmethod
    def _versions(cls, value: Any) -> dict[str, int]:
        # YAML reads an unquoted 1.6 as a float: accept it rather than make users quote it.
        expected = "must be '1.6', '2.0.1' or a mapping of them to weights"
        if isinstance(value, str | float):
            if str(value) not in VERSIONS:
                raise FieldProblem(expected)
            value = {value: 1}
        if not isinstance(value, Mapping) or not value:
            raise FieldProblem(expected)
        mix: dict[str, int] = {}
        for key, weight in value.items():
            name = str(key)
            if name not in VERSIONS:
                raise FieldProblem("unknown OCPP version; expected '1.6' or '2.0.1'", at=(name,))
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise FieldProblem("must be a non-negative integer weight", at=(name,), got=weight)
            mix[name] = weight
        if sum(mix.values()) <= 0:
            raise ValueError("weights must not all be 0")
        return mix

    @field_validator("id_pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
        if fields != {"index"}:
            raise ValueError("must use exactly the field {index}, e.g. 'CP-{index:05d}'")
        try:
            sample = pattern.format(index=1)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"is not a valid format string ({exc})") from None
        if not _ID_CHARS.match(sample):
            raise ValueError(
                f"gives {sample!r}: ids must be 1-48 characters of A-Z a-z 0-9 * - _ = : + | @ ."
            )
        return pattern

    _file = field_validator("ids_file")(optional_path)

    @model_validator(mode="after")
    def _ids_fit(self) -> Stations:
        if self.ids_file is not None:
            return self._read_ids()
        last = self.id_pattern.format(index=self.count)
        if not _ID_CHARS.match(last):
            raise ValueError(f"id_pattern gives {last!r} for the last station: over 48 characters")
        return self

    def _read_ids(self) -> Stations:
        ids = listed_field(self, "ids_file", {"id_pattern"}, "station id", _ID_CHARS, _ID_RULE)
        if "count" not in self.model_fields_set:
            object.__setattr__(self, "count", len(ids))  # frozen: set once, while validating
        elif self.count > len(ids):
            raise FieldProblem(
                f"{self.count} stations, but ids_file lists {len(ids)} ids", at=("count",)
            )
        self._ids = ids
        return self

    def id_of(self, index: int) -> str:
        """The id of the station with 1-based ``index``; IndexError past an ids_file's end."""
        if self._ids:
            if index > len(self._ids):
                raise IndexError(index)
            return self._ids[index - 1]
        return self.id_pattern.format(index=index)

    @property
    def listed_ids(self) -> int:
        """How many ids the ids_file lists (0: ids come from id_pattern)."""
        return len(self._ids)
