"""Scenario files: the fleet's definition, validated completely before any socket opens.

A scenario is YAML. Every field is defined once (type, bounds, default): here, or in the section
modules ``scenario_csms`` and ``scenario_charging``; the CLI and the Locust options override
fields by path and go through the same validation, so a bad value gives the same one-line message
(``scenario_errors``) wherever it came from::

    scenarios/x.yaml: stations.count: must be a positive integer, got -5

Unknown keys and duplicate keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fleet.errors import ScenarioError

ENV_CSMS_URL: Final = "FLEET_CSMS_URL"

from fleet.scenario_charging import Sessions  # noqa: E402
from fleet.scenario_csms import Csms  # noqa: E402
from fleet.scenario_errors import describe_error, show  # noqa: E402
from fleet.scenario_faults import Faults  # noqa: E402
from fleet.scenario_fields import FieldProblem, PositiveFloat, comma_list  # noqa: E402
from fleet.scenario_fields import Section as _Section  # noqa: E402
from fleet.scenario_maintenance import Maintenance  # noqa: E402
from fleet.scenario_responses import (  # noqa: E402
    ResponseGroup,
    Responses,
    check_responses,
    used_versions,
)
from fleet.scenario_security import ENV_PASSWORD, Security, check_security  # noqa: E402
from fleet.scenario_stations import Stations  # noqa: E402
from fleet.scenario_storms import Storm  # noqa: E402


class Boot(_Section):
    ramp_per_s: PositiveFloat = 10.0
    jitter_s: float = Field(0.0, ge=0)
    retry_s: PositiveFloat = 30.0


class Heartbeat(_Section):
    interval_s: PositiveFloat | None = None
    fallback_s: PositiveFloat = 300.0
    min_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 86_400.0
    # Websocket pings: WebSocketPingInterval's default (0: none, the CSMS may ping), and how
    # long a ping may go unanswered before the station drops the connection and reconnects.
    ws_ping_s: int = Field(0, ge=0, le=86_400)
    ws_pong_timeout_s: PositiveFloat = 20.0

    @model_validator(mode="after")
    def _bounds(self) -> Heartbeat:
        if self.min_s > self.max_s:
            raise ValueError("min_s must not exceed max_s")
        if not self.min_s <= self.fallback_s <= self.max_s:
            raise ValueError("fallback_s must lie between min_s and max_s")
        return self


class Reconnect(_Section):
    # exponential: full jitter between min_s and max_s; spec: OCPP 2.0.1's RetryBackOff (min_s is
    # RetryBackOffWaitMinimum); naive: at once, no jitter (the worst real fleets).
    policy: Literal["exponential", "spec", "naive"] = "exponential"
    min_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 30.0
    factor: float = Field(2.0, ge=1)
    random_range_s: float = Field(10.0, ge=0)  # spec: RetryBackOffRandomRange
    repeat_times: int = Field(5, ge=0, le=30)  # spec: RetryBackOffRepeatTimes
    # A connection lost for less than this goes on as Accepted without a BootNotification, as
    # real stations do after a short network drop (0: always boot again).
    resume_within_s: float = Field(0.0, ge=0)
    # After such a drop a station reports only the connectors whose status changed while it
    # was offline, unless it was offline this long or longer: then every connector (2.0.1
    # OCPPCommCtrlr.OfflineThreshold, B04; 0: always every connector).
    offline_threshold_s: int = Field(60, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Reconnect:
        if self.min_s > self.max_s:
            raise ValueError("min_s must not exceed max_s")
        return self


class Offline(_Section):
    """What a station does with transaction messages while it has no accepted connection: it
    keeps charging and queues them (1.6 StartTransaction, MeterValues of a transaction,
    StopTransaction; 2.0.1 TransactionEvent), to deliver them in order once accepted again."""

    queue_limit: int = Field(1000, ge=1, le=1_000_000)  # messages one station holds
    # At the limit: drop the oldest queued message, refuse the new one, or drop the oldest
    # meter reading (1.6 MeterValues, 2.0.1 TransactionEvent Updated) and keep starts and stops.
    when_full: Literal["drop_oldest", "drop_newest", "drop_meter_values"] = "drop_meter_values"
    # The defaults of the retry settings (1.6 TransactionMessageAttempts and
    # TransactionMessageRetryInterval, 2.0.1 OCPPCommCtrlr.MessageAttempts and
    # MessageAttemptInterval for TransactionEvent): a message the CSMS does not answer, or
    # answers with a CallError, is sent again after interval x attempts so far, then given up.
    message_attempts: int = Field(3, ge=1, le=100)
    attempt_interval_s: int = Field(60, ge=0, le=86_400)
    # The default of AllowOfflineTxForUnknownId (2.0.1 AuthCtrlr.OfflineTxForUnknownIdEnabled):
    # a driver whose tag the station cannot ask about while offline may charge.
    allow_unknown_tags: bool = True


class Run(_Section):
    duration_s: PositiveFloat = 60.0
    progress_s: PositiveFloat = 5.0
    lag_warn_ms: PositiveFloat = 50.0
    # Station ids whose every frame is logged (logger fleet.trace, INFO): what exactly one
    # station and the CSMS said to each other, without a per-frame log for the whole fleet.
    trace: tuple[str, ...] = ()
    # Prometheus endpoint (/metrics) of `fleet run` and of a Locust master; 0: none.
    prometheus_port: int = Field(default=0, ge=0, le=65535)
    prometheus_host: str = "0.0.0.0"  # every interface, for a scraper elsewhere

    @field_validator("trace", mode="before")
    @classmethod
    def _trace(cls, value: Any) -> tuple[str, ...]:
        value = comma_list(value)
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
    offline: Offline = Offline()
    seed: int = 0  # seeds response draws and group picks (sessions.seed: the session generator)
    responses: Responses = Field(default_factory=dict)
    response_groups: tuple[ResponseGroup, ...] = ()
    sessions: Sessions = Sessions()
    maintenance: Maintenance = Maintenance()
    faults: Faults = Faults()
    storms: tuple[Storm, ...] = ()
    security: Security = Security()
    run: Run = Run()

    @field_validator("responses")
    @classmethod
    def _responses(cls, responses: Responses, info: ValidationInfo) -> Responses:
        check_responses(responses, _versions(info))
        return responses

    @field_validator("response_groups")
    @classmethod
    def _groups(
        cls, groups: tuple[ResponseGroup, ...], info: ValidationInfo
    ) -> tuple[ResponseGroup, ...]:
        versions = _versions(info)
        names = set()
        for index, group in enumerate(groups):
            if group.name in names:
                raise FieldProblem("is used by two groups", at=(index, "name"), got=group.name)
            names.add(group.name)
            try:
                check_responses(group.responses, versions)
            except FieldProblem as exc:
                exc.at = (index, "responses", *exc.at)
                raise
        return groups

    @model_validator(mode="after")
    def _urls_cover_versions(self, info: ValidationInfo) -> Scenario:
        urls = self.csms.url
        if isinstance(urls, dict) and (info.context or {}).get("whole", True):
            for version, weight in self.stations.ocpp.items():
                if weight and version not in urls:
                    raise FieldProblem(
                        f"has no URL for OCPP {version} (stations.ocpp has {version} stations)",
                        at=("csms", "url"),
                        got=self.csms.shown(),
                    )
        return self

    @model_validator(mode="after")
    def _security_fits(self, info: ValidationInfo) -> Scenario:
        context = info.context or {}
        if context.get("whole", True):
            check_security(self.security, self.csms, self._ids, context.get("files", True))
        return self

    def _ids(self) -> list[str]:
        return [self.station_id(i) for i in range(1, self.stations.count + 1)]

    def source_address(self, index: int) -> str | None:
        addresses = self.csms.source_addresses
        return addresses[(index - 1) % len(addresses)] if addresses else None

    def station_id(self, index: int) -> str:
        return self.stations.id_of(index)

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


def _versions(info: ValidationInfo) -> set[str]:
    stations = info.data.get("stations")
    return used_versions(stations.ocpp if stations else None)


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
    files: bool = True,
) -> Scenario:
    """Read, merge and validate a scenario; raise ScenarioError naming file and field.
    ``files=False``: the station certificates it names need not exist yet (``fleet certs``).

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
        raise ScenarioError(source, "", f"must be a mapping of sections, got {show(data)}")
    patch: dict[str, Any] = {}
    env = os.environ if environ is None else environ
    if env.get(ENV_CSMS_URL):
        patch["csms.url"] = env[ENV_CSMS_URL]
    if env.get(ENV_PASSWORD):
        patch["security.password"] = env[ENV_PASSWORD]
    patch.update({k: v for k, v in (overrides or {}).items() if v is not None})
    # Checks across sections (the URL a security profile needs) wait for the overrides: a file
    # may leave the URL to --csms.
    context = {"base": Path(path).parent, "files": files, "whole": not patch}
    scenario = _validate(source, data, context)
    if patch:
        # What the file set, plus the overrides (fields left unset are defaulted again: some
        # defaults follow from other fields, as stations.count from an ids_file).
        merged = scenario.model_dump(exclude_unset=True)
        for dotted, value in patch.items():
            section, _, field = dotted.partition(".")
            merged.setdefault(section, {})[field] = value
        scenario = _validate(
            f"{source} (with overrides {', '.join(sorted(patch))})",
            merged,
            context | {"whole": True},
        )
    return scenario


def _validate(source: str, data: dict[str, Any], context: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path, message = describe_error(first, Scenario)
        raise ScenarioError(source, path, message) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem
