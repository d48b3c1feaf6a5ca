"""A CSMS that bends the OCPP schema: with csms.on_violation "report" (the default) the station
records the violation (action, field, rule, an example frame) and goes on when it can use the
message; with "fail" every violation is a failure. Real websocket servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection

from fleet.station.state import State
from tests.conftest import Fleet, fleet_running, make_scenario, wait_until
from tests.station.test_misbehaving_csms import raw_csms, serve_calls

NAIVE = "2030-01-01T00:00:00.123456"  # datetime.utcnow().isoformat(): no UTC offset


def boot_failures(fleet: Fleet) -> int:
    row = fleet.summary.rows.get("BootNotification")
    return 0 if row is None else row.failures


def answer_with(boot: dict[str, Any], heartbeat: dict[str, Any] | None = None) -> Any:
    def answer(message: list[Any]) -> str | None:
        if message[2] == "BootNotification":
            return orjson.dumps([3, message[1], boot]).decode()
        if message[2] == "Heartbeat":
            return orjson.dumps([3, message[1], heartbeat or {"currentTime": NAIVE}]).decode()
        return orjson.dumps([3, message[1], {}]).decode()

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer)

    return handler


@pytest.mark.parametrize("on_violation", ["report", "fail"])
async def test_a_timestamp_without_offset_is_read_as_utc_and_reported(on_violation: str) -> None:
    handler = answer_with({"currentTime": NAIVE, "interval": 1, "status": "Accepted"})
    scenario = make_scenario(csms={"on_violation": on_violation}, boot={"retry_s": 0.2})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        station = fleet.stations[0]
        if on_violation == "report":
            await wait_until(lambda: station.state is State.ACCEPTED)
            await wait_until(lambda: fleet.summary.rows.get("Heartbeat") is not None, 3)
        else:
            await wait_until(lambda: boot_failures(fleet) >= 2)
    summary = fleet.summary
    rows = {(r["action"], r["field"]): r for r in summary.stats.conformance.rows()}
    boot = rows["BootNotification", "currentTime"]
    assert (boot["direction"], boot["rule"], boot["wanted"]) == ("answer", "format", "date-time")
    assert NAIVE in boot["example"] and re.match(r'\[3,"[0-9a-f-]{36}",\{', boot["example"])
    if on_violation == "report":
        assert summary.failures == []
        assert ("Heartbeat", "currentTime") in rows  # every answer is checked, and counted
        expected = datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC).timestamp()
        assert abs(station.clock_offset_s - (expected - time.time())) < 5
    else:
        assert station.state is not State.ACCEPTED
        assert summary.failures[0]["reason"] == (
            "invalid BootNotification response: data.currentTime must be date-time"
        )


async def test_an_answer_the_station_cannot_use_is_a_failure_even_when_reporting() -> None:
    handler = answer_with({"currentTime": "2030-01-01T00:00:00Z", "interval": 1})  # no status
    scenario = make_scenario(boot={"retry_s": 0.2})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: boot_failures(fleet) >= 2)
        assert fleet.stations[0].state is not State.ACCEPTED
    assert fleet.summary.failures[0]["reason"] == (
        "invalid BootNotification response: status None is not one of Accepted, Pending, Rejected"
    )
    (row,) = fleet.summary.stats.conformance.rows()
    assert (row["field"], row["rule"], row["wanted"]) == ("status", "required", "present")


@pytest.mark.parametrize("on_violation", ["report", "fail"])
async def test_a_call_breaking_its_schema_gets_the_spec_error_and_is_reported(
    on_violation: str,
) -> None:
    errors: list[list[Any]] = []

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == 2 and message[2] == "BootNotification":
                boot = {
                    "currentTime": "2030-01-01T00:00:00Z",
                    "interval": 300,
                    "status": "Accepted",
                }
                await ws.send(orjson.dumps([3, message[1], boot]).decode())
                await ws.send(orjson.dumps([2, "r1", "Reset", {"type": "Sideways"}]).decode())
            elif message[0] == 2:
                await ws.send(orjson.dumps([3, message[1], {}]).decode())
            elif message[0] == 4:
                errors.append(message)

    scenario = make_scenario(csms={"on_violation": on_violation})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: errors)
    assert errors[0][:3] == [4, "r1", "PropertyConstraintViolation"]
    (row,) = fleet.summary.stats.conformance.rows()
    assert (row["direction"], row["action"], row["field"], row["rule"]) == (
        "call", "Reset", "type", "enum"
    )  # fmt: skip
    assert row["wanted"] == "one of Hard, Soft"
    handled = fleet.summary.stats.timings["CSMS→CP Reset"]
    assert (handled.count, handled.failures) == (1, 0 if on_violation == "report" else 1)
    assert fleet.stations[0].state is State.OFFLINE  # never rebooted: stopped at the end


async def test_an_answer_after_the_timeout_is_late_not_a_violation() -> None:
    async def handler(ws: ServerConnection) -> None:
        statuses = 0
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] != 2:
                continue
            statuses += message[2] == "StatusNotification"
            if message[2] == "BootNotification":
                boot = {
                    "currentTime": "2030-01-01T00:00:00Z",
                    "interval": 300,
                    "status": "Accepted",
                }
                await ws.send(orjson.dumps([3, message[1], boot]).decode())
            elif statuses == 1:  # the first StatusNotification: answered after its timeout
                await asyncio.sleep(0.5)
                await ws.send(orjson.dumps([3, message[1], {}]).decode())
            else:
                await ws.send(orjson.dumps([3, message[1], {}]).decode())

    scenario = make_scenario(csms={"call_timeout_s": 0.3})
    async with raw_csms(handler) as url, fleet_running(scenario, url) as fleet:
        await wait_until(lambda: "late answer" in fleet.summary.stats.timings)
    late = fleet.summary.stats.timings["late answer"]
    assert late.count == 1 and 450 <= late.max_ms < 2000  # its real round trip
    assert [f["reason"] for f in fleet.summary.failures] == ["no answer within 0.3 s"]
    assert fleet.summary.stats.conformance.total == 0
