"""Websocket pings (WebSocketPingInterval): the decisions on a fake clock, then on the wire
against real websocket servers on 127.0.0.1: pongs timed in fleet's own ``ws ping`` row, a CSMS
that stops answering them dropped and reconnected to, the interval changed by the CSMS."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from ocpp.v16 import call as c16
from websockets.asyncio.server import ServerConnection

from fleet.station.calendar import Calendar
from fleet.station.pings import GiveUp, Ping, Pings, Wake
from fleet.station.state import State
from tests.conftest import (
    accepted,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)
from tests.station.test_misbehaving_csms import boot_answer, raw_csms, serve_calls


def test_a_ping_every_interval_and_its_pong_timed() -> None:
    pings = Pings(every_s=10, timeout_s=4, now_s=100)
    assert pings.first() == [Wake(110)]
    assert pings.due(110) == [Ping(b"1"), Wake(114)]  # the pong's deadline comes first
    assert pings.pong(b"1")
    assert pings.due(114) == [Wake(120)]  # answered: nothing to do until the next one
    assert pings.due(120) == [Ping(b"2"), Wake(124)]
    assert not pings.pong(b"1")  # an older ping's pong (RFC 6455 allows it)
    assert pings.pong(b"2")
    assert not pings.pong(b"2")  # unsolicited: none is out


def test_an_unanswered_ping_gives_the_connection_up_and_none_is_sent_meanwhile() -> None:
    pings = Pings(every_s=2, timeout_s=5, now_s=0)
    assert pings.due(2) == [Ping(b"1"), Wake(4)]
    assert pings.due(4) == [Wake(6)]  # due, but one is out: not sent
    assert pings.due(6) == [Wake(7)]
    assert pings.due(7) == [GiveUp("no pong within 5 s")]


def test_a_late_timer_sends_one_ping_and_the_next_stays_on_schedule() -> None:
    pings = Pings(every_s=10, timeout_s=30, now_s=0)
    assert pings.due(35) == [Ping(b"1"), Wake(40)]  # 10, 20, 30 passed: one ping, not three


def test_the_interval_changed_by_the_csms() -> None:
    pings = Pings(every_s=0, timeout_s=5, now_s=0)
    assert pings.first() == []  # 0: no pings (the CSMS may ping)
    assert pings.replan(3, now_s=50) == [Wake(53)]
    assert pings.due(53) == [Ping(b"1"), Wake(56)]
    assert pings.replan(0, now_s=54) == []
    assert pings.due(60) == []  # stopped: a timer left over does nothing
    assert not pings.pong(b"1")  # the ping out was forgotten


def ws_ping(fleet):
    return fleet.summary.stats.timings.get("ws ping")


async def test_pings_cross_the_wire_and_their_pongs_are_timed() -> None:
    scenario = make_scenario(heartbeat={"ws_ping_s": 1})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await wait_until(lambda: ws_ping(fleet) is not None and ws_ping(fleet).count >= 2)
        answer = await csms.call("CP-00001", c16.GetConfiguration(key=["WebSocketPingInterval"]))
    assert answer.configuration_key[0]["value"] == "1"
    row = ws_ping(fleet)
    assert row.failures == 0 and 0 < row.histogram.percentile(100) < 1000
    assert fleet.stations[0].state is State.OFFLINE  # stopped cleanly: one connection
    assert csms.ledger["CP-00001"].connections == 1


async def test_a_csms_that_stops_answering_pings_is_dropped_and_reconnected_to() -> None:
    connections = 0
    silent: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 2:
            silent[0].transport.resume_reading()  # it finds the station gone, and ends

        def answer(message):
            if message[2] == "BootNotification":
                if connections == 1:  # accepted, then it stops reading: no more pongs
                    silent.append(ws)
                    asyncio.get_running_loop().call_soon(ws.transport.pause_reading)
                return boot_answer(message[1])
            return orjson.dumps([3, message[1], {}]).decode()

        await serve_calls(ws, answer)

    scenario = make_scenario(heartbeat={"ws_ping_s": 1, "ws_pong_timeout_s": 0.5})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: connections == 2, timeout_s=6)
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
    lost = fleet.summary.stats.timings["connection lost"]
    assert lost.failures == 1
    reasons = [f["reason"] for f in fleet.summary.failures]
    assert "no pong within 0.5 s" in reasons
    assert ws_ping(fleet).failures == 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_csms_sets_the_interval_and_it_applies_at_once(version: str) -> None:
    def change(value: str) -> object:
        return set_setting(version, value, "WebSocketPingInterval", "OCPPCommCtrlr")

    scenario = make_scenario(stations={"ocpp": version})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(1.2)
        assert ws_ping(fleet) is None  # 0 by default: no pings
        await csms.call("CP-00001", change("1"))
        await wait_until(lambda: ws_ping(fleet) is not None and ws_ping(fleet).count >= 1)
        await csms.call("CP-00001", change("0"))
        # Nothing left waiting: the stopped pings' wake-up went from the loop's calendar.
        assert len(Calendar.of(asyncio.get_running_loop())) == 0
        count = ws_ping(fleet).count
        await asyncio.sleep(1.5)
        assert ws_ping(fleet).count == count  # stopped
