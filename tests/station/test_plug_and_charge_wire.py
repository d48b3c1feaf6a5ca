"""Plug & Charge over real sockets against the embedded CSMS: what a fleet whose EVs hold
contracts sends (both versions, both validations), what the CSMS makes of the chains, and the
rows a user reads."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cryptography import x509
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.certs import certificate_pem, new_authority, new_key
from fleet.certs import issue as issue_certificate
from fleet.csms import plug_and_charge
from fleet.csms.plug_and_charge import leveled_limit_w
from fleet.csms.tags import TagPolicy
from fleet.station.behaviour import format_time
from tests.conftest import (
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)
from tests.station.test_charging import QUICK
from tests.station.test_smart_charging_wire import powers

MIXED = {"count": 4, "ocpp": {"1.6": 1, "2.0.1": 1}}
PNC_KEY = "ISO15118PnCEnabled"  # 2.0.1: ISO15118Ctrlr.PnCEnabled
PNC_VARIABLE = {"component": {"name": "ISO15118Ctrlr"}, "variable": {"name": "PnCEnabled"}}


def _contract_requests(csms: Any) -> list[tuple[str, dict[str, Any]]]:
    """(version, the 2.0.1 AuthorizeRequest) of every Plug & Charge Authorize the CSMS got."""
    out = []
    for c in calls(csms):
        action, payload = c.message[2], c.message[3]
        if action == "DataTransfer" and payload["messageId"] == "Authorize":
            out.append(("1.6", orjson.loads(payload["data"])))
        elif action == "Authorize":
            out.append(("2.0.1", payload))
    return out


def _started_tokens(csms: Any) -> list[tuple[str, str]]:
    """(token type, token) of every transaction start the CSMS saw (1.6 has no type)."""
    out = []
    for c in calls(csms):
        action, payload = c.message[2], c.message[3]
        if action == "StartTransaction":
            out.append(("", payload["idTag"]))
        elif action == "TransactionEvent" and "idToken" in payload:
            out.append((payload["idToken"]["type"], payload["idToken"]["idToken"]))
    return out


@pytest.mark.parametrize("validation", ["local", "central"])
async def test_contract_evs_authorise_and_charge_in_both_versions(validation: str) -> None:
    sessions = {**QUICK, "plug_and_charge": {"share": 1, "validation": validation}}
    scenario = make_scenario(stations=MIXED, sessions=sessions)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: {"", "eMAID"} <= {kind for kind, _ in _started_tokens(csms)}, 15
            )
    assert fleet.summary.failures == []
    assert assert_schema_valid(csms) > 10
    requests = _contract_requests(csms)
    assert {version for version, _ in requests} == {"1.6", "2.0.1"}
    key = "certificate" if validation == "central" else "iso15118CertificateHashData"
    for _, request in requests:
        assert key in request and request["idToken"]["type"] == "eMAID"
        # what the embedded CSMS makes of it: a chain it parsed and verified
        assert plug_and_charge.certificate_status(request) == "Accepted"
    needs = calls(csms, action="NotifyEVChargingNeeds")  # ISO 15118 EVs' needs: 2.0.1 only
    assert needs and {c.version for c in needs} == {"2.0.1"}
    assert not calls(csms, action="NotifyEVChargingSchedule")  # the CSMS set no profile
    contracts = {request["idToken"]["idToken"] for _, request in requests}
    assert {token for _, token in _started_tokens(csms)} <= contracts
    # One row for both versions (1.6's is a DataTransfer): the CSMS's contract checks apart.
    rows = fleet.summary.stats.wire
    assert rows["OCPP1.6", "Authorize(PnC)"].count and rows["OCPP2.0.1", "Authorize(PnC)"].count
    assert not {name for _, name in rows} & {"Authorize", "DataTransfer"}


async def test_refused_contracts_leave_their_drivers_uncharged_without_failures() -> None:
    sessions = {**QUICK, "plug_and_charge": {"share": 1}}
    scenario = make_scenario(stations=MIXED, sessions=sessions)
    tags = TagPolicy(reject=("DEFLTC*",))
    async with csms_running(interval_s=60, tags=tags) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_contract_requests(csms)) >= 8, 15)
    assert _started_tokens(csms) == []
    assert fleet.summary.failures == []  # a refused token is the CSMS's word, not a failure


async def test_revoked_contracts_are_failures_of_their_row_with_the_reason() -> None:
    """fleet csms --revoke-contracts: the CSMS found a contract's certificate revoked; the EV
    could not charge, which the row and the failures table say (both versions)."""
    sessions = {**QUICK, "plug_and_charge": {"share": 1}}
    scenario = make_scenario(stations=MIXED, sessions=sessions)
    async with csms_running(interval_s=60, tags=TagPolicy(revoke=("DEFLTC*",))) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_contract_requests(csms)) >= 8, 15)
    assert _started_tokens(csms) == []
    reasons = set(fleet.summary.failure_reasons)
    assert reasons == {"Authorize(PnC): certificateStatus CertificateRevoked"}
    rows = fleet.summary.stats.wire
    for kind in ("OCPP1.6", "OCPP2.0.1"):
        assert rows[kind, "Authorize(PnC)"].failures == rows[kind, "Authorize(PnC)"].count > 0


def _chain(*certificates: x509.Certificate) -> str:
    return b"".join(certificate_pem(c) for c in certificates).decode()


def test_the_embedded_csms_checks_the_chain_it_is_sent() -> None:
    root = new_authority(name="root", path_length=1)
    sub = new_authority(name="sub", issuer=root)
    other = new_authority(name="other")
    leaf = issue_certificate(sub, "DEFLTC000000001", new_key().public_key())
    token = {"idToken": "DEFLTC000000001", "type": "eMAID"}

    def status(chain: str, emaid: str = "DEFLTC000000001") -> str | None:
        request = {"idToken": {**token, "idToken": emaid}, "certificate": chain}
        return plug_and_charge.certificate_status(request)

    assert status(_chain(leaf, sub.certificate)) == "Accepted"
    assert status(_chain(leaf, other.certificate)) == "SignatureError"
    assert status(_chain(leaf, sub.certificate), emaid="DEFLTC000000002") == "CertChainError"
    assert status("not a certificate") == "CertChainError"
    assert plug_and_charge.certificate_status({"idToken": token}) is None  # a tag: no status


def _tag_authorizes(csms: Any, station: str) -> list[str]:
    """The tags (not contracts) a station asked the CSMS about."""
    out = []
    for c in calls(csms, station, "Authorize"):
        token = c.message[3].get("idTag") or c.message[3]["idToken"]
        if isinstance(token, str) or token["type"] != "eMAID":
            out.append(token if isinstance(token, str) else token["idToken"])
    return out


async def test_the_csms_switching_plug_and_charge_off_has_drivers_badge() -> None:
    sessions = {**QUICK, "plug_and_charge": {"share": 1}}
    scenario = make_scenario(stations={**MIXED, "count": 2}, sessions=sessions)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_contract_requests(csms)) >= 2, 10)
            for station in fleet.stations:
                if station.version == "1.6":
                    shown = await csms.call(station.id, c16.GetConfiguration(key=[PNC_KEY]))
                    assert shown.configuration_key[0]["value"] == "true"
                else:
                    asked = c201.GetVariables(get_variable_data=[PNC_VARIABLE])
                    shown = await csms.call(station.id, asked)
                    assert shown.get_variable_result[0]["attribute_value"] == "true"
                off = set_setting(station.version, "false", PNC_KEY, "ISO15118Ctrlr", "PnCEnabled")
                answer = await csms.call(station.id, off)
                if station.version == "1.6":
                    assert answer.status == "Accepted"
                else:
                    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
            await wait_until(lambda: all(_tag_authorizes(csms, s.id) for s in fleet.stations), 10)
    assert fleet.summary.failures == []
    tags = [tag for s in fleet.stations for tag in _tag_authorizes(csms, s.id)]
    assert tags and all(tag.startswith("TAG-") for tag in tags)


def _needs(departure_s: float, **ac: int) -> dict[str, Any]:
    params = {"energyAmount": 10_000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 230}
    return {
        "requestedEnergyTransfer": "AC_three_phase",
        "departureTime": format_time(departure_s),
        "acChargingParameters": {**params, **ac},
    }


def test_load_levelling_delivers_the_energy_by_the_departure_within_the_ev_s_limits() -> None:
    now = 1_790_000_000.0
    assert leveled_limit_w(_needs(now + 7200), now) == 5000.0  # 10 kWh in 2 h
    assert leveled_limit_w(_needs(now + 36_000), now) == 6 * 3 * 230  # at least 6 A a phase
    assert leveled_limit_w(_needs(now + 600, evMaxCurrent=16), now) == 16 * 3 * 230
    dc = {"requestedEnergyTransfer": "DC", "departureTime": format_time(now + 600)}
    dc["dcChargingParameters"] = {"evMaxCurrent": 200, "evMaxVoltage": 400, "energyAmount": 30_000,
                                  "evMaxPower": 50_000}  # fmt: skip
    assert leveled_limit_w(dc, now) == 50_000.0  # 180 kW wanted, the EV takes 50
    assert leveled_limit_w(_needs(now - 1), now) is None  # gone already
    assert leveled_limit_w({"requestedEnergyTransfer": "DC"}, now) is None


async def test_the_csms_schedules_an_iso_15118_ev_s_needs_and_the_session_follows() -> None:
    """fleet csms --schedule-ev-needs (2.0.1 K15): NotifyEVChargingNeeds Accepted, then a
    TxProfile on the running transaction; the EV (22 kW on a 22 kW post) then draws the
    levelled 7.5 kW: 30 kWh (SoC 0.2 -> 0.8 of 50 kWh) over its 4 hours."""
    sessions = {
        **QUICK,
        "plug_in_min": {"min": 240, "max": 240},
        "battery_kwh": {"min": 50, "max": 50},
        "soc_start": {"min": 0.2, "max": 0.2},
        "soc_target": {"min": 0.8, "max": 0.8},
        "ev_max_kw": {"min": 22, "max": 22},
        "measurands": ["Energy.Active.Import.Register", "Power.Active.Import"],
        "plug_and_charge": {"share": 1},
    }
    scenario = make_scenario(stations={"ocpp": "2.0.1"}, sessions=sessions)
    async with csms_running(interval_s=60, schedule_ev_needs=True) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: calls(csms, action="NotifyEVChargingNeeds"), 10)
            told = calls(csms, action="NotifyEVChargingNeeds")[0].at
            await wait_until(lambda: len(powers(csms, "CP-00001", told + 1.5)) >= 2, 10)
            station = fleet.stations[0]
            assert station.charging is not None
            limits = station.charging.limits
            assert limits is not None
            (profile,) = limits.profiles.items
    assert profile.purpose == "tx" and profile.transaction_id is not None
    # Without the profile the EV draws 22 kW here (see the smart charging tests for a limit
    # lifted); with it, the levelled power, to the meter's rounding.
    levelled = powers(csms, "CP-00001", told + 1.5)
    assert levelled and all(7400 < w < 7501 for w in levelled), levelled
    # The EV chose its schedule under the profile and the station told the CSMS (K15), after
    # the SetChargingProfile's answer; the CSMS found it within the limit it set.
    (chosen,) = calls(csms, "CP-00001", "NotifyEVChargingSchedule")
    schedule = chosen.message[3]["chargingSchedule"]
    limit_w = profile.periods[0].limit
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": limit_w}]
    assert chosen.message[3]["evseId"] == 1
    assert csms.ledger["CP-00001"].received["NotifyEVChargingSchedule"] == 1
    assert fleet.summary.stats.wire["OCPP2.0.1", "NotifyEVChargingSchedule"].count == 1
    assert fleet.summary.failures == []
    assert_schema_valid(csms)
