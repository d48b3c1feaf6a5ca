"""OCPP-J framing and schema checks: the hot path every frame goes through.

Frames are encoded and decoded with orjson and sent as UTF-8 text frames without a round trip
through ``str``. Payloads are checked against the JSON schemas the ``ocpp`` package ships, compiled
once per (version, action, direction) with fastjsonschema and shared by every station in the
process: the ``ocpp`` library instead interprets the schema with jsonschema for every message
(optionally in a thread pool), which costs more than the rest of a round trip together.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import fastjsonschema
import ocpp
import orjson

from fleet import fastcheck

Version = Literal["1.6", "2.0.1"]
VERSIONS: Final[tuple[Version, ...]] = ("1.6", "2.0.1")
SUBPROTOCOLS: Final[dict[str, str]] = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4

Direction = Literal["request", "response"]

_SCHEMA_DIRS: Final = {"1.6": "v16", "2.0.1": "v201"}


class FrameError(Exception):
    """A frame is not valid OCPP-J RPC. ``code`` is the CallError code to answer with, if any."""

    def __init__(self, code: str, description: str, unique_id: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


@dataclass(slots=True, frozen=True)
class Frame:
    """A decoded OCPP-J message: a CALL has ``action``, a CALLERROR ``error_code``."""

    message_type: int
    unique_id: str
    action: str | None
    payload: Any
    error_code: str | None = None
    description: str | None = None


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALLRESULT, unique_id, payload])


def encode_error(
    unique_id: str, code: str, description: str = "", details: dict[str, Any] | None = None
) -> bytes:
    return orjson.dumps([CALLERROR, unique_id, code, description, details or {}])


def decode(raw: bytes | str, rpc_error_code: str) -> Frame:
    """Decode one frame; raise FrameError (with the unique id when one could be read).

    ``rpc_error_code`` is the version's code for a broken RPC frame (1.6 has no dedicated code
    and uses ProtocolError; 2.0.1 has RpcFrameworkError).
    """
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(rpc_error_code, f"frame is not JSON: {exc}") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise FrameError(rpc_error_code, "frame is not a JSON array of at least 3 elements")
    mtype, uid = msg[0], msg[1]
    if not isinstance(uid, str) or not uid or len(uid) > 36:
        raise FrameError(rpc_error_code, f"invalid unique id {uid!r}")
    if mtype == CALL:
        if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            raise FrameError(rpc_error_code, "CALL must be [2, id, action, {payload}]", uid)
        return Frame(CALL, uid, msg[2], msg[3])
    if mtype == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameError(rpc_error_code, "CALLRESULT must be [3, id, {payload}]", uid)
        return Frame(CALLRESULT, uid, None, msg[2])
    if mtype == CALLERROR:
        if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str):
            raise FrameError(
                rpc_error_code, "CALLERROR must be [4, id, code, text, {details}]", uid
            )
        return Frame(CALLERROR, uid, None, msg[4], error_code=msg[2], description=msg[3])
    raise FrameError("MessageTypeNotSupported", f"unknown message type {mtype!r}", uid)


def schema_path(version: str, action: str, direction: Direction) -> str:
    base = os.path.join(os.path.dirname(ocpp.__file__), _SCHEMA_DIRS[version], "schemas")
    if direction == "response":
        name = f"{action}Response.json"
    else:
        name = f"{action}Request.json" if version != "1.6" else f"{action}.json"
    return os.path.join(base, name)


@functools.cache
def load_schema(version: str, action: str, direction: Direction) -> dict[str, Any] | None:
    """The ocpp package's JSON schema for one message, or None when the action has none."""
    try:
        with open(schema_path(version, action, direction), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    if raw.startswith(b"\xef\xbb\xbf"):  # some 2.0.1 schemas start with a UTF-8 BOM
        raw = raw[3:]
    schema: dict[str, Any] = orjson.loads(raw)
    return schema


@functools.cache
def _compiled(version: str, action: str, direction: Direction) -> Callable[[Any], Any] | None:
    schema = load_schema(version, action, direction)
    if schema is None:
        return None
    schema = dict(schema)
    # The schema's "$id"/"id" would make fastjsonschema try to resolve refs remotely.
    schema.pop("$id", None)
    schema.pop("id", None)
    # use_default=False: a check must not change what it checks (fastjsonschema would write the
    # schema's defaults, e.g. a unitOfMeasure's multiplier, into the payload it validates).
    return fastjsonschema.compile(schema, use_default=False)  # type: ignore[no-any-return]


# fastjsonschema rule -> (1.6 code, 2.0.1 code), mirroring the ocpp library's mapping.
_RULE_CODES: Final[dict[str, tuple[str, str]]] = {
    "type": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "maxLength": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "required": ("ProtocolError", "OccurrenceConstraintViolation"),
    "additionalProperties": ("FormationViolation", "FormatViolation"),
    "enum": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
}


class SchemaViolation(Exception):
    """A payload does not match its JSON schema. ``code`` is the CallError code for it;
    ``field`` (a JSON path in the payload, list indexes as "[]"), ``rule`` and ``wanted`` say
    where and what, for the conformance report."""

    def __init__(
        self, code: str, description: str, field: str = "", rule: str = "", wanted: str = ""
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.field = field
        self.rule = rule
        self.wanted = wanted


def _field(name: str | None) -> str:
    """fastjsonschema's "data.items[0].x" as "items[].x" ("" for the payload itself)."""
    path = re.sub(r"\[\d+\]", "[]", name or "data")
    return "" if path == "data" else path.removeprefix("data.")


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _describe(exc: fastjsonschema.JsonSchemaValueException) -> tuple[str, str, str]:
    """(field, rule, wanted) for the first rule a payload broke."""
    rule = exc.rule or "schema"
    field = _field(exc.name)
    definition = exc.rule_definition
    value = exc.value
    if rule == "required" and isinstance(value, dict) and isinstance(definition, list):
        missing = [key for key in definition if key not in value]
        return _join(field, str(missing[0]) if missing else "?"), rule, "present"
    if rule == "additionalProperties" and isinstance(value, dict):
        known = set((exc.definition or {}).get("properties", {}))
        extra = sorted(str(key) for key in value if key not in known)
        return _join(field, extra[0] if extra else "?"), rule, "no such field"
    if rule == "enum" and isinstance(definition, list):
        return field, rule, "one of " + ", ".join(str(v) for v in definition)
    if rule in ("type", "format"):
        kinds = definition if isinstance(definition, list) else [definition]
        return field, rule, " or ".join(str(k) for k in kinds)
    return field, rule, f"{rule} {definition}"


Check = Callable[[Any], None]


def _no_check(payload: Any) -> None:
    pass


@functools.cache
def checker(version: str, action: str, direction: Direction) -> Check:
    """A function raising SchemaViolation if a payload breaks the action's schema (a no-op for
    actions without one). Made once per (version, action, direction), shared process-wide.

    A fast predicate (``fastcheck``) passes what is certainly valid; anything else goes through
    fastjsonschema, which names the violation or accepts it."""
    compiled = _compiled(version, action, direction)
    if compiled is None:
        return _no_check
    fallback = ("FormationViolation", "FormatViolation")
    pick = 0 if version == "1.6" else 1
    certainly_valid = quick_check(version, action, direction)

    def check(payload: Any) -> None:
        if certainly_valid(payload):
            return
        try:
            compiled(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            code = _RULE_CODES.get(exc.rule or "", fallback)[pick]
            raise SchemaViolation(code, exc.message, *_describe(exc)) from None

    return check


@functools.cache
def quick_check(version: str, action: str, direction: Direction) -> fastcheck.Predicate:
    """True when a payload is certainly valid (always, for actions without a schema); False
    means "ask ``checker``", which names the violation or accepts it. The hot path calls this
    directly: one call per answer instead of two."""
    schema = load_schema(version, action, direction)
    if schema is None or _compiled(version, action, direction) is None:
        return _always
    predicate = fastcheck.predicate(schema, f"{version} {action} {direction}")
    return _never if predicate is None else predicate


def _always(payload: Any) -> bool:
    return True


def _never(payload: Any) -> bool:
    return False


def validate(version: str, action: str, direction: Direction, payload: Any) -> None:
    """Raise SchemaViolation if ``payload`` breaks the schema; do nothing for unknown actions."""
    checker(version, action, direction)(payload)
