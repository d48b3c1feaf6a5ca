"""Scenario files: the shipped ones are valid; each kind of mistake gives one line naming the
file and the field path, through ``fleet validate`` (exit 1) and ``fleet run`` (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.cli import main
from fleet.errors import ScenarioError
from fleet.scenario import load_scenario
from fleet.station.responder import Responder

SHIPPED = sorted(Path("scenarios").glob("*.yaml"))


def test_shipped_scenarios_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    names = {p.name for p in SHIPPED}
    assert {"default.yaml", "mixed-fleet.yaml", "boot-pending.yaml"} <= names
    assert main(["validate", *map(str, SHIPPED)]) == 0
    assert capsys.readouterr().out.count(": ok (") == len(SHIPPED)


def test_mixed_fleet_is_70_30_and_deterministic() -> None:
    scenario = load_scenario("scenarios/mixed-fleet.yaml", environ={})
    versions = [scenario.version_for(i) for i in range(1, 101)]
    assert versions.count("1.6") == 70 and versions.count("2.0.1") == 30
    assert [scenario.version_for(i) for i in range(1, 11)].count("2.0.1") == 3
    assert versions == [scenario.version_for(i) for i in range(1, 101)]


BAD = [
    ("stations:\n  count: -5\n", "stations.count: must be a positive integer, got -5"),
    ("stations:\n  count: many\n", "stations.count: must be an integer, got 'many'"),
    ("stations:\n  cuont: 5\n", "stations.cuont: unknown field (did you mean 'count'?)"),
    ("colour: blue\n", "colour: unknown field"),
    ("stations:\n  ocpp: 1.5\n", "stations.ocpp: must be '1.6', '2.0.1' or a mapping"),
    (
        "stations:\n  ocpp: {'1.6': -1}\n",
        "stations.ocpp.1.6: must be a non-negative integer weight, got -1",
    ),
    ("stations:\n  id_pattern: 'CP {index}'\n", "stations.id_pattern: gives 'CP 1'"),
    (
        "stations:\n  id_pattern: 'CP-{n}'\n",
        "stations.id_pattern: must use exactly the field {index}",
    ),
    ("stations:\n  vendor: " + "x" * 21 + "\n", "stations.vendor: must be at most 20 characters"),
    (
        "stations:\n  connectors: 0\n",
        "stations.connectors: must be an integer of at least 1, got 0",
    ),
    ("csms:\n  url: http://example\n", "csms.url: must be a ws:// or wss:// URL with a host"),
    (
        "csms:\n  url: http://cp:s3cret@example\n",
        "csms.url: must be a ws:// or wss:// URL with a host, got 'http://cp:***@example'",
    ),
    (
        "csms:\n  url: {'1.6': 'ws://cp:s3cret@a/?x'}\n",
        "csms.url.1.6: must not have a query or fragment (the station id is appended), "
        "got 'ws://cp:***@a/?x'",
    ),
    ("csms:\n  url: {'1.7': 'ws://a/'}\n", "csms.url.1.7: is not an OCPP version"),
    ("csms:\n  url: {}\n", "csms.url: must be a ws:// URL, or a mapping of OCPP version to URL"),
    (
        "stations:\n  ocpp: {'1.6': 7, '2.0.1': 3}\ncsms:\n  url: {'1.6': 'ws://a/'}\n",
        "csms.url: has no URL for OCPP 2.0.1 (stations.ocpp has 2.0.1 stations)",
    ),
    ("csms:\n  message_ids: random\n", "csms.message_ids: must be 'uuid' or 'counter'"),
    ("boot:\n  ramp_per_s: fast\n", "boot.ramp_per_s: must be a number, got 'fast'"),
    ("heartbeat:\n  min_s: 10\n  max_s: 5\n", "heartbeat: min_s must not exceed max_s"),
    (
        "responses:\n  Reset: Maybe\n",
        "responses.Reset: must be one of Accepted, Rejected (OCPP 1.6), got 'Maybe'",
    ),
    ("responses:\n  Reboot: Accepted\n", "responses.Reboot: is not a CSMS-initiated action"),
    (
        "responses:\n  Reset: {status: {Accepted: 9, Maybe: 1}}\n",
        "responses.Reset.status: must be one of Accepted, Rejected (OCPP 1.6), got 'Maybe'",
    ),
    (
        "responses:\n  Reset: {status: {Accepted: 0}}\n",
        "responses.Reset.status: must give some status a weight above 0",
    ),
    (
        "sessions:\n  aligned_measurands: [Energy.Active.Import.Register, Frequency]\n",
        "sessions.aligned_measurands: must be among Energy.Active.Import.Register",
    ),
    (
        "responses:\n  UpdateFirmware: Rejected\n",  # 1.6's answer is empty
        "responses.UpdateFirmware.status: has no status to choose (OCPP 1.6)",
    ),
    (
        "responses:\n  GetConfiguration: {status: Accepted}\n",
        "responses.GetConfiguration.status: has no status to choose (OCPP 1.6)",
    ),
    (
        "responses:\n  Reset: {delay_s: {p50: 2, p99: 1}}\n",
        "responses.Reset.delay_s: p50 must not exceed p99",
    ),
    (
        "responses:\n  Reset: {delay_s: {p50: 2}}\n",
        "responses.Reset.delay_s: must be seconds, {min, max} (uniform) or {p50, p99}",
    ),
    ("responses:\n  Reset: {call_errors: 2}\n", "responses.Reset.call_errors: must be"),
    (
        "responses:\n  Reset: {call_errors: 0.6, unanswered: 0.5}\n",
        "responses.Reset: call_errors + unanswered must not exceed 1",
    ),
    (
        "responses:\n  Reset: {error_code: FormatViolation}\n",
        "responses.Reset.error_code: must be an RPC error code of OCPP 1.6",
    ),
    (
        "responses:\n  Reset: {delay: 1}\n",
        "responses.Reset.delay: unknown field (did you mean 'delay_s'?)",
    ),
    (
        "response_groups:\n  - {name: a, shar: 0.5}\n",
        "response_groups[0].shar: unknown field (did you mean 'share'?)",
    ),
    (
        "response_groups:\n  - name: a\n    responses: {Reset: Rejected}\n",
        "response_groups[0]: must pick stations",
    ),
    (
        "response_groups:\n  - {name: a, share: 0.5, responses: {Reset: Nope}}\n",
        "response_groups[0].responses.Reset: must be one of Accepted, Rejected (OCPP 1.6)",
    ),
    (
        "response_groups:\n  - {name: a, share: 0.5}\n  - {name: a, share: 0.1}\n",
        "response_groups[1].name: is used by two groups",
    ),
    (
        "offline:\n  when_full: drop_all\n",
        "offline.when_full: must be 'drop_oldest', 'drop_newest' or 'drop_meter_values'",
    ),
    ("offline:\n  queue_limit: 0\n", "offline.queue_limit: must be an integer of at least 1"),
    ("offline:\n  message_attempts: 0\n", "offline.message_attempts: must be an integer of"),
    ("run:\n  duration_s: 0\n", "run.duration_s: must be a positive number, got 0"),
    ("run:\n  trace: 5\n", "run.trace: must be a list of station ids, got 5"),
    ("run:\n  duration_s: 1\nrun:\n  duration_s: 2\n", "not valid YAML: duplicate key 'run'"),
    (
        "sessions:\n  plug_and_charge: {emaid_pattern: 'DE-{x}'}\n",
        "sessions.plug_and_charge.emaid_pattern: must use exactly the field {n}",
    ),
    (
        "sessions:\n  plug_and_charge: {authority: nowhere}\n",
        "sessions.plug_and_charge.authority: is not a folder",
    ),
    (
        "sessions:\n  plug_and_charge: {validation: remote}\n",
        "sessions.plug_and_charge.validation: must be 'local' or 'central'",
    ),
    ("csms:\n  url: ws://127.0.0.1:70000/ocpp\n", "csms.url: must have a port of 0-65535"),
    ("stations: [1\n", "not valid YAML"),
    ("- just a list\n", "must be a mapping of sections"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e.split(":")[0] for _, e in BAD])
def test_bad_field_names_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, environ={})
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "s3cret" not in str(caught.value)  # a password in a URL is never shown

    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err

    assert main(["run", str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_2_0_1_only_status_is_fine_for_a_2_0_1_fleet(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("stations:\n  ocpp: '2.0.1'\nresponses:\n  Reset: Scheduled\n")
    scenario = load_scenario(path, environ={})
    assert Responder.for_station(scenario, "CP-1", "2.0.1").status("Reset") == "Scheduled"
    path.write_text("stations:\n  ocpp: {'1.6': 1, '2.0.1': 1}\nresponses:\n  Reset: Scheduled\n")
    with pytest.raises(
        ScenarioError, match=r"responses.Reset: must be one of Accepted, Rejected \(OCPP 1.6\)"
    ):
        load_scenario(path, environ={})


def test_url_precedence_file_then_environment_then_flag() -> None:
    path = "scenarios/default.yaml"
    assert load_scenario(path, environ={}).csms.url == "ws://127.0.0.1:9000/ocpp"
    env = {"FLEET_CSMS_URL": "wss://staging.example/ocpp/"}
    assert load_scenario(path, environ=env).csms.url == "wss://staging.example/ocpp"
    flagged = load_scenario(path, {"csms.url": "ws://127.0.0.1:1/x"}, environ=env)
    assert flagged.csms.url == "ws://127.0.0.1:1/x"


def test_a_url_per_version_from_the_file_the_environment_or_a_flag(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "stations:\n  ocpp: {'1.6': 1, '2.0.1': 1}\n"
        "csms:\n  url: {'1.6': 'ws://h:8092/', '2.0.1': 'ws://h:8081/ocpp/'}\n"
    )
    csms = load_scenario(path, environ={}).csms
    assert (csms.url_for("1.6"), csms.url_for("2.0.1")) == ("ws://h:8092", "ws://h:8081/ocpp")
    env = {"FLEET_CSMS_URL": "1.6=ws://a:1/, 2.0.1=wss://cp:s3cret@b/"}
    csms = load_scenario(path, environ=env).csms
    assert (csms.url_for("1.6"), csms.url_for("2.0.1")) == ("ws://a:1", "wss://cp:s3cret@b")
    assert csms.shown() == "1.6=ws://a:1, 2.0.1=wss://cp:***@b"
    one = load_scenario(path, {"csms.url": "ws://c/x"}, environ=env).csms  # one URL for all
    assert (one.url_for("1.6"), one.url_for("2.0.1")) == ("ws://c/x", "ws://c/x")
    assert load_scenario(path, environ={}).csms.message_ids == "uuid"


def test_overrides_are_validated_like_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"stations.count: must be a positive integer, got 0"):
        load_scenario("scenarios/default.yaml", {"stations.count": 0}, environ={})


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such.yaml"]) == 1
    assert "no/such.yaml: cannot read" in capsys.readouterr().err
