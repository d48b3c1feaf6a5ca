"""Scenario errors in a user's words: one pydantic error becomes (field path, message).

"stations.count: must be a positive integer, got -5", with "did you mean" for a misspelt field:
the same message whether the value came from the file, a flag or the environment.
"""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Any, Final, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from fleet.scenario_fields import UNSET, FieldProblem


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_BOUND_WORDS: Final = {
    "greater_than": "greater than",
    "greater_than_equal": "of at least",
    "less_than": "less than",
    "less_than_equal": "of at most",
}


def _annotation_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    """The declared type at ``loc`` (a model class for sections), or None where it is unknown.
    A mapping key or list position steps to the declared type of its values."""
    model: Any = root
    for step in loc:
        model = _one_model(model)
        origin = get_origin(model)
        if origin in (dict, list, tuple):
            model = get_args(model)[-1 if origin is dict else 0]  # tuple[X, ...]: X
            continue
        info = getattr(model, "model_fields", {}).get(step)
        if info is None:
            return None
        model = info.annotation
    return _one_model(model)


def _one_model(annotation: Any) -> Any:
    """``X | None`` and ``X | str``-like unions: the one model class among them, if any."""
    if get_origin(annotation) in (Union, UnionType):
        models = [a for a in get_args(annotation) if hasattr(a, "model_fields")]
        if len(models) == 1:
            return models[0]
    return annotation


def _fields_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names the model accepts at the parent of ``loc`` (for 'did you mean')."""
    return list(getattr(_annotation_at(root, loc[:-1]), "model_fields", {}))


def _path(loc: tuple[int | str, ...]) -> str:
    """ "responses.Reset.status", "response_groups[0].name": list positions in brackets."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def describe_error(err: ErrorDetails, root: type[BaseModel]) -> tuple[str, str]:
    """(field path, 'must be ..., got ...') for one pydantic error of model ``root``, in the
    words of the docs."""
    loc = tuple(err["loc"])
    path = _path(loc)
    kind, ctx, got = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return path, f"unknown field{suggestion}; expected one of {', '.join(allowed)}"
    if kind == "missing":
        return path, "is required"
    if kind in _BOUND_WORDS:
        bound = next(iter(ctx.values()))
        noun = "integer" if _annotation_at(root, loc) is int else "number"
        if kind == "greater_than" and bound == 0:
            return path, f"must be a positive {noun}, got {show(got)}"
        article = "an" if noun == "integer" else "a"
        return path, f"must be {article} {noun} {_BOUND_WORDS[kind]} {bound}, got {show(got)}"
    if kind == "literal_error":
        return path, f"must be {ctx.get('expected', '')}, got {show(got)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f"must be an integer, got {show(got)}"
    if kind in ("float_type", "float_parsing"):
        return path, f"must be a number, got {show(got)}"
    if kind in ("string_type",):
        return path, f"must be a string, got {show(got)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return path, f"must be a mapping, got {show(got)}"
    if kind in ("string_too_long", "string_too_short"):
        limit = ctx.get("max_length", ctx.get("min_length"))
        which = "at most" if kind == "string_too_long" else "at least"
        return path, f"must be {which} {limit} characters, got {show(got)}"
    if kind == "value_error":
        problem = ctx.get("error")
        if isinstance(problem, FieldProblem):
            path = _path((*loc, *problem.at))
            if problem.got is UNSET:
                return path, str(problem) if problem.at else f"{problem}, got {show(got)}"
            got = problem.got
        return path, f"{problem or err['msg']}, got {show(got)}"
    return path, f"{err['msg'][0].lower()}{err['msg'][1:]}, got {show(got)}"
