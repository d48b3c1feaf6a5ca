"""The station engine over the in-memory transport: the wiring of a whole station without a
socket (the real-socket tests check the wire), and what the ``@on`` router refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from fleet.metrics.summary import Summary
from fleet.station.memory import MemoryTransport, memory_pair
from fleet.station.state import Ending, State
from fleet.station.v16 import StationV16
from tests.conftest import make_scenario

BOOT_ACCEPTED = {"currentTime": "2030-01-01T00:00:00.123Z", "interval": 300, "status": "Accepted"}


async def received(csms: MemoryTransport) -> list[Any]:
    message: list[Any] = orjson.loads(await asyncio.wait_for(csms.recv(), 2))
    return message


async def next_call(csms: MemoryTransport) -> list[Any]:
    message = await received(csms)
    assert message[0] == 2, message
    return message


def answer(csms: MemoryTransport, message: list[Any], payload: dict[str, Any]) -> None:
    csms.send(orjson.dumps([3, message[1], payload]))


async def booted(station: StationV16, csms: MemoryTransport) -> None:
    boot = await next_call(csms)
    assert boot[2] == "BootNotification"
    answer(csms, boot, BOOT_ACCEPTED)
    for _ in range(2):  # connector 0 and 1
        status = await next_call(csms)
        assert status[2] == "StatusNotification"
        answer(csms, status, {})
    assert station.state is State.ACCEPTED


async def test_a_whole_station_boots_reports_and_answers_in_memory() -> None:
    summary = Summary()
    station = StationV16("CP-1", make_scenario(), summary)
    mine, csms = memory_pair()
    life = asyncio.create_task(station.run(mine))
    await booted(station, csms)
    csms.send(
        orjson.dumps([2, "x1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}])
    )
    reply = await received(csms)
    assert reply == [3, "x1", {"status": "Accepted"}]
    assert station.heartbeat_s == 60
    await csms.close(1000, "bye")
    assert await asyncio.wait_for(life, 2) is Ending.LOST
    assert summary.rows["BootNotification"].count == 1
    assert summary.rows["StatusNotification"].count == 2
    assert station.state is State.OFFLINE


async def test_calls_leave_one_at_a_time_in_order_and_each_gets_its_answer() -> None:
    station = StationV16("CP-1", make_scenario(), Summary())
    mine, csms = memory_pair()
    life = asyncio.create_task(station.run(mine))
    await booted(station, csms)
    answers = [
        asyncio.create_task(station.call("DataTransfer", {"vendorId": f"v{n}"})) for n in range(3)
    ]
    await asyncio.sleep(0)
    for n in range(3):
        message = await next_call(csms)
        assert message[3] == {"vendorId": f"v{n}"}
        assert csms._frames == []  # the next CALL waits for this one's answer
        answer(csms, message, {"status": "Accepted", "data": str(n)})
    assert [(await a)["data"] for a in answers] == ["0", "1", "2"]
    await csms.close()
    await life


class Custom(StationV16):
    """A user's station, written as in the ocpp library's tutorial."""

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        await asyncio.sleep(0.01)
        return call_result.DataTransfer(status="Accepted", data=vendor_id.upper())

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> dict[str, Any]:
        return {"listVersion": 7}


async def test_async_and_added_handlers_answer_like_the_library() -> None:
    summary = Summary()
    station = Custom("CP-1", make_scenario(), summary)
    mine, csms = memory_pair()
    life = asyncio.create_task(station.run(mine))
    await booted(station, csms)
    csms.send(orjson.dumps([2, "a", "DataTransfer", {"vendorId": "acme"}]))
    csms.send(orjson.dumps([2, "b", "GetLocalListVersion", {}]))
    replies = [await received(csms) for _ in range(2)]
    assert sorted(replies) == [
        [3, "a", {"status": "Accepted", "data": "ACME"}],
        [3, "b", {"listVersion": 7}],
    ]
    assert summary.stats.timings["CSMS→CP DataTransfer"].count == 1
    await csms.close()
    await life


def test_the_ocpp_chargepoint_is_not_inherited() -> None:
    # its start()/route_message() need a connection object fleet does not have
    assert not hasattr(StationV16, "start") and not hasattr(StationV16, "route_message")


def test_after_hooks_are_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Hooked.after_reset: @after\(Reset\) hooks are not run"):

        class Hooked(StationV16):
            @after(Action.reset)
            def after_reset(self, **_: Any) -> None:
                pass


def test_a_handler_for_an_action_of_no_version_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Typo.on_rest: @on\('Rest'\): not an action of this OCPP"):

        class Typo(StationV16):
            @on("Rest")
            def on_rest(self, **_: Any) -> None:
                pass


def test_an_override_that_drops_its_on_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Undecorated.on_reset overrides the @on\(Reset\) handler"):

        class Undecorated(StationV16):
            def on_reset(self, type: str, **_: Any) -> call_result.Reset:
                return call_result.Reset(status="Rejected")
