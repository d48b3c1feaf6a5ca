"""Plug & Charge sessions, without sockets: the Authorize a contract's EV makes a station send
(2.0.1 natively, 1.6 inside DataTransfer), checked against the schemas and against the real
certificates behind it, and what the CSMS's answers do to the session."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from ocpp.charge_point import snake_to_camel_case

from fleet import wire
from fleet.certs import new_authority, write_pair
from fleet.csms.plug_and_charge import keeps_within
from fleet.errors import ScenarioError
from fleet.scenario import load_scenario
from fleet.scenario_charging import Evse, PlugAndCharge, Sessions
from fleet.station import pnc
from fleet.station import smart_charging as sc
from fleet.station.behaviour import format_time
from fleet.station.connectors import Status
from fleet.station.contracts import Contracts, contracts_for
from fleet.station.generator import SessionGenerator
from fleet.station.intents import Send
from fleet.station.sessions import Charger, Phase
from fleet.station.settings import tx_defaults
from fleet.station.transaction import TxSettings
from tests.station.test_sessions import FAST, T0, charger, valid

PNC = FAST.model_copy(update={"plug_and_charge": PlugAndCharge(share=1.0)})
CENTRAL = FAST.model_copy(
    update={"plug_and_charge": PlugAndCharge(share=1.0, validation="central")}
)
ACCEPTED = {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
ACCEPTED16 = {"status": "Accepted", "data": orjson.dumps(ACCEPTED).decode()}  # in DataTransfer
NO_NEEDS = FAST.model_copy(
    update={"plug_and_charge": PlugAndCharge(share=1.0, charging_needs=False)}
)
CHAIN_ERROR = {**ACCEPTED, "certificateStatus": "CertChainError"}


def _arrive(version: str, config: Sessions = PNC) -> tuple[Charger, list[Send]]:
    c = charger(version, config)
    c.begin(T0)
    assert c.wake_at is not None
    return c, valid(version, c.on_wake(c.wake_at))


def _key_bits(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_a_2_0_1_ev_authorises_with_the_ocsp_data_of_its_real_chain() -> None:
    c, out = _arrive("2.0.1")
    assert [s.action for s in out] == ["StatusNotification", "Authorize"]
    authorize = out[1]
    assert authorize.row == pnc.ROW == "Authorize(PnC)"
    token = authorize.payload["idToken"]
    assert token["type"] == "eMAID" and token["idToken"].startswith("DEFLTC")
    hashes = authorize.payload["iso15118CertificateHashData"]
    assert "certificate" not in authorize.payload
    # The data names the chain the contract really has: the leaf, then its sub-CA (the root
    # left out), each by its issuer's name and key and its own serial number.
    contract = contracts_for(PNC.plug_and_charge).of(token["idToken"])
    leaf, sub_ca = x509.load_pem_x509_certificates(contract.chain.encode())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == token["idToken"]
    leaf.verify_directly_issued_by(sub_ca)
    assert [h["serialNumber"] for h in hashes] == [
        format(leaf.serial_number, "x"),
        format(sub_ca.serial_number, "x"),
    ]
    assert hashes[0]["issuerNameHash"] == hashlib.sha256(sub_ca.subject.public_bytes()).hexdigest()
    assert hashes[0]["issuerKeyHash"] == hashlib.sha256(_key_bits(sub_ca)).hexdigest()
    assert hashes[1]["issuerNameHash"] == hashlib.sha256(sub_ca.issuer.public_bytes()).hexdigest()
    assert {h["responderURL"] for h in hashes} == {"http://ocsp.fleet.invalid/"}

    # Accepted with its chain: the transaction carries the contract id as an eMAID token.
    assert authorize.judge(ACCEPTED) is None
    out = valid("2.0.1", c.on_answer("Authorize", ACCEPTED, c.wake_at or T0))
    started = [s for s in out if s.action == "TransactionEvent"]
    assert started and started[0].payload["idToken"] == token


def test_a_central_validation_sends_the_chain_the_csms_can_verify() -> None:
    _, out = _arrive("2.0.1", CENTRAL)
    authorize = out[1]
    assert "iso15118CertificateHashData" not in authorize.payload
    leaf, sub_ca = x509.load_pem_x509_certificates(authorize.payload["certificate"].encode())
    leaf.verify_directly_issued_by(sub_ca)
    emaid = authorize.payload["idToken"]["idToken"]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == emaid


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (
            {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "CertificateRevoked"},
            "certificateStatus CertificateRevoked",
        ),
        ({"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "Accepted"}, None),
    ],
)
def test_a_contract_the_csms_refuses_sends_the_driver_away(
    answer: dict[str, object], failure: str | None
) -> None:
    """A revoked chain is a failure of the row (the CSMS found the PKI wanting); a refused
    token with a good chain is the CSMS's word on the driver, as a refused tag is."""
    c, out = _arrive("2.0.1")
    assert out[1].judge(answer) == failure
    out = valid("2.0.1", c.on_answer("Authorize", answer, c.wake_at or T0))
    assert [s.payload["connectorStatus"] for s in out] == ["Available"]
    assert c.phase is Phase.IDLE and c.counts.started == 0


def test_a_1_6_ev_authorises_through_data_transfer() -> None:
    c, out = _arrive("1.6")
    transfer = out[1]
    assert (transfer.action, transfer.row) == ("DataTransfer", "Authorize(PnC)")
    assert transfer.payload["vendorId"] == "org.openchargealliance.iso15118pnc"
    assert transfer.payload["messageId"] == "Authorize"
    inner = orjson.loads(transfer.payload["data"])
    wire.validate("2.0.1", "Authorize", "request", inner)  # the 2.0.1 message, as the OCA says
    emaid = inner["idToken"]["idToken"]
    assert inner["idToken"]["type"] == "eMAID" and len(inner["iso15118CertificateHashData"]) == 2

    answer = {"status": "Accepted", "data": orjson.dumps(ACCEPTED).decode()}
    assert transfer.judge(answer) is None
    out = valid("1.6", c.on_answer("DataTransfer", answer, T0 + 60))
    assert [(s.action, s.payload["idTag"]) for s in out] == [("StartTransaction", emaid)]


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (
            {"status": "UnknownVendorId"},
            "DataTransfer UnknownVendorId: the CSMS did not take the Plug & Charge Authorize",
        ),
        (
            {"status": "Accepted", "data": "{}"},
            "DataTransfer data holds no AuthorizeResponse (idTokenInfo.status)",
        ),
        (
            {"status": "Accepted", "data": orjson.dumps(CHAIN_ERROR).decode()},
            "certificateStatus CertChainError",
        ),
    ],
)
def test_a_1_6_csms_without_plug_and_charge_leaves_the_driver_uncharged(
    answer: dict[str, str], failure: str
) -> None:
    c, out = _arrive("1.6")
    assert out[1].judge(answer) == failure
    out = valid("1.6", c.on_answer("DataTransfer", answer, T0 + 60))
    assert [s.payload["status"] for s in out] == ["Available"]
    assert c.phase is Phase.IDLE and c.connector.status is Status.AVAILABLE


def test_the_share_of_contract_evs_is_drawn_per_driver() -> None:
    config = FAST.model_copy(update={"plug_and_charge": PlugAndCharge(share=0.3, contracts=50)})
    demands = [SessionGenerator.for_connector(config, f"CP-{n}", 1).demand() for n in range(2000)]
    contracts = [d for d in demands if d.contract]
    assert 0.25 < len(contracts) / len(demands) < 0.35
    assert {d.id_tag[:6] for d in contracts} == {"DEFLTC"}
    assert len({d.id_tag for d in contracts}) == 50  # the pool, every contract met
    assert not any(d.id_tag.startswith("DEFLTC") for d in demands if not d.contract)


def test_a_remote_start_is_a_tag_even_where_evs_hold_contracts() -> None:
    c = charger("2.0.1", PNC)
    c.begin(T0)
    out = valid("2.0.1", c.remote_start("REMOTE-1", T0 + 1, 7))
    started = [s for s in out if s.action == "TransactionEvent"]
    assert started[0].payload["idToken"] == {"idToken": "REMOTE-1", "type": "ISO14443"}


def test_contracts_from_the_scenario_s_authority_are_issued_by_it(tmp_path: Path) -> None:
    authority = new_authority(name="MO test CA")
    write_pair(tmp_path, "ca", authority.certificate, authority.key)
    text = f"sessions:\n  plug_and_charge: {{share: 1, authority: {tmp_path}}}\n"
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(text)
    config = load_scenario(scenario_file, environ={}).sessions.plug_and_charge
    contract = contracts_for(config).of("DEFLTC000000001")
    leaf, issuer = x509.load_pem_x509_certificates(contract.chain.encode())
    assert issuer == authority.certificate
    leaf.verify_directly_issued_by(authority.certificate)
    assert len(contract.hash_data) == 1  # the CA's own issuer is not fleet's to name
    assert contracts_for(config).of("DEFLTC000000001") is contract  # made once

    locked = serialization.BestAvailableEncryption(b"secret")
    pkcs8 = serialization.PrivateFormat.PKCS8
    (tmp_path / "ca.key").write_bytes(
        authority.key.private_bytes(serialization.Encoding.PEM, pkcs8, locked)
    )
    with pytest.raises(ScenarioError) as caught:  # one line, not a traceback
        load_scenario(scenario_file, environ={})
    assert "ca.key: the key has a password; fleet takes keys without one" in str(caught.value)
    (tmp_path / "ca.key").unlink()
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_file, environ={})
    assert "sessions.plug_and_charge.authority: must hold ca.pem and ca.key" in str(caught.value)


def test_each_contract_is_its_own_certificate_the_same_in_every_process() -> None:
    contracts = Contracts(None, "http://ocsp.example/")
    one, two = contracts.of("DEFLTC000000001"), contracts.of("DEFLTC000000002")
    assert one.hash_data[0]["serialNumber"] != two.hash_data[0]["serialNumber"]
    assert one.hash_data[1] == two.hash_data[1]  # one sub-CA issues both
    # Another worker process (or run) presents the same contract: its OCSP data byte for byte.
    code = (
        "import json; from fleet.station.contracts import Contracts; "
        "print(json.dumps(Contracts(None, 'http://ocsp.example/').of('DEFLTC000000001').hash_data))"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert tuple(json.loads(elsewhere.stdout)) == one.hash_data


def _settings(config: Sessions, **changed: str) -> TxSettings:
    return TxSettings.of(config, changed, v201=True)


PLUG_FIRST = PNC.model_copy(update={"start": "plug_first"})  # 2.0.1: Started on the cable


@pytest.mark.parametrize(
    ("config", "changed"),
    [
        (PNC, {"ISO15118PnCEnabled": "false"}),
        (PLUG_FIRST, {"ISO15118PnCEnabled": "false"}),
        (CENTRAL, {"CentralContractValidationAllowed": "false"}),
    ],
)
def test_a_station_that_takes_no_contract_has_the_driver_badge(
    config: Sessions, changed: dict[str, str]
) -> None:
    """Plug & Charge switched off (ISO15118PnCEnabled / ISO15118Ctrlr.PnCEnabled), or a chain
    the station cannot validate and may not hand over (CentralContractValidationAllowed)."""
    c = charger("2.0.1", config, settings=_settings(config, **changed))
    c.begin(T0)
    assert c.wake_at is not None
    out = valid("2.0.1", c.on_wake(c.wake_at))
    authorize = out[-1]
    assert authorize.row is None and authorize.judge is None
    token = authorize.payload["idToken"]
    assert token["type"] == "ISO14443" and token["idToken"].startswith("TAG-")
    out = valid("2.0.1", c.on_answer("Authorize", {"idTokenInfo": {"status": "Accepted"}}, T0))
    events = [s for s in out if s.action == "TransactionEvent"]  # Started, or Updated
    assert events[0].payload["idToken"] == token
    # Allowed again, the next contract EV uses its contract.
    assert pnc.takes_contracts(_settings(config), config.plug_and_charge.validation)


@pytest.mark.parametrize(("offline_key", "starts"), [("true", True), ("false", False)])
def test_offline_a_contract_is_validated_by_the_station_when_its_key_says_so(
    offline_key: str, starts: bool
) -> None:
    settings = _settings(PNC, ContractValidationOffline=offline_key)
    c = charger("2.0.1", PNC, settings=settings)
    c.begin(T0)
    assert c.went_offline(T0) == []
    assert c.wake_at is not None
    out = valid("2.0.1", c.on_wake(c.wake_at))
    assert "Authorize" not in [s.action for s in out]  # nobody to ask
    started = [s for s in out if s.action == "TransactionEvent"]
    assert bool(started) is starts and (c.phase is Phase.CHARGING) is starts
    if starts:
        assert started[0].payload["idToken"]["type"] == "eMAID"


def test_the_station_shows_its_plug_and_charge_keys_as_the_scenario_says() -> None:
    assert tx_defaults(PNC)["ISO15118PnCEnabled"] == "true"
    assert tx_defaults(FAST)["ISO15118PnCEnabled"] == "false"
    assert tx_defaults(CENTRAL)["CentralContractValidationAllowed"] == "true"
    assert tx_defaults(PNC)["CentralContractValidationAllowed"] == "false"


@pytest.mark.parametrize("config", [PNC, PLUG_FIRST])
def test_an_iso_15118_ev_tells_its_charging_needs_once_authorised(config: Sessions) -> None:
    c = charger("2.0.1", config)
    c.begin(T0)
    arrival = c.wake_at
    assert arrival is not None
    out = valid("2.0.1", c.on_wake(arrival))
    assert "NotifyEVChargingNeeds" not in [s.action for s in out]  # not before it may charge
    demand = c.demand
    assert demand is not None
    out = valid("2.0.1", c.on_answer("Authorize", ACCEPTED, arrival))
    needs = [s for s in out if s.action == "NotifyEVChargingNeeds"]
    assert len(needs) == 1 and needs[0].payload["evseId"] == 1
    asked = needs[0].payload["chargingNeeds"]
    assert asked["requestedEnergyTransfer"] == "AC_three_phase"  # Evse(): 3 x 230 V x 32 A
    energy_wh = (demand.soc_target - demand.soc_start) * demand.battery_kwh * 1000
    ac = asked["acChargingParameters"]
    assert ac["energyAmount"] == pytest.approx(energy_wh, abs=1)
    assert ac["evMaxCurrent"] == int(demand.ev_max_kw * 1000 / (3 * 230))
    assert ac["evMaxVoltage"] == 230
    assert asked["departureTime"] == format_time(arrival + 600)  # plug_in_min: 10


def test_a_dc_ev_tells_its_battery_and_power() -> None:
    c = charger("2.0.1", PNC, evse=Evse(current="DC", max_power_kw=150))
    c.begin(T0)
    arrival = c.wake_at
    assert arrival is not None
    valid("2.0.1", c.on_wake(arrival))
    demand = c.demand
    assert demand is not None
    out = valid("2.0.1", c.on_answer("Authorize", ACCEPTED, arrival))
    asked = next(s for s in out if s.action == "NotifyEVChargingNeeds").payload["chargingNeeds"]
    dc = asked["dcChargingParameters"]
    assert asked["requestedEnergyTransfer"] == "DC" and "acChargingParameters" not in asked
    assert dc["evMaxPower"] == int(demand.ev_max_kw * 1000)
    assert dc["evEnergyCapacity"] == int(demand.battery_kwh * 1000)
    assert (dc["stateOfCharge"], dc["fullSoC"]) == (20, 90)  # FAST's soc_start and soc_target


@pytest.mark.parametrize(
    ("version", "config", "action", "answer"),
    [("1.6", PNC, "DataTransfer", ACCEPTED16), ("2.0.1", NO_NEEDS, "Authorize", ACCEPTED)],
)
def test_no_charging_needs_in_1_6_or_when_the_scenario_says_none(
    version: str, config: Sessions, action: str, answer: dict[str, Any]
) -> None:
    c, _ = _arrive(version, config)
    out = valid(version, c.on_answer(action, answer, c.wake_at or T0))
    assert out and "NotifyEVChargingNeeds" not in [s.action for s in out]


@pytest.mark.parametrize(("offline_key", "starts"), [("true", True), ("false", False)])
def test_a_contract_waiting_on_a_csms_that_went_away_follows_the_same_rule(
    offline_key: str, starts: bool
) -> None:
    c = charger("2.0.1", PNC, settings=_settings(PNC, ContractValidationOffline=offline_key))
    c.begin(T0)
    arrival = c.wake_at
    assert arrival is not None
    out = valid("2.0.1", c.on_wake(arrival))
    assert out[-1].row == pnc.ROW  # asked, no answer yet
    out = valid("2.0.1", c.went_offline(arrival + 1))
    assert (c.phase is Phase.CHARGING) is starts
    assert bool([s for s in out if s.action == "TransactionEvent"]) is starts


def test_an_iso_15118_ev_chooses_its_schedule_within_the_profile_and_what_it_takes() -> None:
    """NotifyEVChargingSchedule (K15): the TxProfile's periods, each capped at what the EV
    takes in the profile's unit, from the profile's start."""
    c = charger("2.0.1", PNC)
    c.begin(T0)
    assert c.wake_at is not None
    c.on_wake(c.wake_at)
    assert c.demand is not None
    demand = dataclasses.replace(c.demand, ev_max_kw=11.0)
    ev_amps = 11_000 / (3 * 230)  # per phase, on Evse()'s 3 x 230 V: 15.9 A
    raw = {
        "id": 4,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "transaction_id": "tx-1",
        "charging_schedule": [
            {
                "id": 40,
                "start_schedule": format_time(T0),
                "duration": 7200,
                "charging_rate_unit": "A",
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 10.0, "number_phases": 3},
                    {"start_period": 1800, "limit": 63.0},  # above what the EV takes
                ],
            }
        ],
    }
    profile = sc.parse201(raw, 1, snake_to_camel_case(raw))
    told = pnc.ev_schedule(profile, demand, Evse(), T0 + 60)
    wire.checker("2.0.1", "NotifyEVChargingSchedule", "request")(told)
    assert told["timeBase"] == format_time(T0) and told["evseId"] == 1
    schedule = told["chargingSchedule"]
    assert (schedule["id"], schedule["chargingRateUnit"], schedule["duration"]) == (40, "A", 7200)
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 3},
        {"startPeriod": 1800, "limit": round(ev_amps, 1)},
    ]
    # A relative profile in W starts now; the EV's own maximum in W caps it.
    relative = {**raw, "charging_profile_kind": "Relative"}
    relative["charging_schedule"] = [
        {
            "id": 41,
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 1e6}],
        }
    ]
    profile = sc.parse201(relative, 1, snake_to_camel_case(relative))
    told = pnc.ev_schedule(profile, demand, Evse(), T0 + 60)
    assert told["timeBase"] == format_time(T0 + 60)
    limit = told["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
    assert limit == round(demand.ev_max_kw * 1000, 1)


def test_the_embedded_csms_accepts_an_ev_schedule_within_the_limit_it_gave() -> None:
    def schedule(*limits: float, unit: str = "W") -> dict[str, Any]:
        periods = [{"startPeriod": 600 * i, "limit": lim} for i, lim in enumerate(limits)]
        return {"id": 1, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}

    assert keeps_within(schedule(7400.0, 7000.0), 7400.0)
    assert not keeps_within(schedule(7400.0, 7400.1), 7400.0)
    assert keeps_within(schedule(99_000.0), None)  # it levelled nothing there
