"""Random payloads valid against the JSON schemas the ocpp package ships: what a CSMS may send
that a hand-written test would not think of (connector 0 or 2,147,483,647, an empty list, every
optional field at once, none of them). Each draw is checked against the schema it came from, so a
generator bug shows as itself, not as the station's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet import wire

# Integers a CSMS may plausibly send, and the edges a schema without bounds allows.
_INTS = (0, 1, 2, 3, 7, 60, 3600, 2_147_483_647, -1)
_WORDS = ("", "A", "TAG-1", "CP-00001", "x" * 20, "Zürich", "0123456789ABCDEF")


class Payloads:
    """Draw payloads for one OCPP version from ``rnd`` (seeded: a failing draw is reproducible)."""

    def __init__(self, version: str, rnd: random.Random, first: float = 0.5) -> None:
        self.version = version
        self.rnd = rnd
        self.first = first  # how often an enum is its first value (mostly Accepted)
        self._definitions: dict[str, Any] = {}

    def request(self, action: str) -> dict[str, Any]:
        return self._draw(action, "request")

    def response(self, action: str) -> dict[str, Any]:
        return self._draw(action, "response")

    def _draw(self, action: str, direction: wire.Direction) -> dict[str, Any]:
        schema = wire.load_schema(self.version, action, direction)
        assert schema is not None, (self.version, action, direction)
        self._definitions = schema.get("definitions", {})
        payload: dict[str, Any] = self._value(schema, "")
        wire.validate(self.version, action, direction, payload)
        return payload

    def _value(self, schema: dict[str, Any], name: str) -> Any:
        rnd = self.rnd
        if "$ref" in schema:
            return self._value(self._definitions[schema["$ref"].rsplit("/", 1)[-1]], name)
        if "enum" in schema:  # the first value more often: mostly Accepted, as a CSMS says
            return schema["enum"][0] if rnd.random() < self.first else rnd.choice(schema["enum"])
        kind = schema.get("type")
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", low + 3), low + 3)
            return [self._value(schema["items"], name) for _ in range(rnd.randint(low, high))]
        if kind == "boolean":
            return rnd.random() < 0.5
        if kind in ("integer", "number"):
            return self._number(schema, kind == "integer")
        return self._string(schema, name)

    def _object(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = {}
        required = set(schema.get("required", ()))
        for key, sub in schema.get("properties", {}).items():
            if key == "customData":
                continue
            if key in required or self.rnd.random() < 0.5:
                out[key] = self._value(sub, key)
        return out

    def _number(self, schema: dict[str, Any], integer: bool) -> float:
        rnd = self.rnd
        low, high = schema.get("minimum"), schema.get("maximum")
        value: float = rnd.choice(_INTS) if integer else rnd.choice((*_INTS, 0.5, 22.08, 1e9))
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        if "multipleOf" in schema:  # 1.6 limits: one decimal
            value = round(value / schema["multipleOf"]) * schema["multipleOf"]
            value = round(value, 1)
        return int(value) if integer else value

    def _string(self, schema: dict[str, Any], name: str) -> str:
        rnd = self.rnd
        if schema.get("format") == "date-time" or name.lower().endswith(("time", "date")):
            at = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd.choice(_INTS[:7]))
            return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if schema.get("format") == "uri" or name.lower().endswith(("url", "location")):
            return rnd.choice(("https://127.0.0.1/firmware.bin", "ftp://127.0.0.1/logs"))
        text = rnd.choice(_WORDS)
        return text[: schema.get("maxLength", len(text))]
