"""The building blocks of scenario sections: frozen strict models and a validator's complaint."""

from __future__ import annotations

import re
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


def listed(path: Path, what: str, valid: re.Pattern[str], rule: str) -> tuple[str, ...]:
    """The first column of each line of a text or CSV file (``#`` lines and blank ones
    skipped): a CSMS's export of its station ids or its test tags, as it comes. Raises
    FieldProblem naming the line of the first bad or repeated entry, or the unreadable file."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's export may start with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise FieldProblem(f"cannot read it: {exc}", got=str(path)) from None
    entries: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = line.split(",", 1)[0].strip().strip('"')
        if not valid.match(entry):
            raise FieldProblem(f"line {number}: {what} {entry!r}: {rule}", got=str(path))
        if entry in entries:
            raise FieldProblem(
                f"line {number}: {what} {entry!r} again (line {entries[entry]})", got=str(path)
            )
        entries[entry] = number
    if not entries:
        raise FieldProblem(f"lists no {what}", got=str(path))
    return tuple(entries)


def optional_path(value: str | None, info: ValidationInfo) -> str | None:
    """A file field's path, relative to the scenario file's folder (None: not given)."""
    return None if value is None else str(resolved(value, info))


def listed_field(
    model: BaseModel, name: str, replaces: set[str], what: str, valid: re.Pattern[str], rule: str
) -> tuple[str, ...]:
    """The entries of ``model``'s file field ``name`` (``listed``), refused naming that field,
    and refused when the model also sets a field the file replaces."""
    given = model.model_fields_set & replaces
    if given:
        replaced = " and ".join(sorted(given))
        raise FieldProblem(f"replaces {replaced}: give one or the other", at=(name,))
    try:
        return listed(Path(getattr(model, name)), what, valid, rule)
    except FieldProblem as exc:
        raise FieldProblem(str(exc), at=(name,), got=exc.got) from None
