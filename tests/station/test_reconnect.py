"""Reconnect policies over real sockets: against a port nobody listens on, each policy paces
the station's connect attempts as it says (counted as failed connects, bounded in time)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.csms import Csms
from fleet.station.state import State
from tests.conftest import (
    accepted,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)
from tests.station.test_reservations import within


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def attempts(reconnect: dict[str, object], seconds: float = 0.9) -> int:
    scenario = make_scenario(reconnect=reconnect)
    url = f"ws://127.0.0.1:{closed_port()}/ocpp"
    async with fleet_running(scenario, url) as fleet:
        await asyncio.sleep(seconds)
    return fleet.summary.rows["connect"].count


async def test_each_policy_paces_reconnects_as_it_names() -> None:
    naive = await attempts({"policy": "naive"})
    spec = await attempts({"policy": "spec", "min_s": 0.2, "random_range_s": 0, "repeat_times": 1})
    slow = await attempts({"policy": "exponential", "min_s": 2, "max_s": 30})
    assert naive > 50  # at once, again and again: the worst real fleets
    assert spec == 3  # at 0, 0.2, 0.6 (+0.4, doubled once); the next, 1.0, is past 0.9 s
    assert slow == 1  # the first attempt, then at least 1 s of back-off


def statuses(csms: Csms) -> list[tuple[int, str]]:
    """(connector or EVSE, status) of every StatusNotification the CSMS received."""
    payloads = [c.message[3] for c in calls(csms, action="StatusNotification")]
    return [
        (p["connectorId"], p["status"]) if "status" in p else (p["evseId"], p["connectorStatus"])
        for p in payloads
    ]


async def after_a_drop(
    reconnect: dict[str, object],
    version: str = "1.6",
    before: Any = None,
    offline_s: float = 0.1,
    expected: int = 0,
) -> tuple[int, int, list[tuple[int, str]]]:
    """(connections, BootNotifications, the StatusNotifications after the drop) the CSMS saw
    when it dropped an accepted two-connector station once, after sending ``before``; the
    station stays offline ``offline_s`` (the spec back-off, without jitter). ``expected``: how
    many StatusNotifications to wait for (reports go one at a time, and a triggered Heartbeat
    may pass the last ones: it only bounds the wait when none is expected)."""
    back_off = {"policy": "spec", "min_s": offline_s, "max_s": max(offline_s, 1)}
    back_off |= {"random_range_s": 0, "repeat_times": 0}
    scenario = make_scenario(
        stations={"ocpp": version, "connectors": 2},
        sessions={"start": "remote_only"},
        reconnect={**back_off, **reconnect},
    )
    beat = (c16 if version == "1.6" else c201).TriggerMessage(requested_message="Heartbeat")
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        booted = 3 if version == "1.6" else 2  # 1.6: connector 0 too
        await wait_until(lambda: len(statuses(csms)) == booted)
        if before is not None:
            answer = await csms.call("CP-00001", before)
            if isinstance(before, c201.SetVariables):
                assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
            else:
                assert answer.status == "Accepted"
        reserved = isinstance(before, c16.ReserveNow)  # reported Reserved before the drop
        await wait_until(lambda: len(statuses(csms)) == booted + reserved)
        seen = len(statuses(csms))
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 2, offline_s + 5)
        await accepted(fleet)
        # A triggered Heartbeat leaves after whatever the new connection reported first.
        assert (await csms.call("CP-00001", beat)).status == "Accepted"
        await wait_until(lambda: calls(csms, action="Heartbeat"))
        await wait_until(lambda: len(statuses(csms)) >= seen + expected)
    record = csms.ledger["CP-00001"]
    boots = record.received["BootNotification"]
    return record.connections, boots, statuses(csms)[seen:]


async def test_a_short_drop_is_resumed_without_booting_when_the_scenario_says_so() -> None:
    resumed = await after_a_drop({"resume_within_s": 5})
    assert resumed == (2, 1, [])  # no boot; nothing changed offline: nothing re-reported
    booted = await after_a_drop({"resume_within_s": 0}, expected=3)  # the default: boot again
    assert booted == (2, 2, [(0, "Available"), (1, "Available"), (2, "Available")])
    always = await after_a_drop({"resume_within_s": 5, "offline_threshold_s": 0}, expected=3)
    assert always == (2, 1, [(0, "Available"), (1, "Available"), (2, "Available")])


async def test_after_a_short_drop_only_what_changed_offline_is_reported() -> None:
    expiring = c16.ReserveNow(
        connector_id=1, expiry_date=within(1.0), id_tag="TAG-R", reservation_id=7
    )
    reconnect = {"resume_within_s": 10}
    got = await after_a_drop(reconnect, before=expiring, offline_s=2.0, expected=1)
    assert got == (2, 1, [(1, "Available")])  # the reservation expired offline; 0 and 2 did not


async def test_2_0_1_reports_every_connector_after_an_outage_past_its_offline_threshold() -> None:
    threshold = set_setting("2.0.1", "1", "OfflineThreshold", "OCPPCommCtrlr")
    short = await after_a_drop({"resume_within_s": 10}, "2.0.1", threshold, offline_s=0.2)
    assert short == (2, 1, [])  # B04.FR.02: offline 0.2 s, under the threshold: none changed
    long = await after_a_drop(
        {"resume_within_s": 10}, "2.0.1", threshold, offline_s=1.5, expected=2
    )
    assert long == (2, 1, [(1, "Available"), (2, "Available")])  # B04.FR.01: past it: all


async def test_a_reboot_boots_again_even_when_drops_are_resumed() -> None:
    scenario = make_scenario(reconnect={"resume_within_s": 5, "min_s": 0.1})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        assert (await csms.call("CP-00001", c16.Reset(type="Soft"))).status == "Accepted"
        await wait_until(lambda: csms.ledger["CP-00001"].received["BootNotification"] == 2)
        await accepted(fleet)


async def test_2_0_1_retry_back_off_variables_set_by_the_csms_pace_the_reconnect() -> None:
    reconnect = {"policy": "spec", "min_s": 0.1, "random_range_s": 0, "repeat_times": 0}
    scenario = make_scenario(stations={"ocpp": "2.0.1"}, reconnect=reconnect)
    wait = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "RetryBackOffWaitMinimum"}}
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        got = await csms.call("CP-00001", c201.GetVariables(get_variable_data=[wait]))
        assert got.get_variable_result[0]["attribute_value"] == "0.1"  # the scenario's
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 2, timeout_s=1)
        await accepted(fleet)
        changed = await csms.call(
            "CP-00001", c201.SetVariables(set_variable_data=[{**wait, "attribute_value": "3"}])
        )
        assert changed.set_variable_result[0]["attribute_status"] == "Accepted"
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await asyncio.sleep(1.5)
        assert csms.ledger["CP-00001"].connections == 2  # waits its 3 s now
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 3, timeout_s=4)


@pytest.mark.parametrize("where", ["connect", "run"])
async def test_a_bug_in_fleet_s_own_code_is_a_counted_station_error_not_a_silent_end(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """An exception fleet did not foresee (here injected once into the connect, or into the
    station's run) ended the station's task: the station was gone for the rest of the run and
    the report said 'failures: 0'. Now it is a failure in fleet's row "station error", with
    its reason, and the station connects again."""
    import fleet.station.session as session_module
    from fleet.station.life import Life

    target: Any = session_module if where == "connect" else Life
    name = where
    real = getattr(target, name)
    calls_made = []

    async def once_broken(*args: Any, **kwargs: Any) -> Any:
        calls_made.append(1)
        if len(calls_made) == 1:
            raise RuntimeError("injected")
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, once_broken)
    async with csms_running() as csms:
        async with fleet_running(make_scenario(), csms.url) as fleet:
            await accepted(fleet, timeout_s=10)
    row = fleet.summary.stats.timings["station error"]
    assert (row.count, row.failures) == (1, 1)
    assert dict(fleet.summary.failure_reasons) == {"station error: RuntimeError: injected": 1}


async def test_a_bug_in_a_task_the_station_spawned_is_a_counted_station_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The station's own tasks (a reboot, a follow-up to a CSMS call, a message sent from
    synchronous code) logged a traceback and counted nothing."""
    from fleet.station.life import Life

    async def broken(self: Any, action: str, payloads: list[Any]) -> None:
        raise RuntimeError("injected")

    async with csms_running() as csms:
        async with fleet_running(make_scenario(), csms.url) as fleet:
            await accepted(fleet)
            monkeypatch.setattr(Life, "send_each", broken)
            fleet.stations[0].then_send("Heartbeat", {})
            await wait_until(lambda: "station error" in fleet.summary.stats.timings)
            assert fleet.stations[0].state is State.ACCEPTED  # it goes on
    assert dict(fleet.summary.failure_reasons) == {"station error: RuntimeError: injected": 1}
