"""Security decisions without a network: the scenario's security section, what a station
presents (``station.security``), the passwords a CSMS may set, and ``fleet certs`` output as
Python's ssl module reads it."""

from __future__ import annotations

import base64
import random
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from fleet.errors import ScenarioError
from fleet.scenario import load_scenario
from fleet.scenario_security import Negative, picked
from fleet.station.security import (
    access_for,
    authorization_key,
    basic_auth_password,
    basic_authorization,
    forget_contexts,
)

SECRET = "{id}-Very-Secret-42"


def _scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def _credentials(header: str | None) -> bytes:
    assert header is not None and header.startswith("Basic ")
    return base64.b64decode(header.removeprefix("Basic "))


def test_passwords_come_per_station_from_the_template_file_or_environment(
    tmp_path: Path,
) -> None:
    path = _scenario_file(
        tmp_path,
        "csms: {url: 'ws://127.0.0.1:9/ocpp'}\nsecurity: {profile: 1, password: '{id}-pw'}\n",
    )
    scenario = load_scenario(path, environ={})
    access = access_for(scenario.security, scenario.csms.url_for("1.6"), "CP-00007")
    assert _credentials(access.authorization) == b"CP-00007:CP-00007-pw"

    # The environment variable keeps the secret out of the file and wins over it.
    scenario = load_scenario(path, environ={"FLEET_STATION_PASSWORD": "env-{id}"})
    assert scenario.security.password_for("CP-00002") == "env-CP-00002"

    (tmp_path / "pw.csv").write_text("# id,password\nCP-00001,one, with comma\nCP-00002,two\n")
    path = _scenario_file(
        tmp_path,
        "csms: {url: 'ws://127.0.0.1:9/ocpp'}\nstations: {count: 2}\n"
        "security: {profile: 1, passwords_file: pw.csv}\n",  # relative to the scenario file
    )
    scenario = load_scenario(path, environ={})
    assert scenario.security.password_for("CP-00001") == "one, with comma"
    assert scenario.security.password_for("CP-00002") == "two"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "security: {profile: 2, password: x}",
            "csms.url",
            "must be wss:// for security profile 2",
        ),
        ("security: {profile: 1}", "security.password", "profile 1 sends HTTP Basic auth"),
        (
            "csms: {url: 'wss://h/ocpp'}\nsecurity: {profile: 1, password: x}",
            "security.profile",
            "profile 1 is Basic auth without TLS",
        ),
        (
            "csms: {url: 'wss://h/ocpp'}\nsecurity: {profile: 3}",
            "security.certs_dir",
            "needs a folder of station certificates",
        ),
        ("security: {password: '{idx}'}", "security.password", "may use only the field {id}"),
        ("security: {ca_file: nowhere.pem}", "security.ca_file", "is not a readable file"),
        (
            "stations: {count: 3}\nsecurity: {profile: 1, passwords_file: pw.csv}",
            "security.passwords_file",
            "has no password for CP-00003",
        ),
        (
            "csms: {url: 'wss://h/ocpp'}\nstations: {count: 2}\n"
            "security: {profile: 3, certs_dir: certs}",
            "security.certs_dir",
            "has no CP-00002.pem and CP-00002.key",
        ),
        (
            "security: {negative: {wrong_password: 1.5}}",
            "security.negative.wrong_password",
            "share of stations (0-1)",
        ),
    ],
)
def test_bad_security_sections_are_refused_naming_the_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    (tmp_path / "pw.csv").write_text("CP-00001,a\nCP-00002,b\n")
    (tmp_path / "certs").mkdir()
    for suffix in ("pem", "key"):
        (tmp_path / "certs" / f"CP-00001.{suffix}").write_text("x")
    path = _scenario_file(tmp_path, text + "\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, environ={})
    message = str(caught.value)
    assert f": {field}: " in message and words in message, message


def test_a_refused_password_is_never_shown(tmp_path: Path) -> None:
    path = _scenario_file(tmp_path, "security: {password: 'hunter2-{idx}'}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, environ={})
    assert "hunter2" not in str(caught.value)
    scenario = load_scenario(
        _scenario_file(tmp_path, "security: {password: 'hunter2-{id}'}\n"), environ={}
    )
    assert "hunter2" not in repr(scenario) and "hunter2" not in str(scenario.model_dump())


def test_what_a_misbehaving_station_presents() -> None:
    security = load_security(profile=1, password=SECRET, negative={"wrong_password": ["CP-00002"]})
    right = access_for(security, "ws://127.0.0.1:9/ocpp", "CP-00002")
    wrong = access_for(security, "ws://127.0.0.1:9/ocpp", "CP-00002", "wrong_password")
    assert _credentials(right.authorization) == b"CP-00002:CP-00002-Very-Secret-42"
    assert _credentials(wrong.authorization) != _credentials(right.authorization)
    assert wrong.negative == "wrong_password"

    # A downgrade from profile 2 to 1: ws:// on the same address, the password still sent.
    security = load_security(profile=2, password=SECRET, insecure=True)
    down = access_for(security, "wss://127.0.0.1:9/ocpp", "CP-00001", "downgrade")
    assert down.url == "ws://127.0.0.1:9/ocpp" and down.tls is None
    assert _credentials(down.authorization) == b"CP-00001:CP-00001-Very-Secret-42"
    full = access_for(security, "wss://127.0.0.1:9/ocpp", "CP-00001")
    assert full.tls is not None and full.tls.minimum_version is ssl.TLSVersion.TLSv1_2

    # A password the CSMS set replaces the scenario's.
    changed = access_for(security, "wss://127.0.0.1:9/ocpp", "CP-00001", password=b"\x00\xff")
    assert _credentials(changed.authorization) == b"CP-00001:\x00\xff"


def load_security(**section: object) -> object:
    from fleet.scenario import Scenario

    url = "wss://127.0.0.1:9/ocpp" if section.get("profile") in (2, 3) else "ws://127.0.0.1:9/o"
    return Scenario.model_validate({"csms": {"url": url}, "security": section}).security


def test_tls_contexts_are_built_once_per_configuration() -> None:
    forget_contexts()
    security = load_security(profile=2, password=SECRET, insecure=True)
    first = access_for(security, "wss://127.0.0.1:9/ocpp", "CP-00001").tls
    second = access_for(security, "wss://127.0.0.1:9/ocpp", "CP-00002").tls
    assert first is second and first is not None and first.verify_mode is ssl.CERT_NONE
    other = load_security(profile=2, password=SECRET, tls_min="1.3", insecure=True)
    third = access_for(other, "wss://127.0.0.1:9/ocpp", "CP-00001").tls
    assert third is not first and third is not None
    assert third.minimum_version is ssl.TLSVersion.TLSv1_3
    forget_contexts()


def test_shares_pick_the_same_stations_every_time_and_about_the_share() -> None:
    ids = [f"CP-{random.randrange(10**8):08d}" for _ in range(20_000)]
    taken = [i for i in ids if picked(0.1, 7, "wrong_password", i)]
    assert 1_700 < len(taken) < 2_300
    assert taken == [i for i in ids if picked(0.1, 7, "wrong_password", i)]
    assert taken != [i for i in ids if picked(0.1, 8, "wrong_password", i)]  # the seed counts
    assert not any(picked(0.0, 7, "downgrade", i) for i in ids)
    assert picked(("CP-1",), 7, "downgrade", "CP-1") and not picked(("CP-1",), 7, "x", "CP-2")
    # A station shows one misbehaviour at most, the first that picks it.
    negative = Negative(wrong_password=1.0, downgrade=1.0)
    assert negative.kind_for(0, "CP-1") == "wrong_password"


def test_passwords_a_csms_may_set() -> None:
    # 1.6 AuthorizationKey: hex-encoded, 16-20 bytes once decoded (Security Whitepaper).
    assert authorization_key(b"0123456789abcdef".hex()) == b"0123456789abcdef"
    assert authorization_key("00ff" * 8) == b"\x00\xff" * 8  # binary, not text
    assert authorization_key(b"short".hex()) is None
    assert authorization_key("ab" * 21) is None  # 21 bytes
    assert authorization_key("not hex at all, not hex at all!!") is None
    # 2.0.1 BasicAuthPassword: 16 to 40 characters, as sent.
    assert basic_auth_password("a" * 16) == b"a" * 16
    assert basic_auth_password("a" * 15) is None and basic_auth_password("a" * 41) is None
    assert basic_authorization("CP-1", b"pw") == "Basic " + base64.b64encode(b"CP-1:pw").decode()


def test_fleet_certs_output_is_accepted_by_python_ssl(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    scenario = _scenario_file(
        tmp_path,
        "stations: {count: 3, id_pattern: 'EVSE-{index:03d}'}\n"
        "csms: {url: 'wss://127.0.0.1:9/ocpp'}\n"
        "security: {profile: 3, certs_dir: certs/stations, "
        "negative: {expired_certificate: [EVSE-002]}}\n",
    )
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "certs", "--out", str(out), "--scenario", str(scenario)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 station certificates" in done.stdout and "1 expired" in done.stdout
    names = sorted(p.name for p in (out / "stations").glob("*.pem"))
    assert names == ["EVSE-001.pem", "EVSE-002.pem", "EVSE-003.pem"]
    assert (out / "stations" / "EVSE-002.key").stat().st_mode & 0o077 == 0
    certificate = x509.load_pem_x509_certificate((out / "stations" / "EVSE-003.pem").read_bytes())
    cn = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "EVSE-003"
    # The scenario that named the folder now validates.
    assert load_scenario(scenario, environ={}).security.profile == 3

    # A real handshake, both sides verifying: the CSMS's certificate for 127.0.0.1, the
    # station's signed by the same CA; the expired one refused.
    assert _handshake(out, out / "stations" / "EVSE-001") == "EVSE-001"
    with pytest.raises(ssl.SSLError, match="expired"):
        _handshake(out, out / "stations" / "expired" / "EVSE-002")


def _handshake(out: Path, station: Path) -> str:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(out / "csms.pem", out / "csms.key")
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(out / "ca.pem")
    client = ssl.create_default_context(cafile=str(out / "ca.pem"))
    client.load_cert_chain(station.with_suffix(".pem"), station.with_suffix(".key"))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    a = client.wrap_bio(pipes[0], pipes[1], server_hostname="127.0.0.1")
    b = server.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {a: False, b: False}
    for _ in range(10):
        for side, outgoing, peer_in in ((a, pipes[1], pipes[2]), (b, pipes[3], pipes[0])):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(outgoing.read())
        if all(done.values()):
            break
    subject = dict(item[0] for item in b.getpeercert()["subject"])
    return str(subject["commonName"])
