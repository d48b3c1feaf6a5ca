"""Campaigns from the embedded CSMS: one command to every connected station over HTTP, and the
outcome per status, CallError and timeout, against a real mixed fleet with responder policies."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

from fleet.metrics.sample import handling_row
from tests.conftest import accepted, csms_running, fleet_running, make_scenario

STATIONS = 20


async def http_get(url: str) -> tuple[int, Any]:
    """GET over a plain asyncio connection. Not urllib in a thread: a test module elsewhere
    imports Locust, whose gevent patches make threads greenlets this loop never runs."""
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length)
    writer.close()
    return int(status_line.split()[1]), json.loads(body)


async def campaign(base: str, action: str, payload: dict[str, Any], **query: str) -> Any:
    params = urllib.parse.urlencode({"payload": json.dumps(payload), **query})
    return await asyncio.wait_for(http_get(f"{base}/campaign/{action}?{params}"), 40)


async def test_a_campaign_reaches_every_station_and_reports_what_came_back() -> None:
    scenario = make_scenario(
        stations={"count": STATIONS, "ocpp": {"1.6": 1, "2.0.1": 1}},
        responses={"ClearCache": {"status": {"Accepted": 3, "Rejected": 1}, "delay_s": 0.05}},
        response_groups=[
            {
                "name": "mute",
                "stations": ["CP-0000[1-3]"],
                "responses": {"ClearCache": {"unanswered": 1}},
            },
            {
                "name": "broken",
                "stations": ["CP-00004"],
                "responses": {"ClearCache": {"call_errors": 1}},
            },
        ],
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        base = csms.url.replace("ws://", "http://").rsplit("/", 1)[0]
        status, body = await campaign(base, "ClearCache", {}, timeout_s="1")
        assert status == 200, body
        handled = fleet.summary.stats.timings[handling_row("ClearCache")].count
        later = await http_get(f"{base}/campaigns")

        # Only some stations, only one version's call.
        _, picked = await campaign(base, "ClearCache", {}, stations="CP-0001*", timeout_s="1")
        _, v16 = await campaign(base, "Reset", {"type": "Soft"}, version="1.6")
        bad_status, bad = await campaign(base, "Reset", {"type": "Sideways"})

    assert body["sent"] == STATIONS
    assert body["errors"] == {"timeout": 3, "InternalError": 1}
    answered = sum(body["statuses"].values())
    assert answered == STATIONS - 4 == handled - 1  # the CallError is handled too
    assert set(body["statuses"]) == {"Accepted", "Rejected"}
    assert 50 <= body["latency_ms"]["p50"] < 1000  # the stations' delay, seen by the CSMS
    assert later[1][0]["sent"] == STATIONS
    assert picked["sent"] == 10  # CP-00010 .. CP-00019
    assert v16["sent"] == STATIONS // 2 and v16["statuses"] == {"Accepted": STATIONS // 2}
    assert v16["skipped"] == {"not this OCPP version's call": STATIONS // 2}
    assert (
        bad_status == 400 and "data.type must be one of" in bad["error"]
    )  # refused before anything is sent
