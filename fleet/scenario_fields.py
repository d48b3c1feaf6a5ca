"""The building blocks of scenario sections: frozen strict models and a validator's complaint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

PositiveFloat = Annotated[float, Field(gt=0)]
UNSET: Final = object()


class FieldProblem(ValueError):
    """A validator's complaint about a part of its field: ``at`` extends the field path (a mapping
    key), ``got`` replaces the reported input (the offending value rather than the whole field)."""

    def __init__(self, message: str, *, at: tuple[str | int, ...] = (), got: Any = UNSET) -> None:
        super().__init__(message)
        self.at = at
        self.got = got


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def comma_list(value: Any) -> Any:
    """A list option given as one string (a command-line flag, an environment variable):
    "a, b" -> ["a", "b"]. Anything else is left for the field's own check."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def resolved(path: str, info: ValidationInfo) -> Path:
    """``path`` as given, relative to the scenario file's folder when not absolute."""
    base = (info.context or {}).get("base")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and base is not None:
        candidate = Path(base) / candidate
    return candidate
