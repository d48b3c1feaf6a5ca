"""Reconnect policies over real sockets: against a port nobody listens on, each policy paces
the station's connect attempts as it says (counted as failed connects, bounded in time)."""

from __future__ import annotations

import asyncio
import socket

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.conftest import accepted, calls, csms_running, fleet_running, make_scenario, wait_until


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


async def boots_after_a_drop(resume_within_s: float) -> tuple[int, int, int]:
    """(connections, BootNotifications, StatusNotifications) the CSMS saw when it dropped an
    accepted station once."""
    scenario = make_scenario(reconnect={"resume_within_s": resume_within_s, "min_s": 0.1})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await wait_until(lambda: len(calls(csms, action="StatusNotification")) == 2)
        await csms.connections["CP-00001"]._connection.close(1001, "going away")
        await wait_until(lambda: csms.ledger["CP-00001"].connections == 2)
        await wait_until(lambda: len(calls(csms, action="StatusNotification")) == 4)
        await accepted(fleet)
    record = csms.ledger["CP-00001"]
    return (
        record.connections,
        record.received["BootNotification"],
        record.received["StatusNotification"],
    )


async def test_a_short_drop_is_resumed_without_booting_when_the_scenario_says_so() -> None:
    assert await boots_after_a_drop(resume_within_s=5) == (2, 1, 4)  # connectors re-reported
    assert await boots_after_a_drop(resume_within_s=0) == (2, 2, 4)  # the default: boot again


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
