"""Charging profiles over real sockets, against the embedded CSMS: a profile lowers the power a
running session reports, the composite schedule says so, clearing it lifts the limit, and 2.0.1
reports its profiles back as they were set."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.csms.tags import TagPolicy
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

SESSIONS = {
    "start": "remote_only",
    "meter_interval_s": 1,
    "plug_in_min": {"min": 60, "max": 60},
    "ev_max_kw": {"min": 11, "max": 11},
    "battery_kwh": {"min": 500, "max": 500},  # never full during the test
    "measurands": ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import"],
}
EVSE = {"current": "AC", "phases": 3, "voltage_v": 230, "max_current_a": 32}


def powers(csms, station: str, since: float) -> list[float]:
    """Power.Active.Import of every reading the station sent after ``since``."""
    out = []
    for c in calls(csms, station):
        if c.at <= since or c.message[2] not in ("MeterValues", "TransactionEvent"):
            continue
        for value in c.message[3].get("meterValue", []):
            for sampled in value["sampledValue"]:
                if sampled.get("measurand") == "Power.Active.Import":
                    out.append(float(sampled["value"]))
    return out


def fresh(csms, station: str) -> float:
    return max((c.at for c in calls(csms, station)), default=0.0)


def scenario(version: str) -> Any:
    return make_scenario(
        stations={"ocpp": version, "evse": EVSE}, sessions=SESSIONS, csms={"call_timeout_s": 5}
    )


async def test_a_1_6_tx_profile_limits_the_session_and_clearing_it_lifts_the_limit() -> None:
    async with (
        csms_running(interval_s=300) as csms,
        fleet_running(scenario("1.6"), csms.url) as fleet,
    ):
        await accepted(fleet)
        await csms.call("CP-00001", c16.RemoteStartTransaction(id_tag="T-1", connector_id=1))
        await wait_until(lambda: len(powers(csms, "CP-00001", 0)) >= 1)
        assert powers(csms, "CP-00001", 0)[-1] == 11_000  # what the EV takes
        tx_id = fleet.stations[0].charging.chargers[0].tx.tx_id  # the CSMS's
        profile = {
            "chargingProfileId": 1, "transactionId": tx_id, "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]},
        }  # fmt: skip
        answer = await csms.call(
            "CP-00001", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        )
        assert answer.status == "Accepted"
        since = fresh(csms, "CP-00001")
        await wait_until(lambda: len(powers(csms, "CP-00001", since)) >= 2)
        assert set(powers(csms, "CP-00001", since)) == {6 * 230 * 3}  # 6 A on 3 phases
        composite = await csms.call(
            "CP-00001", c16.GetCompositeSchedule(connector_id=1, duration=600)
        )
        assert composite.status == "Accepted"
        assert composite.charging_schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": 6.0}
        ]
        wrong = dict(profile, chargingProfileId=2, transactionId=999)
        refused = await csms.call(
            "CP-00001", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=wrong)
        )
        assert refused.status == "Rejected"  # not the running transaction
        cleared = await csms.call("CP-00001", c16.ClearChargingProfile(id=1))
        assert cleared.status == "Accepted"
        since = fresh(csms, "CP-00001")
        await wait_until(lambda: len(powers(csms, "CP-00001", since)) >= 2)
        assert set(powers(csms, "CP-00001", since)) == {11_000}
        assert (await csms.call("CP-00001", c16.ClearChargingProfile(id=1))).status == "Unknown"
    assert_schema_valid(csms)


async def test_a_2_0_1_default_profile_limits_sessions_and_is_reported_back() -> None:
    async with (
        csms_running(interval_s=300) as csms,
        fleet_running(scenario("2.0.1"), csms.url) as fleet,
    ):
        await accepted(fleet)
        profile = {
            "id": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}]}],
        }  # fmt: skip
        answer = await csms.call(
            "CP-00001", c201.SetChargingProfile(evse_id=1, charging_profile=profile)
        )
        assert answer.status == "Accepted"
        start = c201.RequestStartTransaction(
            id_token={"idToken": "T-1", "type": "Central"}, remote_start_id=1, evse_id=1
        )
        await csms.call("CP-00001", start)
        await wait_until(lambda: len(powers(csms, "CP-00001", 0)) >= 3)
        assert set(powers(csms, "CP-00001", 0)) == {7000}
        got = await csms.call(
            "CP-00001",
            c201.GetChargingProfiles(
                request_id=3, charging_profile={"chargingProfilePurpose": "TxDefaultProfile"}
            ),
        )
        assert got.status == "Accepted"
        await wait_until(lambda: calls(csms, "CP-00001", "ReportChargingProfiles"))
        report = calls(csms, "CP-00001", "ReportChargingProfiles")[0].message[3]
        assert report["requestId"] == 3 and report["evseId"] == 1 and report["tbc"] is False
        assert report["chargingProfile"] == [profile]  # as it was set
        none = await csms.call(
            "CP-00001", c201.GetChargingProfiles(request_id=4, charging_profile={"stackLevel": 5})
        )
        assert none.status == "NoProfiles"
        composite = await csms.call(
            "CP-00001", c201.GetCompositeSchedule(duration=300, evse_id=1, charging_rate_unit="A")
        )
        assert composite.schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": round(7000 / 690, 1)}
        ]
        # A TxProfile ends with its transaction.
        tx_id = fleet.stations[0].charging.chargers[0].tx.tx_id
        status = await csms.call("CP-00001", c201.GetTransactionStatus(transaction_id=tx_id))
        assert (status.ongoing_indicator, status.messages_in_queue) == (True, False)
        tx_profile = dict(profile, id=9, chargingProfilePurpose="TxProfile", transactionId=tx_id)
        set_tx = c201.SetChargingProfile(evse_id=1, charging_profile=tx_profile)
        assert (await csms.call("CP-00001", set_tx)).status == "Accepted"
        await csms.call("CP-00001", c201.RequestStopTransaction(transaction_id=tx_id))
        await wait_until(lambda: fleet.stations[0].charging.chargers[0].tx is None)
        wanted = {"chargingProfilePurpose": "TxProfile"}
        gone = await csms.call(
            "CP-00001", c201.GetChargingProfiles(request_id=5, charging_profile=wanted)
        )
        assert gone.status == "NoProfiles"
        status = await csms.call("CP-00001", c201.GetTransactionStatus(transaction_id=tx_id))
        assert status.ongoing_indicator is False
        external = dict(profile, id=8, chargingProfilePurpose="ChargingStationExternalConstraints")
        refused = await csms.call(
            "CP-00001", c201.SetChargingProfile(evse_id=1, charging_profile=external)
        )
        assert refused.status == "Rejected"
    assert not calls(csms, action="NotifyEVChargingSchedule")  # a tag's session: no ISO 15118 EV
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_remote_start_s_tx_profile_governs_its_transaction_and_a_wrong_one_is_refused(
    version: str,
) -> None:
    """1.6 §5.11, 2.0.1 F01.FR.08-11: the profile a remote start carries limits the session it
    begins from the first reading (its TxProfile, ended with it); one that is not a TxProfile,
    names a transaction or is invalid makes the start Rejected, and nothing starts."""

    def profile(**changes: Any) -> dict[str, Any]:
        periods = [{"startPeriod": 0, "limit": 6.0}]
        schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": periods}
        base = {"stackLevel": 0, "chargingProfilePurpose": "TxProfile"}
        base["chargingProfileKind"] = "Relative"
        if version == "1.6":
            return {"chargingProfileId": 5, "chargingSchedule": schedule, **base, **changes}
        return {"id": 5, "chargingSchedule": [{"id": 1, **schedule}], **base, **changes}

    def start(charging_profile: dict[str, Any] | None, tag: str = "T-1", connector: int = 1) -> Any:
        if version == "1.6":
            return c16.RemoteStartTransaction(
                id_tag=tag, connector_id=connector, charging_profile=charging_profile
            )
        token = {"idToken": tag, "type": "Central"}
        return c201.RequestStartTransaction(
            id_token=token, remote_start_id=1, evse_id=connector, charging_profile=charging_profile
        )

    started = "StartTransaction" if version == "1.6" else "TransactionEvent"
    two = make_scenario(
        stations={"ocpp": version, "evse": EVSE, "connectors": 2},
        sessions={**SESSIONS, "authorize_remote_starts": True},
        csms={"call_timeout_s": 5},
    )
    async with (
        csms_running(interval_s=300, tags=TagPolicy(reject=("BAD",))) as csms,
        fleet_running(two, csms.url) as fleet,
    ):
        await accepted(fleet)
        for wrong in (
            profile(chargingProfilePurpose="TxDefaultProfile"),
            profile(transactionId=7 if version == "1.6" else "tx-7"),
            profile(stackLevel=99),
        ):
            assert (await csms.call("CP-00001", start(wrong))).status == "Rejected", wrong
        # A start whose tag the CSMS then refuses: no transaction, and its profile goes with it.
        assert (await csms.call("CP-00001", start(profile(), "BAD"))).status == "Accepted"
        await wait_until(lambda: calls(csms, "CP-00001", "Authorize"))
        charger = fleet.stations[0].charging.chargers[0]
        await wait_until(lambda: charger.phase.value == "idle")
        assert not calls(csms, "CP-00001", started)  # nothing started
        assert (await csms.call("CP-00001", start(None))).status == "Accepted"
        await wait_until(lambda: len(powers(csms, "CP-00001", 0)) >= 1)
        assert set(powers(csms, "CP-00001", 0)) == {11_000}  # what the EV takes: no limit
        tx_id = charger.tx.tx_id
        stop = c16.RemoteStopTransaction if version == "1.6" else c201.RequestStopTransaction
        await csms.call("CP-00001", stop(transaction_id=tx_id))
        await wait_until(lambda: charger.counts.completed == 1)
        since = fresh(csms, "CP-00001")
        assert (await csms.call("CP-00001", start(profile(), connector=2))).status == "Accepted"
        await wait_until(lambda: len(powers(csms, "CP-00001", since)) >= 2)
        assert set(powers(csms, "CP-00001", since)) == {6 * 230 * 3}  # 6 A from the first one
        composite = await csms.call(
            "CP-00001",
            c16.GetCompositeSchedule(connector_id=2, duration=600)
            if version == "1.6"
            else c201.GetCompositeSchedule(duration=600, evse_id=2),
        )
        assert composite.status == "Accepted"
        schedule = composite.charging_schedule if version == "1.6" else composite.schedule
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 6.0}]
    assert_schema_valid(csms)
