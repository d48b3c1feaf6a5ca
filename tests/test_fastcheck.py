"""The fast predicates never pass what fastjsonschema refuses, on random payloads for every
schema the ``ocpp`` package ships, and they do pass valid payloads (else every check would go
the slow way and the predicates would be dead weight)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
import pytest

from fleet import fastcheck, wire

SCHEMAS = Path(ocpp.__file__).parent


def _all() -> list[tuple[str, str, wire.Direction]]:
    found: list[tuple[str, str, wire.Direction]] = []
    for version, folder in (("1.6", "v16"), ("2.0.1", "v201")):
        for path in sorted((SCHEMAS / folder / "schemas").glob("*.json")):
            name = path.stem
            if name.endswith("Response"):
                found.append((version, name.removesuffix("Response"), "response"))
            elif version == "2.0.1":
                found.append((version, name.removesuffix("Request"), "request"))
            else:
                found.append((version, name, "request"))
    return found


ALL = _all()
# What a station waits for on its hot path: these must never go the slow way when valid.
ANSWERS = [
    (version, action, "response")
    for version in wire.VERSIONS
    for action in (
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "MeterValues",
        "DataTransfer",
    )
] + [
    ("1.6", "StartTransaction", "response"),
    ("1.6", "StopTransaction", "response"),
    ("2.0.1", "TransactionEvent", "response"),
]

WRONG: list[Any] = [None, 7, 1.5, "x", True, [], {}]
TIMES = [
    "2026-11-24T16:40:00Z",
    "2026-11-24T16:40:00.123Z",
    "2026-11-24T16:40:00.123456+01:00",
    "2024-02-29T00:00:00Z",
    "2026-11-24T16:40:00.123456",  # no offset
    "2025-02-29T00:00:00Z",  # no such day
    "2026-11-24 16:40:00Z",
    "yesterday",
]


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def _sample(node: dict[str, Any], root: dict[str, Any], rng: random.Random, bend: float) -> Any:
    """A payload for ``node``: valid-looking, each part bent with probability ``bend``."""
    node = _resolve(node, root)
    if rng.random() < bend:
        return rng.choice(WRONG)
    kind = node.get("type")
    if kind == "object":
        out = {}
        required = set(node.get("required", ()))
        for name, sub in node.get("properties", {}).items():
            keep = rng.random() >= bend if name in required else rng.random() < 0.5
            if keep:
                out[name] = _sample(sub, root, rng, bend)
        if rng.random() < bend:
            out["unexpectedField"] = 1
        return out
    if kind == "array":
        low = node.get("minItems", 0)
        high = node.get("maxItems", low + 3)
        count = (
            rng.randint(max(low - 1, 0), high + 1) if bend else rng.randint(low, min(high, low + 3))
        )
        return [_sample(node.get("items", {}), root, rng, bend) for _ in range(count)]
    if kind == "string":
        if "enum" in node:
            return "Bogus" if rng.random() < bend else rng.choice(node["enum"])
        if node.get("format") == "date-time":
            return rng.choice(TIMES if bend else TIMES[:4])
        if node.get("format") == "uri":
            return rng.choice(
                ["https://csms.example/fw.bin", "not a uri"] if bend else ["ftp://a/b"]
            )
        limit = node.get("maxLength", 30)
        length = (
            rng.choice([0, 1, limit, limit + 1, rng.randint(0, limit)])
            if bend
            else rng.randint(0, limit)
        )
        # A random stretch repeated: schemas bound lengths (up to 7,500), not the characters.
        stretch = "".join(rng.choices("abcXYZ019-é", k=min(length, 40)))
        return (stretch * (length // 40 + 1))[:length]
    if kind in ("integer", "number"):
        low, high = node.get("minimum", -1000), node.get("maximum", 1000)
        if bend:
            return rng.choice(
                [low - 1, low, high, high + 1, rng.randint(int(low), int(high)), 5.0, 2.5]
            )
        value = rng.randint(int(low), int(high))
        return value if kind == "integer" or rng.random() < 0.5 else value + 0.25
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(WRONG)


def _valid(compiled: Any, payload: Any) -> bool:
    try:
        compiled(payload)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_every_answer_a_station_waits_for_has_a_predicate() -> None:
    for version, action, direction in ANSWERS:
        schema = wire.load_schema(version, action, direction)
        assert schema is not None
        assert fastcheck.predicate(schema) is not None, (version, action)


def test_predicates_never_pass_what_fastjsonschema_refuses() -> None:
    seed = int.from_bytes(os.urandom(8))
    rng = random.Random(seed)
    covered = passed = refused_by_both = 0
    for version, action, direction in ALL:
        schema = wire.load_schema(version, action, direction)
        assert schema is not None
        ok = fastcheck.predicate(schema)
        if ok is None:
            continue
        covered += 1
        compiled = wire._compiled(version, action, direction)
        fast_passed_valid = False
        for attempt in range(120):
            bend = 0.0 if attempt < 20 else rng.choice([0.02, 0.1, 0.3])
            payload = _sample(schema, schema, rng, bend)
            fast = ok(payload)
            valid = _valid(compiled, payload)
            assert not fast or valid, f"seed {seed}: {version} {action} {direction}: {payload!r}"
            fast_passed_valid |= fast
            passed += fast
            refused_by_both += not fast and not valid
        assert fast_passed_valid, f"seed {seed}: {version} {action} {direction} never passed"
    assert covered >= 180  # of 206 schemas; the rest use defaults or multipleOf
    assert passed > 0 and refused_by_both > 0


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "integer", "minimum": 0}, 0, -1),
        ({"type": "integer", "maximum": 5}, 5, 6),
        ({"type": "string", "maxLength": 2}, "ab", "abc"),
        ({"type": "string", "enum": ["A"]}, "A", "B"),
        ({"type": "boolean"}, False, 0),
        ({"type": "integer"}, 3, True),
        ({"type": "number"}, 2.5, "2.5"),
        ({"type": "array", "minItems": 1, "items": {"type": "integer"}}, [1], []),
        ({"type": "array", "maxItems": 1}, [1], [1, 2]),
        ({"type": "array", "items": {"type": "integer"}}, [1, 2], [1, "2"]),
        ({"type": "object", "required": ["a"]}, {"a": 1}, {"b": 1}),
        (
            {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
            {"a": 1},
            {"b": 1},
        ),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": "x"}, {"a": None}),
        ({"type": "string", "format": "date-time"}, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00"),
        (
            {
                "definitions": {"T": {"type": "string"}},
                "type": "object",
                "properties": {"t": {"$ref": "#/definitions/T"}},
            },
            {"t": "x"},
            {"t": 1},
        ),
    ],
)
def test_each_rule_refuses_what_breaks_it(schema: dict[str, Any], good: Any, bad: Any) -> None:
    ok = fastcheck.predicate(schema)
    assert ok is not None
    assert ok(good) is True
    assert ok(bad) is False


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "default": "x"},
        {"type": "number", "multipleOf": 0.1},
        {"type": ["string", "null"]},
        {"type": "string", "pattern": "^a"},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "array", "items": [{"type": "string"}]},
        {"$ref": "#/definitions/missing"},
        {"enum": ["a"]},
    ],
)
def test_what_it_does_not_handle_goes_the_slow_way(schema: dict[str, Any]) -> None:
    assert fastcheck.predicate(schema) is None


def test_a_naive_timestamp_still_names_its_field() -> None:
    check = wire.checker("1.6", "Heartbeat", "response")
    check({"currentTime": "2026-11-24T16:40:00.123Z"})
    with pytest.raises(wire.SchemaViolation) as caught:
        check({"currentTime": "2026-11-24T16:40:00.123456"})
    assert (caught.value.field, caught.value.rule) == ("currentTime", "format")
