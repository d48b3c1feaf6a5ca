"""Connector faults over real sockets against the embedded CSMS (scenario ``faults``): what it
receives from a charging fleet whose connectors fail every few seconds, and from an idle one."""

from __future__ import annotations

import itertools
from typing import Any

from ocpp.v16 import call as c16

from fleet.metrics import report
from tests.conftest import (
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)
from tests.station.test_charging import QUICK
from tests.station.test_reservations import within

CODES = ("GroundFailure", "OverCurrentFailure")
FAULTS = {"per_day": 86_400 / 2, "duration_s": {"min": 0.3, "max": 0.6}, "error_codes": CODES}


def statuses(csms: Any, station: str) -> list[tuple[str, str]]:
    """(status, 1.6 errorCode or '') of every StatusNotification of connector/EVSE 1, in order."""
    out = []
    for c in calls(csms, station, "StatusNotification"):
        payload = c.message[3]
        if "errorCode" in payload and payload["connectorId"] == 1:  # 1.6
            out.append((payload["status"], payload["errorCode"]))
        elif payload.get("evseId") == 1:
            out.append((payload["connectorStatus"], ""))
    return out


async def test_a_charging_fleet_s_faults_stop_sessions_and_clear() -> None:
    scenario = make_scenario(
        stations={"count": 4, "ocpp": {"1.6": 1, "2.0.1": 1}}, sessions=QUICK, faults=FAULTS
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:

            def cleared_twice(station: str) -> bool:
                seen = [status for status, _ in statuses(csms, station)]
                return sum(1 for a, b in itertools.pairwise(seen) if a == "Faulted" != b) >= 2

            await wait_until(lambda: all(cleared_twice(s.id) for s in fleet.stations), 20)
            ended_by_fault = [
                c
                for c in calls(csms)
                if (c.message[2] == "StopTransaction" and c.message[3]["reason"] == "Other")
                or c.message[3].get("triggerReason") == "AbnormalCondition"
            ]
            await wait_until(lambda: bool(ended_by_fault), 1)
    assert fleet.summary.failures == []
    assert assert_schema_valid(csms) > 20
    # fleet's own count, per version (the sessions block, the progress line, Prometheus): every
    # fault the CSMS saw reported, and at most one per station it had no time to see.
    seen = sum(
        [status for status, _ in statuses(csms, station.id)].count("Faulted")
        for station in fleet.stations
    )
    block = report.sessions_block(fleet.summary.stats, {})
    assert seen <= block["total"]["faults"] <= seen + len(fleet.stations)
    assert block["1.6"]["faults"] and block["2.0.1"]["faults"]
    assert f"{block['1.6']['faults']} connector faults" in report.sessions_line(block)
    for station in fleet.stations:
        seen = statuses(csms, station.id)
        faulted = [code for status, code in seen if status == "Faulted"]
        assert len(faulted) >= 2
        if station.version == "1.6":  # the fault's error code, and NoError otherwise
            assert set(faulted) <= set(CODES)
            assert all(code == "NoError" for status, code in seen if status != "Faulted")
        else:  # the cause in NotifyEvent: each fault and its end
            events = [c.message[3]["eventData"][0] for c in calls(csms, station.id, "NotifyEvent")]
            assert {event["techCode"] for event in events} <= set(CODES)
            assert sum(1 for event in events if not event.get("cleared")) >= len(faulted) - 1
    # The CSMS's ledger: the transactions a fault stopped are ended, none unknown or gapped.
    ledger = csms.transactions
    assert not ledger.unknown and not ledger.restarted
    for c in ended_by_fault:
        if c.message[2] == "TransactionEvent":
            assert c.message[3]["transactionInfo"]["stoppedReason"] in (
                "GroundFault",
                "OvercurrentFault",
            )


async def test_an_idle_fleet_s_connectors_fault_and_recover() -> None:
    scenario = make_scenario(stations={"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}}, faults=FAULTS)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: all(
                    [s for s, _ in statuses(csms, st.id)][-2:] == ["Faulted", "Available"]
                    for st in fleet.stations
                ),
                20,
            )
    assert fleet.summary.failures == []
    assert assert_schema_valid(csms) > 4


async def test_a_faulted_connector_refuses_starts_and_reservations_and_reports_after_a_drop() -> (
    None
):
    long = {"per_day": 86_400, "duration_s": {"min": 60, "max": 60}, "error_codes": ["WeakSignal"]}
    scenario = make_scenario(stations={"ocpp": "1.6"}, faults=long)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await wait_until(lambda: ("Faulted", "WeakSignal") in statuses(csms, "CP-00001"), 10)
        start = c16.RemoteStartTransaction(id_tag="TAG-X", connector_id=1)
        assert (await csms.call("CP-00001", start)).status == "Rejected"
        reserve = c16.ReserveNow(
            connector_id=1, expiry_date=within(60), id_tag="TAG-R", reservation_id=1
        )
        assert (await csms.call("CP-00001", reserve)).status == "Faulted"
        # The boot after a drop reports the connector as it is: Faulted, with the fault's code.
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await wait_until(lambda: len(calls(csms, "CP-00001", "BootNotification")) == 2, 10)
        await wait_until(lambda: statuses(csms, "CP-00001").count(("Faulted", "WeakSignal")) == 2)
    assert [failure["action"] for failure in fleet.summary.failures] == ["connection lost"]
    assert_schema_valid(csms)
