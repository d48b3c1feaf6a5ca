"""What a station costs in memory, held where a test can hold it: the instance dict.

CPython 3.11 shares the keys of an instance dict across a class's instances up to 29
attributes (~330 bytes per instance); from 30 on, each instance carries its own table (1,648
bytes, measured). A station past the limit cost ~1.5 KB more of its ~11 KB (bench section 2), so
attributes set only in rare cases are class-level defaults, and this test counts what a station
that booted, heartbeated and charged holds."""

from __future__ import annotations

from fleet.station.sessions import Charger
from tests.conftest import csms_running, fleet_running, make_scenario, wait_until
from tests.station.test_charging import QUICK

SHARED_KEYS_LIMIT = 29  # CPython 3.11: an instance dict's keys are shared up to this many


def _completed(charger: Charger) -> bool:
    return charger.counts.completed > 0


async def test_a_charging_station_keeps_within_the_shared_key_limit() -> None:
    scenario = make_scenario(
        stations={"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}},
        heartbeat={"interval_s": 0.2, "min_s": 0.01},
        sessions=QUICK,
    )
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: all(
                    s.charging and _completed(s.charging.chargers[0]) for s in fleet.stations
                ),
                timeout_s=15,
            )
            held = {station.version: sorted(vars(station)) for station in fleet.stations}
    assert fleet.summary.rows["Heartbeat"].count >= 2
    for version, names in held.items():
        assert len(names) <= SHARED_KEYS_LIMIT, (version, len(names), names)
