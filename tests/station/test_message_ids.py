"""Message ids on the wire (csms.message_ids) and a URL per OCPP version (csms.url), against
embedded CSMSs on 127.0.0.1."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import calls, csms_running, fleet_running, make_scenario, wait_until

MIXED = {"count": 6, "ocpp": {"1.6": 1, "2.0.1": 1}}


async def test_uuid_ids_are_version_4_and_never_repeat_across_stations() -> None:
    scenario = make_scenario(stations=MIXED)
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url):
            await wait_until(lambda: len(calls(csms, action="Heartbeat")) >= 12, 6)
    ids = [c.message[1] for c in calls(csms)]
    assert len(ids) == len(set(ids)) >= 25
    parsed = [uuid.UUID(i) for i in ids]
    assert all(str(u) == i and u.version == 4 for u, i in zip(parsed, ids, strict=True))


async def test_counter_ids_count_from_1_per_station() -> None:
    scenario = make_scenario(stations=MIXED, csms={"message_ids": "counter"})
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(calls(csms, action="Heartbeat")) >= 12, 6)
    for station in fleet.stations:
        ids = [c.message[1] for c in calls(csms, station.id)]
        assert ids == [str(n) for n in range(1, len(ids) + 1)] and len(ids) >= 3


@pytest.mark.parametrize("form", ["mapping", "flag"])
async def test_each_version_connects_to_its_own_url(form: str) -> None:
    async with csms_running() as csms16, csms_running() as csms201:
        urls = {"1.6": csms16.url, "2.0.1": csms201.url}
        if form == "flag":
            urls = ",".join(f"{v}={u}" for v, u in urls.items())  # type: ignore[assignment]
        scenario = make_scenario(stations=MIXED, csms={"url": urls})
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: len(calls(csms16, action="BootNotification")) >= 3)
            await wait_until(lambda: len(calls(csms201, action="BootNotification")) >= 3)
    by_version = {v: {s.id for s in fleet.stations if s.version == v} for v in ("1.6", "2.0.1")}
    assert {c.station for c in calls(csms16)} == by_version["1.6"]
    assert {c.station for c in calls(csms201)} == by_version["2.0.1"]
    assert {c.version for c in calls(csms16)} == {"1.6"}
