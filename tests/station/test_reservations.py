"""Reservations over real sockets, against the embedded CSMS: a reserved connector waits for
its driver, whose session carries the reservation's id; reservations expire and can be
cancelled; the answers follow the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)


def within(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def statuses(csms, station: str) -> list[str]:
    return [
        c.message[3].get("status") or c.message[3].get("connectorStatus")
        for c in calls(csms, station, "StatusNotification")
    ]


async def test_a_1_6_reserved_connector_waits_for_its_driver() -> None:
    scenario = make_scenario(stations={"ocpp": "1.6"}, sessions={"start": "remote_only"})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        reserve = c16.ReserveNow(
            connector_id=1, expiry_date=within(60), id_tag="TAG-R", reservation_id=11
        )
        assert (await csms.call("CP-00001", reserve)).status == "Accepted"
        await wait_until(lambda: statuses(csms, "CP-00001")[-1] == "Reserved")
        other = c16.ReserveNow(
            connector_id=1, expiry_date=within(60), id_tag="TAG-X", reservation_id=12
        )
        assert (await csms.call("CP-00001", other)).status == "Occupied"
        anyone = c16.ReserveNow(
            connector_id=0, expiry_date=within(60), id_tag="TAG-X", reservation_id=13
        )
        assert (await csms.call("CP-00001", anyone)).status == "Rejected"
        stranger = c16.RemoteStartTransaction(id_tag="TAG-X", connector_id=1)
        assert (await csms.call("CP-00001", stranger)).status == "Rejected"
        driver = c16.RemoteStartTransaction(id_tag="TAG-R")
        assert (await csms.call("CP-00001", driver)).status == "Accepted"
        await wait_until(lambda: calls(csms, "CP-00001", "StartTransaction"))
        start = calls(csms, "CP-00001", "StartTransaction")[0].message[3]
        assert start["reservationId"] == 11 and start["idTag"] == "TAG-R"
        gone = c16.CancelReservation(reservation_id=11)
        assert (await csms.call("CP-00001", gone)).status == "Rejected"  # used up
    assert_schema_valid(csms)


async def test_2_0_1_reservations_expire_and_can_be_cancelled() -> None:
    scenario = make_scenario(stations={"ocpp": "2.0.1", "connectors": 2})
    token = {"idToken": "TAG-R", "type": "ISO14443"}
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        short = c201.ReserveNow(id=5, expiry_date_time=within(0.5), id_token=token, evse_id=1)
        assert (await csms.call("CP-00001", short)).status == "Accepted"
        await wait_until(lambda: calls(csms, "CP-00001", "ReservationStatusUpdate"))
        update = calls(csms, "CP-00001", "ReservationStatusUpdate")[0].message[3]
        assert update == {"reservationId": 5, "reservationUpdateStatus": "Expired"}
        assert statuses(csms, "CP-00001")[-2:] == ["Reserved", "Available"]
        anywhere = c201.ReserveNow(id=6, expiry_date_time=within(60), id_token=token)
        assert (await csms.call("CP-00001", anywhere)).status == "Accepted"
        await wait_until(lambda: statuses(csms, "CP-00001")[-1] == "Reserved")
        cancel = c201.CancelReservation(reservation_id=6)
        assert (await csms.call("CP-00001", cancel)).status == "Accepted"
        await wait_until(lambda: statuses(csms, "CP-00001")[-1] == "Available")
        assert (await csms.call("CP-00001", cancel)).status == "Rejected"
        past = c201.ReserveNow(id=7, expiry_date_time=within(-5), id_token=token, evse_id=2)
        assert (await csms.call("CP-00001", past)).status == "Rejected"
    assert_schema_valid(csms)
