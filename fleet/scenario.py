"""Scenario files: the fleet's definition, validated completely before any socket opens.

A scenario is YAML. Every field is defined once here (type, bounds, default); the CLI and the
Locust options override fields by path and go through the same validation, so a bad value gives
the same one-line message wherever it came from::

    scenarios/x.yaml: stations.count: must be a positive integer, got -5

Unknown keys and duplicate keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from fleet import catalog
from fleet.errors import ScenarioError
from fleet.wire import VERSIONS

ENV_CSMS_URL: Final = "FLEET_CSMS_URL"

# OCPP 1.6 CiString20/20/50; 2.0.1 allows 50/20/50. The stricter bound keeps both valid.
_MAX_VENDOR, _MAX_MODEL, _MAX_FIRMWARE = 20, 20, 50
# OCPP-J 2.0.1 §3.1: the identity is at most 48 characters of this set.
_ID_CHARS = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")

from fleet.scenario_charging import Evse, Sessions  # noqa: E402
from fleet.scenario_fields import UNSET as _UNSET  # noqa: E402
from fleet.scenario_fields import FieldProblem, PositiveFloat  # noqa: E402
from fleet.scenario_fields import Section as _Section  # noqa: E402


class Csms(_Section):
    """Where the stations connect; ws://host/path, a station connects to <url>/<station id>.

    ``url`` is one URL for every station, or one per OCPP version (a CSMS may serve 1.6 and
    2.0.1 on different endpoints): ``{"1.6": "ws://host:8092/", "2.0.1": "ws://host:8081/"}``,
    written ``1.6=ws://host:8092/,2.0.1=ws://host:8081/`` in a flag or environment variable.
    """

    url: str | dict[str, str] = "ws://127.0.0.1:9000/ocpp"
    call_timeout_s: PositiveFloat = 30.0
    check_schemas: bool = True
    # What a CSMS message that breaks the OCPP schema does: "report" counts it as a violation
    # (CSMS conformance section) and the station goes on when it can use the message; "fail"
    # makes every violation a failure, as a strict station would.
    on_violation: Literal["report", "fail"] = "report"
    # Ids of the CALLs stations send: "uuid" (random, what the ocpp library and most stations
    # send) or "counter" ("1", "2", ... per station: legal, cheaper, but a CSMS that pairs
    # answers by id alone mixes up stations that count alike).
    message_ids: Literal["uuid", "counter"] = "uuid"
    # Local addresses to connect from, round-robin by station: one source address reaches one
    # CSMS address:port through ~28,000 ephemeral ports at most.
    source_addresses: tuple[str, ...] = ()

    @field_validator("source_addresses", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> tuple[str, ...]:
        value = _comma_list(value)
        if not isinstance(value, list | tuple):
            raise FieldProblem("must be a list of IP addresses")
        for address in value:
            try:
                ipaddress.ip_address(str(address))
            except ValueError:
                raise FieldProblem("must be IP addresses", got=address) from None
        return tuple(str(a) for a in value)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, url: Any) -> str | dict[str, str]:
        if isinstance(url, str) and _PER_VERSION.match(url):
            url = _per_version_urls(url)
        if isinstance(url, str):
            return _checked_url(url)
        if not isinstance(url, Mapping) or not url:
            raise FieldProblem("must be a ws:// URL, or a mapping of OCPP version to URL")
        urls: dict[str, str] = {}
        for version, one in url.items():
            version = str(version)
            if version not in VERSIONS:
                raise FieldProblem(
                    f"is not an OCPP version; expected one of {', '.join(VERSIONS)}",
                    at=(version,),
                    got=version,
                )
            if not isinstance(one, str):
                raise FieldProblem("must be a ws:// or wss:// URL", at=(version,), got=one)
            try:
                urls[version] = _checked_url(one)
            except FieldProblem as exc:
                raise FieldProblem(str(exc), at=(version,), got=exc.got) from None
        return urls

    def url_for(self, version: str) -> str:
        """The URL stations of OCPP ``version`` connect to."""
        if isinstance(self.url, str):
            return self.url
        return self.url[version]

    def shown(self) -> str:
        """The URL(s) fit to print (passwords replaced by ***)."""
        if isinstance(self.url, str):
            return shown_url(self.url)
        return ", ".join(f"{v}={shown_url(u)}" for v, u in self.url.items())


# "1.6=ws://a/,2.0.1=ws://b/": the per-version form of csms.url for flags and the environment.
_PER_VERSION: Final = re.compile(r"^\s*[0-9.]+\s*=")


def _per_version_urls(text: str) -> dict[str, str]:
    urls = {}
    for part in text.split(","):
        version, _, url = part.partition("=")
        urls[version.strip()] = url.strip()
    return urls


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise FieldProblem("must be a ws:// or wss:// URL with a host", got=shown_url(url))
    if parts.query or parts.fragment:
        raise FieldProblem(
            "must not have a query or fragment (the station id is appended)",
            got=shown_url(url),
        )
    return url.rstrip("/")


def _comma_list(value: Any) -> Any:
    """A list option given as one string (a command-line flag, an environment variable):
    "a, b" -> ["a", "b"]. Anything else is left for the field's own check."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def shown_url(url: str) -> str:
    """``url`` fit to print: a password in it (HTTP Basic auth, OCPP security profile 1) is
    replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class Stations(_Section):
    count: int = Field(10, gt=0, le=1_000_000)
    id_pattern: str = "CP-{index:05d}"
    ocpp: dict[str, int] = Field(default_factory=lambda: {"1.6": 1})
    vendor: str = Field("fleet", min_length=1, max_length=_MAX_VENDOR)
    model: str = Field("simulated", min_length=1, max_length=_MAX_MODEL)
    firmware: str = Field("0.1.0", min_length=1, max_length=_MAX_FIRMWARE)
    connectors: int = Field(1, ge=1, le=64)
    evse: Evse = Evse()

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

    @model_validator(mode="after")
    def _ids_fit(self) -> Stations:
        last = self.id_pattern.format(index=self.count)
        if not _ID_CHARS.match(last):
            raise ValueError(f"id_pattern gives {last!r} for the last station: over 48 characters")
        return self


class Boot(_Section):
    ramp_per_s: PositiveFloat = 10.0
    jitter_s: float = Field(0.0, ge=0)
    retry_s: PositiveFloat = 30.0


class Heartbeat(_Section):
    interval_s: PositiveFloat | None = None
    fallback_s: PositiveFloat = 300.0
    min_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 86_400.0

    @model_validator(mode="after")
    def _bounds(self) -> Heartbeat:
        if self.min_s > self.max_s:
            raise ValueError("min_s must not exceed max_s")
        if not self.min_s <= self.fallback_s <= self.max_s:
            raise ValueError("fallback_s must lie between min_s and max_s")
        return self


class Reconnect(_Section):
    min_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 30.0
    factor: float = Field(2.0, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> Reconnect:
        if self.min_s > self.max_s:
            raise ValueError("min_s must not exceed max_s")
        return self


class Run(_Section):
    duration_s: PositiveFloat = 60.0
    progress_s: PositiveFloat = 5.0
    lag_warn_ms: PositiveFloat = 50.0
    # Station ids whose every frame is logged (logger fleet.trace, INFO): what exactly one
    # station and the CSMS said to each other, without a per-frame log for the whole fleet.
    trace: tuple[str, ...] = ()

    @field_validator("trace", mode="before")
    @classmethod
    def _trace(cls, value: Any) -> tuple[str, ...]:
        value = _comma_list(value)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise FieldProblem("must be a list of station ids")
        return tuple(value)


class Scenario(_Section):
    """A whole fleet definition. Sections are shared, read-only, by every station."""

    name: str = "unnamed"
    csms: Csms = Csms()
    stations: Stations = Stations()
    boot: Boot = Boot()
    heartbeat: Heartbeat = Heartbeat()
    reconnect: Reconnect = Reconnect()
    responses: dict[str, str] = Field(default_factory=dict)
    sessions: Sessions = Sessions()
    run: Run = Run()

    @field_validator("responses")
    @classmethod
    def _responses(cls, responses: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        stations = info.data.get("stations")
        used = {v for v, w in stations.ocpp.items() if w} if stations else set(VERSIONS)
        table = {
            action: {v: allowed for v, allowed in per_version.items() if v in used}
            for action, per_version in catalog.configurable_actions().items()
        }
        table = {action: per_version for action, per_version in table.items() if per_version}
        for action, status in responses.items():
            if action not in table:
                raise FieldProblem(
                    "is not a CSMS-initiated action answered with a configurable status; "
                    f"expected one of {', '.join(sorted(table))}",
                    at=(action,),
                )
            for version, allowed in table[action].items():
                if status not in allowed:
                    raise FieldProblem(
                        f"must be one of {', '.join(allowed)} (OCPP {version})",
                        at=(action,),
                        got=status,
                    )
        return responses

    @model_validator(mode="after")
    def _urls_cover_versions(self) -> Scenario:
        urls = self.csms.url
        if isinstance(urls, dict):
            for version, weight in self.stations.ocpp.items():
                if weight and version not in urls:
                    raise FieldProblem(
                        f"has no URL for OCPP {version} (stations.ocpp has {version} stations)",
                        at=("csms", "url"),
                        got=self.csms.shown(),
                    )
        return self

    def status_for(self, version: str, action: str) -> str | None:
        """The status a station of ``version`` answers ``action`` with."""
        chosen = self.responses.get(action)
        if chosen is not None and chosen in catalog.statuses(version, action):
            return chosen
        return catalog.default_status(version, action)

    def source_address(self, index: int) -> str | None:
        addresses = self.csms.source_addresses
        return addresses[(index - 1) % len(addresses)] if addresses else None

    def station_id(self, index: int) -> str:
        return self.stations.id_pattern.format(index=index)

    def version_for(self, index: int) -> str:
        """Deterministic weighted assignment: any prefix of 1..N matches the mix as closely as
        integers allow (70/30 gives exactly 7 + 3 for 10 stations), and a station keeps its
        version across runs."""
        mix = self.stations.ocpp
        total = sum(mix.values())
        cumulative = 0
        for version, weight in mix.items():
            cumulative += weight
            # Bresenham: the first version whose cumulative share gains a station at `index`.
            if index * cumulative // total > (index - 1) * cumulative // total:
                return version
        return next(iter(mix))  # unreachable: the last cumulative share gains one every step


# --- loading -------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node)  # type: ignore[no-untyped-call]
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def load_scenario(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Scenario:
    """Read, merge and validate a scenario; raise ScenarioError naming file and field.

    Precedence, lowest first: the file, ``FLEET_CSMS_URL``, then ``overrides`` (dotted field paths,
    e.g. ``{"stations.count": 50}`` from command-line flags).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, "", f"not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(source, "", f"must be a mapping of sections, got {_show(data)}")
    scenario = _validate(source, data)

    patch: dict[str, Any] = {}
    env = os.environ if environ is None else environ
    if env.get(ENV_CSMS_URL):
        patch["csms.url"] = env[ENV_CSMS_URL]
    patch.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if patch:
        merged = scenario.model_dump()
        for dotted, value in patch.items():
            section, _, field = dotted.partition(".")
            merged[section][field] = value
        scenario = _validate(f"{source} (with overrides {', '.join(sorted(patch))})", merged)
    return scenario


def _validate(source: str, data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path, message = describe_error(first)
        raise ScenarioError(source, path, message) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_BOUND_WORDS: Final = {
    "greater_than": "greater than",
    "greater_than_equal": "of at least",
    "less_than": "less than",
    "less_than_equal": "of at most",
}


def _annotation_at(loc: tuple[int | str, ...]) -> Any:
    """The declared type at ``loc`` (a model class for sections), or None past a dict/list."""
    model: Any = Scenario
    for step in loc:
        info = getattr(model, "model_fields", {}).get(step)
        if info is None:
            return None
        model = info.annotation
    return model


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names the model accepts at the parent of ``loc`` (for 'did you mean')."""
    return list(getattr(_annotation_at(loc[:-1]), "model_fields", {}))


def describe_error(err: ErrorDetails) -> tuple[str, str]:
    """(field path, 'must be ..., got ...') for one pydantic error, in the words of the docs."""
    loc = tuple(err["loc"])
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    kind, ctx, got = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return path, f"unknown field{suggestion}; expected one of {', '.join(allowed)}"
    if kind == "missing":
        return path, "is required"
    if kind in _BOUND_WORDS:
        bound = next(iter(ctx.values()))
        noun = "integer" if _annotation_at(loc) is int else "number"
        if kind == "greater_than" and bound == 0:
            return path, f"must be a positive {noun}, got {_show(got)}"
        article = "an" if noun == "integer" else "a"
        return path, f"must be {article} {noun} {_BOUND_WORDS[kind]} {bound}, got {_show(got)}"
    if kind == "literal_error":
        return path, f"must be {ctx.get('expected', '')}, got {_show(got)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f"must be an integer, got {_show(got)}"
    if kind in ("float_type", "float_parsing"):
        return path, f"must be a number, got {_show(got)}"
    if kind in ("string_type",):
        return path, f"must be a string, got {_show(got)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return path, f"must be a mapping, got {_show(got)}"
    if kind in ("string_too_long", "string_too_short"):
        limit = ctx.get("max_length", ctx.get("min_length"))
        which = "at most" if kind == "string_too_long" else "at least"
        return path, f"must be {which} {limit} characters, got {_show(got)}"
    if kind == "value_error":
        problem = ctx.get("error")
        if isinstance(problem, FieldProblem):
            path = ".".join((path, *problem.at)) if path else ".".join(problem.at)
            if problem.got is _UNSET:
                return path, str(problem) if problem.at else f"{problem}, got {_show(got)}"
            got = problem.got
        return path, f"{problem or err['msg']}, got {_show(got)}"
    return path, f"{err['msg'][0].lower()}{err['msg'][1:]}, got {_show(got)}"
