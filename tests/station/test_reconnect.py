"""Reconnect policies over real sockets: against a port nobody listens on, each policy paces
the station's connect attempts as it says (counted as failed connects, bounded in time)."""

from __future__ import annotations

import asyncio
import socket

from tests.conftest import fleet_running, make_scenario


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
