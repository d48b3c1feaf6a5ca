"""A CSMS that misbehaves: a real websocket server on 127.0.0.1 that sends what a broken CSMS
sends. The station answers per spec or counts a failure, and keeps running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from fleet.station.state import State
from tests.conftest import fleet_running, make_scenario, wait_until

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_csms(handler: Handler, subprotocols: list[str] | None = None) -> AsyncIterator[str]:
    server = await websockets.serve(
        handler, "127.0.0.1", 0, subprotocols=subprotocols or ["ocpp1.6", "ocpp2.0.1"]
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ocpp"
    finally:
        server.close()
        await server.wait_closed()


def boot_answer(uid: str, status: str = "Accepted", interval: Any = 300) -> str:
    payload = {"status": status, "currentTime": "2030-01-01T00:00:00Z", "interval": interval}
    return orjson.dumps([3, uid, payload]).decode()


async def serve_calls(ws: ServerConnection, answer: Callable[[list[Any]], str | None]) -> None:
    """Answer each CALL the station sends with whatever ``answer`` returns (None: stay silent)."""
    async for raw in ws:
        message = orjson.loads(raw)
        if message[0] == 2:
            reply = answer(message)
            if reply is not None:
                await ws.send(reply)


@pytest.mark.parametrize("on_violation", ["report", "fail"])
async def test_bad_json_and_unknown_reply_ids_are_violations_and_the_run_goes_on(
    on_violation: str,
) -> None:
    received: list[list[Any]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send("this is {not json")
        await ws.send(orjson.dumps([3, "no-such-id", {}]).decode())
        await ws.send(orjson.dumps([2, "bad-call", "Reset"]).decode())  # CALL without payload
        async for raw in ws:
            message = orjson.loads(raw)
            received.append(message)
            if message[0] == 2 and message[2] == "BootNotification":
                await ws.send(boot_answer(message[1], interval=300))
            elif message[0] == 2:
                await ws.send(orjson.dumps([3, message[1], {}]).decode())

    scenario = make_scenario(csms={"on_violation": on_violation})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        await wait_until(lambda: any(m[0] == 4 for m in received))
    # The malformed CALL got a CallError with its id: 1.6 has no RpcFrameworkError, ProtocolError.
    error = next(m for m in received if m[0] == 4)
    assert error[1] == "bad-call" and error[2] == "ProtocolError"
    rows = {
        (r["direction"], r["action"], r["rule"]): r for r in fleet.summary.stats.conformance.rows()
    }
    assert set(rows) == {
        ("frame", "(malformed)", "rpc"),
        ("frame", "(unexpected reply)", "unique id"),
    }
    assert rows["frame", "(malformed)", "rpc"]["count"] == 2
    assert rows["frame", "(unexpected reply)", "unique id"]["example"] == '[3,"no-such-id",{}]'
    reasons = [f["reason"] for f in fleet.summary.failures]
    if on_violation == "report":
        assert reasons == []  # violations are reported, not failures
    else:
        assert any("not JSON" in r for r in reasons)
        assert any("unknown message id 'no-such-id'" in r for r in reasons)
        assert fleet.summary.stats.timings["CSMS→CP (malformed)"].failures == 2


async def test_schema_invalid_boot_answer_is_a_failure_and_the_station_retries() -> None:
    boots = 0

    def answer(message: list[Any]) -> str | None:
        nonlocal boots
        if message[2] == "BootNotification":
            boots += 1
            if boots == 1:
                return boot_answer(message[1], interval="soon")  # wrong type
            return boot_answer(message[1])
        return orjson.dumps([3, message[1], {}]).decode()

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer)

    scenario = make_scenario(boot={"retry_s": 0.3})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
    row = fleet.summary.rows["BootNotification"]
    assert (row.count, row.failures) == (2, 1)
    assert "invalid BootNotification response" in fleet.summary.failures[0]["reason"]


async def test_call_error_answer_is_counted_with_its_code() -> None:
    def answer(message: list[Any]) -> str | None:
        if message[2] == "BootNotification":
            return boot_answer(message[1], interval=1)
        return orjson.dumps([4, message[1], "InternalError", "database down", {}]).decode()

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer)

    async with raw_csms(handler) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: fleet.summary.rows.get("StatusNotification") is not None)
        await wait_until(lambda: fleet.summary.rows["StatusNotification"].failures == 2)
    assert fleet.summary.failures[0]["reason"] == "CallError InternalError: database down"
    assert fleet.stations[0].state is State.OFFLINE  # stopped cleanly at the end


async def test_no_answer_is_a_timeout_failure() -> None:
    def answer(message: list[Any]) -> str | None:
        return boot_answer(message[1]) if message[2] == "BootNotification" else None

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer)

    scenario = make_scenario(csms={"call_timeout_s": 0.3})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: fleet.summary.rows.get("StatusNotification") is not None)
        await wait_until(lambda: fleet.summary.rows["StatusNotification"].failures >= 2)
    assert fleet.summary.failures[0]["reason"] == "no answer within 0.3 s"


async def test_dropped_socket_is_counted_and_the_station_reconnects() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            raw = await ws.recv()  # the boot: drop the TCP connection instead of answering
            assert orjson.loads(raw)[2] == "BootNotification"
            ws.transport.abort()
            return
        await serve_calls(
            ws,
            lambda m: (
                boot_answer(m[1])
                if m[2] == "BootNotification"
                else orjson.dumps([3, m[1], {}]).decode()
            ),
        )

    async with raw_csms(handler) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED, timeout_s=5)
    assert connections == 2
    boot = fleet.summary.rows["BootNotification"]
    assert (boot.count, boot.failures) == (2, 1)
    assert fleet.summary.failures[0]["reason"].startswith("connection lost")
    assert fleet.summary.stats.timings["connection lost"].failures == 1


async def test_csms_without_the_subprotocol_is_refused_with_a_clear_reason() -> None:
    async def handler(ws: ServerConnection) -> None:
        await asyncio.sleep(5)

    scenario = make_scenario(stations={"ocpp": "2.0.1"})
    async with raw_csms(handler, subprotocols=["ocpp1.6"]) as url:
        async with fleet_running(scenario, url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 2)
    assert fleet.summary.failures[0] == {
        "station": "CP-00001",
        "action": "connect",
        "reason": "CSMS did not accept subprotocol ocpp2.0.1 (HTTP 400)",
    }


@pytest.mark.parametrize("answer_heartbeats", [True, False])
async def test_stopping_the_fleet_is_not_a_failure_even_with_calls_under_way(
    answer_heartbeats: bool,
) -> None:
    """Our own stop closes sockets while heartbeats are being sent or awaited: not failures."""

    def answer(message: list[Any]) -> str | None:
        if message[2] == "BootNotification":
            return boot_answer(message[1], interval=1)
        if message[2] == "Heartbeat":
            if not answer_heartbeats:
                return None  # keep every heartbeat outstanding
            return orjson.dumps([3, message[1], {"currentTime": "2030-01-01T00:00:00Z"}]).decode()
        return orjson.dumps([3, message[1], {}]).decode()

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer)

    scenario = make_scenario(stations={"count": 50}, heartbeat={"interval_s": 0.01, "min_s": 0.01})
    async with raw_csms(handler) as url:
        async with fleet_running(scenario, url) as fleet:
            await wait_until(lambda: all(s.state is State.ACCEPTED for s in fleet.stations))
            await asyncio.sleep(0.5)
    if answer_heartbeats:
        assert fleet.summary.rows["Heartbeat"].count > 500
        assert fleet.summary.failures == []
    else:
        # Stopping waits for the CALL in flight; a CSMS that never answers is then reported
        # for what it did (a timeout), never as a connection lost to our own stop.
        reasons = {failure["reason"] for failure in fleet.summary.failures}
        assert reasons == {"no answer within 2 s"}
