"""Heartbeats by intended time over real sockets: every beat that cannot leave on schedule is
counted as missed, with its cause, and a stall of fleet's own loop taints the samples it
delayed. (The schedule's arithmetic is tested without sockets in test_schedule.py.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection

from fleet.metrics import report
from fleet.metrics.actions import actions_json
from fleet.station.state import State
from tests.conftest import Fleet, fleet_running, make_scenario, wait_until
from tests.station.test_misbehaving_csms import raw_csms

BOOT = {"currentTime": "2030-01-01T00:00:00Z", "interval": 300, "status": "Accepted"}


def missed(fleet: Fleet, cause: str) -> int:
    return fleet.summary.stats.missed.get("Heartbeat", {}).get(cause, 0)


def beats_every(seconds: float, **sections: Any) -> Any:
    return make_scenario(heartbeat={"interval_s": seconds, "min_s": 0.01}, **sections)


async def answering(ws: ServerConnection, heartbeat_delay_s: float = 0.0) -> None:
    async for raw in ws:
        message = orjson.loads(raw)
        if message[0] != 2:
            continue
        payload: dict[str, Any] = {}
        if message[2] == "BootNotification":
            payload = BOOT
        elif message[2] == "Heartbeat":
            payload = {"currentTime": "2030-01-01T00:00:00Z"}
            await asyncio.sleep(heartbeat_delay_s)
        await ws.send(orjson.dumps([3, message[1], payload]).decode())


async def test_beats_due_while_the_previous_call_is_out_are_missed_as_busy() -> None:
    async def slow(ws: ServerConnection) -> None:
        await answering(ws, heartbeat_delay_s=0.5)  # each answer spans 2.5 intervals

    async with raw_csms(slow) as url, fleet_running(beats_every(0.2), url) as fleet:
        await wait_until(lambda: missed(fleet, "busy") >= 4, 5)
    assert missed(fleet, "stall") == missed(fleet, "offline") == 0
    assert fleet.stations[0].missed == {"Heartbeat": missed(fleet, "busy")}
    # The beat that leaves after a slow answer leaves late (the ones before it are missed, so
    # by less than an interval), and its drift says so.
    assert 80 <= fleet.summary.stats.timings["Heartbeat drift"].max_ms < 200


async def test_beats_due_while_offline_are_counted_when_the_station_is_back() -> None:
    connections = 0

    async def drop_then_boot_slowly(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            await asyncio.wait_for(answering(ws), 0.5)  # a few beats, then the link drops
            return
        boot = orjson.loads(await ws.recv())  # the boot after reconnecting: answered 1 s later
        await asyncio.sleep(1.0)
        await ws.send(orjson.dumps([3, boot[1], BOOT]).decode())
        await answering(ws)

    async with raw_csms(drop_then_boot_slowly) as url:
        async with fleet_running(beats_every(0.2), url) as fleet:
            await wait_until(lambda: connections == 2)
            await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED, 5)
            await wait_until(lambda: missed(fleet, "offline") > 0)
    # ~1.1 s without an accepted connection at one beat per 0.2 s.
    assert 4 <= missed(fleet, "offline") <= 8, fleet.summary.stats.missed
    assert fleet.summary.stats.missed_json()["Heartbeat"]["stations"] == 1


async def test_beats_missed_by_a_station_still_offline_at_the_end_are_counted() -> None:
    async def drop(ws: ServerConnection) -> None:
        await asyncio.wait_for(answering(ws), 0.5)

    async with raw_csms(drop) as url:
        scenario = beats_every(0.2, reconnect={"min_s": 5, "max_s": 5})
        async with fleet_running(scenario, url) as fleet:
            await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
            await wait_until(lambda: fleet.stations[0].state is State.OFFLINE, 3)
            await asyncio.sleep(1.0)  # back-off of at least 2.5 s: still offline at the stop
    assert 4 <= missed(fleet, "offline") <= 7, fleet.summary.stats.missed


async def test_a_stall_of_the_loop_misses_beats_and_taints_what_it_delayed() -> None:
    beats = 0

    async def stalling(ws: ServerConnection) -> None:
        nonlocal beats
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] != 2:
                continue
            payload: dict[str, Any] = BOOT if message[2] == "BootNotification" else {}
            if message[2] == "Heartbeat":
                beats += 1
                payload = {"currentTime": "2030-01-01T00:00:00Z"}
                if beats == 5:
                    time.sleep(0.2)  # blocks the one event loop: a stall mid round trip
            await ws.send(orjson.dumps([3, message[1], payload]).decode())

    async with raw_csms(stalling) as url:
        async with fleet_running(beats_every(0.1), url, health=True) as fleet:
            # Between beats (none out), or the stall would be the busy beat's, not the timer's.
            await wait_until(lambda: beats >= 8 and not fleet.stations[0].beats.out, 5)
            time.sleep(0.45)  # the station sleeps between beats: its timer fires 450 ms late
            await wait_until(lambda: missed(fleet, "stall") > 0, 2)
    stats = fleet.summary.stats
    assert fleet.summary.health is not None and fleet.summary.health.stall_count >= 2
    assert 2 <= missed(fleet, "stall") <= 4  # 450 ms at one beat per 100 ms
    heartbeats = fleet.summary.rows["Heartbeat"]
    assert heartbeats.tainted == 1, "only the round trip the stall sat in"
    actions = actions_json(stats, 1.0)
    lines = report.distrust(actions, 50.0)
    assert any(
        line.startswith("Heartbeat p99 ") and "overlapped fleet's own" in line for line in lines
    )
