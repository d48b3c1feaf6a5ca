"""The OCSP status of a station's V2G chain over real sockets (2.0.1 M06; 1.6 inside DataTransfer):
what Plug & Charge stations ask the embedded CSMS once accepted and when they ask again, the
row a user reads, revoked certificates and a CSMS that answers with no usable OCSP response."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
from ocpp.v201 import call as call201

from fleet.certs import new_authority
from fleet.station.calendar import Calendar
from fleet.station.v2g_status import chain_requests
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)
from tests.station.test_misbehaving_csms import boot_answer, raw_csms, serve_calls

MIXED = {"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}}
URL = "http://ocsp.fleet.invalid/"  # the scenario's default responder_url


def _asked(csms: Any, station: str | None = None) -> list[tuple[float, str, dict[str, Any]]]:
    """(when, station, OCSPRequestData) of every GetCertificateStatus the CSMS got (1.6: the
    one a DataTransfer carries)."""
    out = []
    for c in calls(csms, station):
        action, payload = c.message[2], c.message[3]
        if action == "GetCertificateStatus":
            out.append((c.at, c.station, payload["ocspRequestData"]))
        elif action == "DataTransfer" and payload["messageId"] == "GetCertificateStatus":
            out.append((c.at, c.station, orjson.loads(payload["data"])["ocspRequestData"]))
    return out


def _pnc(**fields: Any) -> dict[str, Any]:
    return {"plug_and_charge": {"share": 0.5, **fields}}


async def test_plug_and_charge_stations_ask_their_chain_s_status_once_accepted() -> None:
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(make_scenario(stations=MIXED, sessions=_pnc()), csms.url) as fleet:
            await wait_until(lambda: len(_asked(csms)) == 6, 10)
            # The station went on to heartbeats etc. and asked nothing more (next in 167 h).
            await accepted(fleet)
    for station in ("CP-00001", "CP-00002"):
        expected = [a.request for a in chain_requests(station, URL)]
        assert [data for _, _, data in _asked(csms, station)] == expected
    assert {c.version for c in calls(csms) if c.message[2] == "DataTransfer"} == {"1.6"}
    assert assert_schema_valid(csms) >= 10
    # One row for both versions (1.6's is a DataTransfer), every answer checked and good.
    rows = fleet.summary.stats.wire
    assert rows["OCPP1.6", "GetCertificateStatus"].count == 3
    assert rows["OCPP2.0.1", "GetCertificateStatus"].count == 3
    assert "DataTransfer" not in {name for _, name in rows}
    assert fleet.summary.failures == []
    # Without Plug & Charge, nothing is asked.
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(make_scenario(stations=MIXED), csms.url) as fleet:
            await accepted(fleet)
            await wait_until(lambda: len(calls(csms, action="StatusNotification")) >= 3)
    assert _asked(csms) == []


async def test_stations_ask_again_when_due_and_sooner_after_a_revoked_answer() -> None:
    every_s, retry_s = 3.0, 0.4
    sessions = _pnc(certificate_status_h=every_s / 3600, certificate_status_retry_h=retry_s / 3600)
    scenario = make_scenario(stations={"count": 2, "ocpp": "2.0.1"}, sessions=sessions)
    async with csms_running(interval_s=60, revoke_v2g=["CP-00001"]) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_asked(csms, "CP-00001")) >= 3, 10)
            good = _asked(csms, "CP-00002")
            await wait_until(lambda: len(_asked(csms, "CP-00002")) >= 6, 10)
    revoked = _asked(csms, "CP-00001")
    # The revoked leaf ends each round at its first request; rounds come retry_s apart.
    leaf = chain_requests("CP-00001", URL)[0].request
    assert all(data == leaf for _, _, data in revoked)
    gaps = [b - a for (a, _, _), (b, _, _) in itertools.pairwise(revoked)]
    assert min(gaps) >= retry_s * 0.9
    # Meanwhile the good station asked its three once, then again only every_s later.
    assert len(good) == 3
    again = _asked(csms, "CP-00002")
    assert again[3][0] - again[2][0] >= every_s * 0.9
    failures = fleet.summary.failures
    assert {(f["station"], f["action"], f["reason"]) for f in failures} == {
        ("CP-00001", "GetCertificateStatus", "OCSP: certificate revoked")
    }


async def test_a_reconnect_asks_nothing_before_it_is_due() -> None:
    scenario = make_scenario(stations={"count": 1, "ocpp": "1.6"}, sessions=_pnc())
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_asked(csms)) == 3, 10)
            station = fleet.stations[0]
            await wait_until(lambda: station.v2g_wake is not None)  # the round ended
            assert station._tasks is None  # no empty task set kept after the round's task
            await csms.connections["CP-00001"]._connection.close(1001, "going away")
            await wait_until(lambda: len(calls(csms, action="BootNotification")) == 2, 10)
            await accepted(fleet)
            await wait_until(lambda: len(calls(csms, action="StatusNotification")) >= 4)
    assert len(_asked(csms)) == 3
    # A stopped station is not kept alive by its wake-up a week away.
    assert fleet.stations[0].v2g_wake is None
    assert len(Calendar.of(asyncio.get_running_loop())) == 0


async def test_the_first_round_can_wait_after_the_first_acceptance() -> None:
    """certificate_status_after_s (EVerest's 1.6 stack waits 60 s, its 2.0.1 one not at all):
    in a boot storm the requests come after the boots, not with them."""
    scenario = make_scenario(
        stations={"count": 1, "ocpp": "2.0.1"}, sessions=_pnc(certificate_status_after_s=0.6)
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url):
            await wait_until(lambda: len(_asked(csms)) == 3, 10)
    (boot,) = calls(csms, action="BootNotification")
    assert _asked(csms)[0][0] - boot.at >= 0.55


async def test_a_v2g_certificate_the_csms_signs_is_asked_about_at_once() -> None:
    trigger = call201.TriggerMessage(requested_message="SignV2GCertificate")
    scenario = make_scenario(stations={"count": 1, "ocpp": "2.0.1"}, sessions=_pnc())
    async with csms_running(signer=new_authority()) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_asked(csms)) == 3, 10)
            assert (await csms.call("CP-00001", trigger)).status == "Accepted"
            store = fleet.stations[0].certificates()
            await wait_until(lambda: store.v2g is not None and len(_asked(csms)) == 4, 10)
    assert store.v2g is not None
    (_, _, data) = _asked(csms)[3]
    assert data["serialNumber"] == format(store.v2g[0].serial_number, "x")
    # The CSMS answers for what its signing CA issued: good.
    assert fleet.summary.failures == []
    assert fleet.summary.stats.wire["OCPP2.0.1", "GetCertificateStatus"].count == 4


async def test_a_csms_answering_without_a_usable_ocsp_response_is_counted_and_the_run_goes_on() -> (
    None
):
    def answer(message: list[Any]) -> str:
        action = message[2]
        if action == "BootNotification":
            return boot_answer(message[1], interval=1)
        if action == "GetCertificateStatus":
            payload: dict[str, Any] = {"status": "Accepted", "ocspResult": "AAAA"}
        elif action == "Heartbeat":
            payload = {"currentTime": "2030-01-01T00:00:00Z"}
        else:
            payload = {}
        return orjson.dumps([3, message[1], payload]).decode()

    async def handler(ws: Any) -> None:
        await serve_calls(ws, answer)

    scenario = make_scenario(stations={"count": 1, "ocpp": "2.0.1"}, sessions=_pnc())
    async with raw_csms(handler) as url:
        async with fleet_running(scenario, url) as fleet:
            rows = fleet.summary.stats.wire
            await wait_until(lambda: rows.get(("OCPP2.0.1", "Heartbeat")) is not None, 10)
            await wait_until(lambda: rows["OCPP2.0.1", "Heartbeat"].count >= 2, 10)
    row = rows["OCPP2.0.1", "GetCertificateStatus"]
    assert row.count == 1  # the round stopped at the first answer that did not hold
    (failure,) = fleet.summary.failures
    assert failure["reason"] == "ocspResult is not an OCSP response (DER in base64)"
