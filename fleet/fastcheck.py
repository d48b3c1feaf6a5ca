"""Fast "certainly valid" predicates for the OCPP JSON schemas.

Every answer a station receives is checked against its schema. fastjsonschema's compiled check
of a Heartbeat answer cost ~1.7 µs (set operations per object, name bookkeeping, a wrapper per
call): a tenth of the whole round trip. The predicates made here answer one question only, "is
this payload valid?", in straight-line code made from the schema once per process: ~0.4 µs for
that answer, most of it the date-time regex itself.

They never explain a failure: when one says False, the caller runs fastjsonschema, which either
finds the violation (reported exactly as before) or accepts the payload. So a predicate may be
stricter than the schema (a float where an integer is wanted goes the slow way), never looser.
A schema using anything not handled here (a ``default``, which fastjsonschema writes into the
payload; ``multipleOf``; a list of types; ...) gets no predicate: it is checked the slow way.
The OCPP schemas the ``ocpp`` package ships use a small subset of JSON Schema draft 4, and
every answer a station waits for is covered (tests/test_fastcheck.py compares both on random
payloads for every schema).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from fastjsonschema.draft04 import CodeGeneratorDraft04

Predicate = Callable[[Any], bool]

# Keywords that do not constrain a value (draft 4 ignores additionalItems when items is a schema).
_NOTES: Final = frozenset(
    {
        "description",
        "javaType",
        "comment",
        "title",
        "$schema",
        "$id",
        "id",
        "definitions",
        "additionalItems",
    }
)
# Keywords that apply to one kind of value only: once the type is checked, another kind's
# keywords cannot fail (1.6 schemas put "additionalProperties" on strings, for one).
_FAMILIES: Final = {
    "object": frozenset(
        {
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
            "patternProperties",
            "dependencies",
        }
    ),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems"}),
    "string": frozenset({"maxLength", "minLength", "pattern", "format"}),
    "number": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
    ),
}
_FAMILIES["integer"] = _FAMILIES["number"]
_FAMILIES["boolean"] = frozenset()
_TYPED: Final = frozenset().union(*_FAMILIES.values())
_FORMATS: Final = {
    name: re.compile(CodeGeneratorDraft04.FORMAT_REGEXS[name]).match
    for name in ("date-time", "uri")
}
_MAX_DEPTH: Final = 32


class Unsupported(Exception):
    """The schema uses something the generator does not handle: check it the slow way."""


class _Writer:
    """Emits one function's body; every failure is ``return False``."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_MISSING": _MISSING}
        self._count = 0

    def fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.names[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def fail_if(self, indent: int, condition: str) -> None:
        self.emit(indent, f"if {condition}:")
        self.emit(indent + 1, "return False")

    def resolve(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        while "$ref" in node:
            if depth > _MAX_DEPTH or set(node) - _NOTES - {"$ref"}:
                raise Unsupported("$ref beside other keywords, or too deep")
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/definitions/"):
                raise Unsupported(f"$ref {ref!r}")
            node = self.root.get("definitions", {}).get(ref.removeprefix("#/definitions/"))
            if not isinstance(node, dict):
                raise Unsupported(f"$ref {ref!r} not found")
            depth += 1
        return node

    def value(self, node: dict[str, Any], var: str, indent: int, depth: int) -> None:
        """Lines checking that ``var`` matches ``node``."""
        if depth > _MAX_DEPTH:
            raise Unsupported("schema too deep")
        node = self.resolve(node, depth)
        keys = set(node) - _NOTES
        if "default" in keys:
            raise Unsupported("default (fastjsonschema writes it into the payload)")
        kind = node.get("type")
        if kind is None:
            if keys:
                raise Unsupported(f"keywords without a type: {sorted(keys)}")
            return  # anything goes
        handler = _TYPES.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise Unsupported(f"type {kind!r}")
        handler(self, node, keys - {"type"} - (_TYPED - _FAMILIES[kind]), var, indent, depth)

    def block(self, header: str, node: dict[str, Any], var: str, indent: int, depth: int) -> None:
        """``header`` (an if or a for) and the checks of ``var`` under it."""
        self.emit(indent, header)
        before = len(self.lines)
        self.value(node, var, indent + 1, depth + 1)
        if len(self.lines) == before:  # nothing to check: the block still needs a body
            self.emit(indent + 1, "pass")

    def object(
        self, node: dict[str, Any], keys: set[str], var: str, indent: int, depth: int
    ) -> None:
        _only(keys, {"properties", "required", "additionalProperties"})
        self.fail_if(indent, f"type({var}) is not dict")
        properties = node.get("properties", {})
        required = list(dict.fromkeys(node.get("required", ())))
        for name in required:
            self.fail_if(indent, f"{name!r} not in {var}")
        extra = node.get("additionalProperties", True)
        if extra is False:
            known = self.constant(frozenset(properties))
            self.fail_if(indent, f"not {known}.issuperset({var})")
        elif extra is not True:
            raise Unsupported("additionalProperties with a schema")
        for name in required:
            if name in properties:
                item = self.fresh("v")
                self.emit(indent, f"{item} = {var}[{name!r}]")
                self.value(properties[name], item, indent, depth + 1)
        optional = [name for name in properties if name not in required]
        if not optional:
            return
        # With the required keys all present, an object holding no more keys than those holds
        # no optional one: most answers ({} to MeterValues, StatusNotification and
        # TransactionEvent) skip a lookup per optional property.
        self.emit(indent, f"if len({var}) > {len(required)}:")
        for name in optional:
            item = self.fresh("v")
            self.emit(indent + 1, f"{item} = {var}.get({name!r}, _MISSING)")
            self.block(f"if {item} is not _MISSING:", properties[name], item, indent + 1, depth)

    def array(
        self, node: dict[str, Any], keys: set[str], var: str, indent: int, depth: int
    ) -> None:
        _only(keys, {"items", "minItems", "maxItems"})
        self.fail_if(indent, f"type({var}) is not list")
        if "minItems" in node:
            self.fail_if(indent, f"len({var}) < {int(node['minItems'])}")
        if "maxItems" in node:
            self.fail_if(indent, f"len({var}) > {int(node['maxItems'])}")
        items = node.get("items")
        if items is None:
            return
        if not isinstance(items, dict):
            raise Unsupported("items as a list")
        item = self.fresh("i")
        self.block(f"for {item} in {var}:", items, item, indent, depth)

    def string(
        self, node: dict[str, Any], keys: set[str], var: str, indent: int, depth: int
    ) -> None:
        _only(keys, {"maxLength", "minLength", "enum", "format"})
        self.fail_if(indent, f"type({var}) is not str")
        if "maxLength" in node:
            self.fail_if(indent, f"len({var}) > {int(node['maxLength'])}")
        if "minLength" in node:
            self.fail_if(indent, f"len({var}) < {int(node['minLength'])}")
        if "enum" in node:
            allowed = self.constant(frozenset(v for v in node["enum"] if isinstance(v, str)))
            self.fail_if(indent, f"{var} not in {allowed}")
        if "format" in node:
            match = _FORMATS.get(node["format"])
            if match is None:
                raise Unsupported(f"format {node['format']!r}")
            self.fail_if(indent, f"not {self.constant(match)}({var})")

    def number(
        self, node: dict[str, Any], keys: set[str], var: str, indent: int, depth: int
    ) -> None:
        _only(keys, {"minimum", "maximum"})
        if node["type"] == "integer":
            self.fail_if(indent, f"type({var}) is not int")
        else:
            self.fail_if(indent, f"type({var}) is not int and type({var}) is not float")
        for key, op in (("minimum", "<"), ("maximum", ">")):
            if key in node:
                bound = node[key]
                if type(bound) not in (int, float):
                    raise Unsupported(f"{key} {bound!r}")
                self.fail_if(indent, f"{var} {op} {bound!r}")

    def boolean(
        self, node: dict[str, Any], keys: set[str], var: str, indent: int, depth: int
    ) -> None:
        _only(keys, set())
        self.fail_if(indent, f"type({var}) is not bool")


def _only(keys: set[str], allowed: set[str]) -> None:
    unknown = keys - allowed
    if unknown:
        raise Unsupported(f"keywords {sorted(unknown)}")


_TYPES: Final[dict[str, Callable[..., None]]] = {
    "object": _Writer.object,
    "array": _Writer.array,
    "string": _Writer.string,
    "integer": _Writer.number,
    "number": _Writer.number,
    "boolean": _Writer.boolean,
}


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


def predicate(schema: dict[str, Any], name: str = "payload") -> Predicate | None:
    """A function telling whether a payload is certainly valid against ``schema``, or None when
    the schema uses something not handled here."""
    writer = _Writer(schema)
    try:
        writer.value(schema, "data", 1, 0)
    except Unsupported:
        return None
    source = "\n".join(["def ok(data):", *writer.lines, "    return True", ""])
    namespace = dict(writer.names)
    exec(compile(source, f"<fastcheck {name}>", "exec"), namespace)  # source made above
    made: Predicate = namespace["ok"]
    return made
