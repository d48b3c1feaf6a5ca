"""Security profiles 1-3 end to end: real stations against the embedded CSMS on 127.0.0.1, over
real TLS with certificates made in the test (``fleet.certs``)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from fleet.csms.door import Door, Passwords, server_context
from fleet.errors import ConnectionFailed
from fleet.metrics.actions import actions_json
from fleet.metrics.sample import CONNECT, NEGATIVE_ROWS
from fleet.station.security import access_for, forget_contexts
from fleet.station.state import State
from tests.conftest import accepted, csms_running, fleet_running, make_scenario, wait_until
from tests.test_cli import csms_process

SECRET = "{id}-Very-Secret-42"


@pytest.fixture(autouse=True)
def _fresh_contexts() -> Any:
    forget_contexts()
    yield
    forget_contexts()


def _everything_shown(fleet: Any, caplog: pytest.LogCaptureFixture) -> str:
    """All a user could read: logs, the summary's rows and failures."""
    summary = fleet.summary
    shown = [record.getMessage() for record in caplog.records]
    shown.append(orjson.dumps(actions_json(summary.stats, 1.0)).decode())
    shown.append(orjson.dumps(summary.failures).decode())
    shown.append(repr(fleet.stations[0].scenario))
    return "\n".join(shown)


async def test_profile_1_per_station_passwords_and_a_counted_refusal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The CSMS knows every station's password; the scenario's file has CP-00002's wrong.
    book = tmp_path / "csms.csv"
    book.write_text("".join(f"CP-{i:05d},pw-{i}-0123456789abcdef\n" for i in range(1, 4)))
    ours = tmp_path / "fleet.csv"
    ours.write_text(
        "CP-00001,pw-1-0123456789abcdef\nCP-00002,stale-password-99\nCP-00003,pw-3-0123456789abcdef\n"
    )
    door = Door(Passwords(file=str(book)), require_password=True)
    async with csms_running(door=door) as csms:
        scenario = make_scenario(
            stations={"count": 3},
            security={"profile": 1, "passwords_file": str(ours)},
            csms={"url": csms.url},
        )
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: fleet.station("CP-00001").state is State.ACCEPTED)
            await wait_until(lambda: fleet.station("CP-00003").state is State.ACCEPTED)
            await wait_until(lambda: door.refused["wrong password"] >= 2)
        assert fleet.station("CP-00002").state is not State.ACCEPTED
        refusals = [f for f in fleet.summary.failures if f["action"] == CONNECT]
        assert refusals and {f["station"] for f in refusals} == {"CP-00002"}
        assert refusals[0]["reason"] == "CSMS refused the websocket: HTTP 401 Unauthorized"
        refused = fleet.summary.stats.refused_json()
        assert refused == {"CSMS refused the websocket: HTTP 401 Unauthorized": ["CP-00002"]}
        assert set(csms.ledger) == {"CP-00001", "CP-00003"}
    shown = _everything_shown(fleet, caplog)
    for secret in ("pw-1-0123456789abcdef", "stale-password-99", "pw-3-0123456789abcdef"):
        assert secret not in shown


async def test_a_wrong_password_on_purpose_is_refused_and_counted_not_failed() -> None:
    door = Door(Passwords(SECRET), require_password=True)
    async with csms_running(door=door) as csms:
        scenario = make_scenario(
            stations={"count": 3},
            security={
                "profile": 1,
                "password": SECRET,
                "negative": {"wrong_password": ["CP-00002"]},
            },
            csms={"url": csms.url},
        )
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: door.refused["wrong password"] >= 2)
            await wait_until(
                lambda: all(fleet.station(f"CP-0000{i}").state is State.ACCEPTED for i in (1, 3))
            )
        row = fleet.summary.rows[NEGATIVE_ROWS["wrong_password"]]
        assert row.count >= 2 and row.failures == 0
        assert fleet.summary.failure_count == 0

        # A lax CSMS (no password check) lets the same station in: that is the failure.
        lax = make_scenario(
            stations={"count": 2},
            security={
                "profile": 1,
                "password": SECRET,
                "negative": {"wrong_password": ["CP-00002"]},
            },
        )
    async with csms_running() as careless:
        async with fleet_running(lax, careless.url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        row = fleet.summary.rows[NEGATIVE_ROWS["wrong_password"]]
        assert row.failures >= 1
        assert {f["station"] for f in fleet.summary.failures} == {"CP-00002"}


async def test_profile_2_trusts_the_scenario_ca_and_refuses_the_system_one(certs: Path) -> None:
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"))
    door = Door(Passwords(SECRET), require_password=True)
    async with csms_running(tls=tls, door=door) as csms:
        assert csms.url.startswith("wss://127.0.0.1:")
        trusted = make_scenario(
            stations={"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}},
            security={"profile": 2, "password": SECRET, "ca_file": str(certs / "ca.pem")},
            csms={"url": csms.url},
        )
        async with fleet_running(trusted) as fleet:
            await accepted(fleet)
        assert fleet.summary.failure_count == 0
        assert door.let_in == 2 and not door.refused

        untrusted = make_scenario(
            security={"profile": 2, "password": SECRET}, csms={"url": csms.url}
        )
        async with fleet_running(untrusted) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        reason = fleet.summary.failures[0]["reason"]
        assert reason.startswith("TLS: certificate of 127.0.0.1:") and "not trusted" in reason


async def test_insecure_connects_to_an_untrusted_csms_and_says_so_loudly(
    certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"))
    async with csms_running(tls=tls) as csms:
        scenario = make_scenario(security={"insecure": True}, csms={"url": csms.url})
        async with fleet_running(scenario) as fleet:
            await accepted(fleet)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("NOT verified" in r.getMessage() for r in warnings)


def _profile_3(certs: Path, url: str, **more: Any) -> Any:
    security = {
        "profile": 3,
        "ca_file": str(certs / "ca.pem"),
        "certs_dir": str(certs / "stations"),
    }
    security.update(more)
    return make_scenario(
        stations={"count": 4, "ocpp": {"1.6": 1, "2.0.1": 1}}, security=security, csms={"url": url}
    )


async def test_profile_3_lets_in_each_station_by_its_own_certificate_only(certs: Path) -> None:
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"), str(certs / "ca.pem"))
    door = Door(check_identity=True)
    async with csms_running(tls=tls, door=door) as csms:
        negative = {"foreign_certificate": ["CP-00003"], "expired_certificate": ["CP-00004"]}
        scenario = _profile_3(certs, csms.url, negative=negative)
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: fleet.station("CP-00001").state is State.ACCEPTED)
            await wait_until(lambda: fleet.station("CP-00002").state is State.ACCEPTED)
            await wait_until(
                lambda: fleet.summary.rows.get(NEGATIVE_ROWS["expired_certificate"]) is not None
            )
            await wait_until(lambda: door.refused["certificate for another identity"] >= 1)
        assert fleet.summary.failure_count == 0  # both refusals were what the test wanted
        assert set(csms.ledger) == {"CP-00001", "CP-00002"}
        # The CN checked is the certificate's: CP-00003 showed CP-00001's (or another's).
        assert door.let_in >= 2


async def _alerting_tls_server(context: ssl.SSLContext) -> asyncio.Server:
    """A TLS endpoint that, like nginx or a Java CSMS, sends the TLS alert when it refuses a
    client certificate (Python's asyncio drops it: its servers just close)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    writer.write(outgoing.read())
                    data = await reader.read(65536)
                    if not data:
                        return
                    incoming.write(data)
        except ssl.SSLError:
            writer.write(outgoing.read())  # the alert
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
async def test_profile_3_refusals_read_as_one_line(
    certs: Path, tmp_path: Path, tls_version: str
) -> None:
    """An expired certificate and no certificate at all, as the station reports them."""
    expired_only = tmp_path / "stations"
    expired_only.mkdir()
    for suffix in ("pem", "key"):
        source = certs / "stations" / "expired" / f"CP-00004.{suffix}"
        (expired_only / f"CP-00001.{suffix}").write_bytes(source.read_bytes())
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"), str(certs / "ca.pem"))
    tls.maximum_version = ssl.TLSVersion.TLSv1_2 if tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
    server = await _alerting_tls_server(tls)
    url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
    ca = str(certs / "ca.pem")
    try:
        expired = make_scenario(
            security={"profile": 3, "ca_file": ca, "certs_dir": str(expired_only)},
            csms={"url": url},
        )
        async with fleet_running(expired, url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        reason = fleet.summary.failures[0]["reason"]
        assert reason == "TLS: CSMS refused our certificate (certificate expired)", reason

        without = make_scenario(
            security={"profile": 2, "password": SECRET, "ca_file": ca}, csms={"url": url}
        )
        async with fleet_running(without, url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        reason = fleet.summary.failures[0]["reason"]
        wanted = "certificate required" if tls_version == "1.3" else "handshake failure"
        assert wanted in reason, reason
    finally:
        server.close()

    # The embedded CSMS (asyncio) closes without the alert: the station says what it can.
    async with csms_running(tls=tls, door=Door(check_identity=True)) as csms:
        async with fleet_running(expired, csms.url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        reason = fleet.summary.failures[0]["reason"]
        assert reason.startswith("TLS: 127.0.0.1:"), reason
        assert reason.endswith("(did it refuse our certificate?)"), reason


async def test_a_downgrade_is_refused_by_a_strict_csms_and_caught_on_a_lax_one(
    certs: Path,
) -> None:
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"), str(certs / "ca.pem"))
    async with csms_running(tls=tls, door=Door(check_identity=True)) as strict:
        scenario = _profile_3(
            certs, strict.url, negative={"downgrade": ["CP-00002"], "downgrade_to": 1}
        )
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: fleet.station("CP-00001").state is State.ACCEPTED)
            row = NEGATIVE_ROWS["downgrade"]
            await wait_until(lambda: row in fleet.summary.rows)
        assert fleet.summary.rows[row].failures == 0

    # The same CSMS also serving plain ws:// without checks: the downgraded station gets in.
    async with csms_running(tls=tls, door=Door(check_identity=True)) as strict:
        async with csms_running() as plain:
            scenario = _profile_3(
                certs,
                strict.url,
                negative={"downgrade": ["CP-00002"], "downgrade_to": 1, "downgrade_url": plain.url},
            )
            async with fleet_running(scenario) as fleet:
                await wait_until(lambda: fleet.summary.failure_count >= 1)
            assert fleet.summary.rows[NEGATIVE_ROWS["downgrade"]].failures >= 1
            assert "CP-00002" in plain.ledger


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_password_the_csms_sets_is_used_from_the_next_connect(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fleet.trace")
    door = Door(Passwords(SECRET), require_password=True)
    new_password = "fresh-pw-0123456789"  # 19 bytes: 1.6 keys are 16-20
    async with csms_running(door=door) as csms:
        scenario = make_scenario(
            stations={"ocpp": version},
            security={"profile": 1, "password": SECRET},
            csms={"url": csms.url},
            run={"trace": ["CP-00001"]},  # every frame logged, the password not
        )
        async with fleet_running(scenario) as fleet:
            await accepted(fleet)
            if version == "1.6":
                request: Any = call16.ChangeConfiguration(
                    key="AuthorizationKey", value=new_password.encode().hex()
                )
            else:
                request = call201.SetVariables(
                    set_variable_data=[
                        {
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                            "attribute_value": new_password,
                        }
                    ]
                )
            answer = await csms.call("CP-00001", request)
            status = (
                answer.status
                if version == "1.6"
                else answer.set_variable_result[0]["attribute_status"]
            )
            assert status == "Accepted"
            assert fleet.stations[0].password == new_password.encode()
            # The password is write-only: reading it back shows nothing.
            if version == "1.6":
                shown = await csms.call(
                    "CP-00001", call16.GetConfiguration(key=["AuthorizationKey"])
                )
                assert shown.configuration_key == [{"key": "AuthorizationKey", "readonly": False}]
                profile = await csms.call(
                    "CP-00001", call16.GetConfiguration(key=["SecurityProfile"])
                )
                assert profile.configuration_key == [
                    {"key": "SecurityProfile", "readonly": True, "value": "1"}
                ]
                change = call16.ChangeConfiguration(key="SecurityProfile", value="2")
                assert (await csms.call("CP-00001", change)).status == "Rejected"
            else:
                shown = await csms.call(
                    "CP-00001",
                    call201.GetVariables(
                        get_variable_data=[
                            {
                                "component": {"name": "SecurityCtrlr"},
                                "variable": {"name": "BasicAuthPassword"},
                            }
                        ]
                    ),
                )
                result = shown.get_variable_result[0]
                assert result["attribute_status"] == "Rejected" and "attribute_value" not in result
            # The connection drops; the station comes back with the new password, let in.
            await csms.connections["CP-00001"]._connection.close(1001, "going away")
            await wait_until(lambda: csms.ledger["CP-00001"].connections == 2)
            await accepted(fleet)
        assert not door.refused
        assert door.passwords is not None
        assert door.passwords.expected("CP-00001") == new_password.encode()
        traced = "\n".join(r.getMessage() for r in caplog.records if r.name == "fleet.trace")
        secret_name = "AuthorizationKey" if version == "1.6" else "BasicAuthPassword"
        assert secret_name in traced and '"***"' in traced
        assert new_password not in traced and new_password.encode().hex() not in traced


def test_under_locust_refusals_name_their_stations_and_passwords_stay_hidden(
    tmp_path: Path,
) -> None:
    from tests.test_locust import csv_rows, headless

    passwords = tmp_path / "pw.csv"
    lines = [f"CP-{i:05d},pw{i}-Locust-Secret" for i in range(1, 5)]
    lines[1] = "CP-00002,stale-Locust-Secret"
    passwords.write_text("\n".join(lines) + "\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "stations: {count: 4}\nboot: {ramp_per_s: 100}\n"
        "security: {profile: 1, passwords_file: pw.csv, negative: {wrong_password: [CP-00003]}}\n"
    )
    summary, prefix = tmp_path / "summary.json", tmp_path / "run"
    book = tmp_path / "csms.csv"
    book.write_text("\n".join(f"CP-{i:05d},pw{i}-Locust-Secret" for i in range(1, 5)) + "\n")
    with csms_process("--passwords-file", str(book), "--require-password") as url:
        run = headless(
            url, "--csv", str(prefix), "--summary-json", str(summary),
            "--html", str(tmp_path / "report.html"),
            users=4, run_time="3s", scenario=str(scenario),
        )  # fmt: skip
    assert run.returncode == 1  # CP-00002's refusal is a failure
    data = orjson.loads(summary.read_bytes())
    assert data["security"]["let_in"] == 0
    assert data["security"]["negative"]["wrong_password"]["attempts"] >= 1
    assert data["connect_failures"] == {
        "CSMS refused the websocket: HTTP 401 Unauthorized": ["CP-00002"]
    }
    assert "could not connect (CSMS refused the websocket: HTTP 401 Unauthorized): CP-00002" in (
        run.stdout + run.stderr
    )
    rows = csv_rows(prefix)
    assert int(rows[("WS", "connect")]["Failure Count"]) >= 1
    assert int(rows[("WS", NEGATIVE_ROWS["wrong_password"])]["Failure Count"]) == 0
    # The HTML report's fleet section names the refused station and counts the negative one.
    report = (tmp_path / "report.html").read_text()
    section = report[report.index("Connects refused, and negative connects let in") :]
    assert "<td>CSMS refused the websocket: HTTP 401 Unauthorized</td><td>CP-00002</td>" in section
    assert "<td>wrong password</td>" in section and "<span class='ok'>0</span>" in section
    shown = run.stdout + run.stderr + summary.read_text() + report
    shown += "".join(p.read_text() for p in tmp_path.glob("run_*.csv"))
    assert "Locust-Secret" not in shown


def test_fleet_run_over_mutual_tls_against_fleet_csms(certs: Path, tmp_path: Path) -> None:
    from tests.test_cli import fleet_run

    scenario = tmp_path / "p3.yaml"
    scenario.write_text(
        "stations: {count: 4, ocpp: {'1.6': 1, '2.0.1': 1}}\nboot: {ramp_per_s: 100}\n"
        f"security: {{profile: 3, ca_file: {certs / 'ca.pem'}, certs_dir: {certs / 'stations'},"
        " negative: {foreign_certificate: [CP-00004]}}\n"
    )
    summary = tmp_path / "summary.json"
    tls = ["--tls-cert", str(certs / "csms.pem"), "--tls-key", str(certs / "csms.key")]
    with csms_process(*tls, "--client-ca", str(certs / "ca.pem")) as url:
        assert url.startswith("wss://127.0.0.1:")
        run = fleet_run(
            str(scenario), "--csms", url, "--duration", "3", "--summary-json", str(summary)
        )
    assert run.returncode == 0, run.stdout + run.stderr
    data = orjson.loads(summary.read_bytes())
    assert data["stations"]["accepted"] == 3
    assert data["security"]["let_in"] == 0
    assert data["security"]["negative"]["foreign_certificate"]["attempts"] >= 1
    assert "negative connects let in: 0 (foreign certificate 0 of" in run.stdout
    # The ledger was asked over HTTPS with a station's certificate, and nothing was lost.
    assert data["ledger"] is not None


def _network_profile(slot: int, url: str, profile: int) -> Any:
    connection = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 30,
        "securityProfile": profile,
        "ocppInterface": "Wired0",
    }
    return call201.SetNetworkProfile(configuration_slot=slot, connection_data=connection)


def _comm(name: str, value: str) -> Any:
    item = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name}}
    return call201.SetVariables(set_variable_data=[{**item, "attributeValue": value}])


async def test_a_2_0_1_station_migrates_to_the_network_profile_the_csms_sets() -> None:
    """B09/B10: SetNetworkProfile stores a profile (a downgrade or an unusable one refused),
    NetworkConfigurationPriority takes effect at the reboot, the station then connects with
    that profile; one it cannot connect with is given up after NetworkProfileConnectionAttempts
    for the next in priority."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{probe.getsockname()[1]}/ocpp"
    doors = [Door(Passwords(SECRET), require_password=True) for _ in range(2)]
    async with csms_running(door=doors[0]) as old, csms_running(door=doors[1]) as new:
        scenario = make_scenario(
            stations={"ocpp": "2.0.1"},
            security={"profile": 1, "password": SECRET},
            csms={"url": old.url},
        )
        async with fleet_running(scenario) as fleet:
            await accepted(fleet)
            answers = [
                await old.call("CP-00001", _network_profile(slot, url, profile))
                for slot, url, profile in [
                    (1, new.url, 1),
                    (2, new.url, 0),  # a downgrade
                    (2, new.url.replace("ws://", "wss://"), 1),  # profile 1 is not TLS
                    (7, new.url, 1),  # no such slot
                ]
            ]
            assert [a.status for a in answers] == ["Accepted", "Rejected", "Rejected", "Rejected"]
            changed = await old.call("CP-00001", _comm("NetworkConfigurationPriority", "1,0"))
            assert changed.set_variable_result[0]["attribute_status"] == "RebootRequired"
            assert (
                await old.call("CP-00001", call201.Reset(type="Immediate"))
            ).status == "Accepted"
            await wait_until(lambda: new.ledger.get("CP-00001") is not None)
            await accepted(fleet)
            assert new.ledger["CP-00001"].boot_status == "Accepted"
            # A profile it cannot connect with: two attempts, then the next slot in priority.
            await new.call("CP-00001", _network_profile(2, dead, 1))
            await new.call("CP-00001", _comm("NetworkProfileConnectionAttempts", "2"))
            await new.call("CP-00001", _comm("NetworkConfigurationPriority", "2,1"))
            await new.call("CP-00001", call201.Reset(type="Immediate"))
            await wait_until(lambda: new.ledger["CP-00001"].connections == 2, timeout_s=10)
            await accepted(fleet)
    assert old.ledger["CP-00001"].connections == 1
    refused = [f["reason"] for f in fleet.summary.failures if f["action"] == CONNECT]
    assert len(refused) == 2 and all("connection refused" in r for r in refused)
    assert doors[1].refused == {}  # basic auth on the new CSMS too (profile 1)


def _locked_key(source: Path, target: Path) -> None:
    """``source``'s key written to ``target`` with a password."""
    key = serialization.load_pem_private_key(source.read_bytes(), password=None)
    locked = serialization.BestAvailableEncryption(b"secret")
    target.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, locked)
    )


def test_keys_with_a_password_are_refused_in_one_line_never_prompted_for(
    certs: Path, tmp_path: Path
) -> None:
    """OpenSSL asks a terminal for a key's password: a CSMS starting, or a station
    connecting mid-run, would wait on it. fleet refuses such keys with a reason instead."""
    locked = tmp_path / "locked.key"
    _locked_key(certs / "csms.key", locked)
    reused = tmp_path / "reused"  # fleet certs reuses the CA a folder holds
    reused.mkdir()
    (reused / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    _locked_key(certs / "ca.key", reused / "ca.key")
    csms = ["csms", "--port", "0"]
    for command in (
        [*csms, "--tls-cert", str(certs / "csms.pem"), "--tls-key", str(locked)],
        [*csms, "--signing-ca", str(certs / "ca.pem"), "--signing-key", str(locked)],
        ["certs", "--out", str(reused), "--stations", "1"],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "fleet", *command],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert run.returncode == 2, run.stderr
        assert "the key has a password; fleet takes keys without one" in run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1

    stations = tmp_path / "stations"
    stations.mkdir()
    (stations / "CP-00001.pem").write_bytes((certs / "stations" / "CP-00001.pem").read_bytes())
    _locked_key(certs / "stations" / "CP-00001.key", stations / "CP-00001.key")
    scenario = make_scenario(
        security={"profile": 3, "ca_file": str(certs / "ca.pem"), "certs_dir": str(stations)},
        csms={"url": "wss://127.0.0.1:9/ocpp"},
    )
    with pytest.raises(ConnectionFailed, match="the key has a password; fleet takes keys without"):
        access_for(scenario.security, scenario.csms.url, "CP-00001")
