"""Storms over real sockets: each produces the connection pattern it names, as the CSMS's connect
log shows it; a silent drop leaves the CSMS a half-open connection until the station gives it up;
a rolling restart boots the stations again in waves, as a firmware campaign."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

from fleet.csms import Csms
from fleet.metrics.report import reconnects_json
from fleet.station.calendar import Calendar
from fleet.station.storms import faults_for
from tests.conftest import accepted, calls, csms_running, fleet_running, make_scenario

COUNT = 12


def _log(csms: Csms, kind: str = "connect") -> dict[str, list[float]]:
    """Per station, the times (monotonic) of its connects (or disconnects), first one at 0."""
    times: dict[str, list[float]] = defaultdict(list)
    start = csms.connect_log[0][0]
    for at, station, what in csms.connect_log:
        if what == kind:
            times[station].append(at - start)
    return times


def _scenario(*storms: dict[str, Any], **more: Any) -> Any:
    return make_scenario(
        stations={"count": COUNT, "ocpp": {"1.6": 1, "2.0.1": 1}},
        reconnect={"min_s": 0.05, "max_s": 0.1},
        storms=list(storms),
        **more,
    )


async def test_a_csms_restart_storm_reconnects_every_station_once() -> None:
    scenario = _scenario({"kind": "csms_restart", "at_s": 0.5})
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(1.2)
        await accepted(fleet)
        stats = fleet.summary.stats
    connects = _log(csms)
    assert len(connects) == COUNT
    for times in connects.values():
        assert len(times) == 2 and 0.45 < times[1] < 0.9, times
    lost = stats.timings["connection lost"]
    assert lost.count == COUNT and lost.failures == 0  # a storm's drop is no failure
    assert stats.timings["lost→accepted"].count == COUNT
    reconnects = reconnects_json(stats)
    assert reconnects is not None and reconnects["buckets"]["≤1 s"] == COUNT
    assert sum(reconnects["buckets"].values()) == COUNT


async def test_a_blackout_keeps_its_share_offline_for_its_duration() -> None:
    storm = {"kind": "blackout", "at_s": 0.3, "share": 0.5, "duration_s": 1.0}
    scenario = _scenario(storm)
    struck = {s for s in map(scenario.station_id, range(1, COUNT + 1))
              if faults_for(scenario.storms, scenario.seed, s)}  # fmt: skip
    assert 0 < len(struck) < COUNT
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(0.8)
        offline = {s.id for s in fleet.stations if s.state.value == "offline"}
        await asyncio.sleep(1.0)
        await accepted(fleet)
    assert offline == struck
    drops = _log(csms, "disconnect")
    for station, times in _log(csms).items():
        if station in struck:  # away for the storm's 1 s (measured from its drop: a busy
            # machine delays the first connects, not the storm's clock)
            assert len(times) == 2 and 0.9 < times[1] - drops[station][0] < 1.6, (station, times)
        else:
            assert len(times) == 1, (station, times)


async def test_a_silent_drop_leaves_the_csms_a_half_open_connection() -> None:
    storm = {"kind": "blackout", "at_s": 0.3, "share": 1.0, "duration_s": 1.0, "silent": True}
    scenario = _scenario(storm)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(0.7)
        # The stations are offline, yet the CSMS still holds every connection open.
        assert all(s.state.value == "offline" for s in fleet.stations)
        assert all(record.connected for record in csms.ledger.values())
        assert not _log(csms, "disconnect")
        await asyncio.sleep(1.0)
        await accepted(fleet)
    for station, times in _log(csms, "disconnect").items():
        assert 1.25 < times[0] < 1.5, (station, times)  # given up after the silence
    assert all(len(times) == 2 for times in _log(csms).values())


async def test_flapping_stations_come_and_go_every_period() -> None:
    storm = {"kind": "flapping", "at_s": 0.2, "share": 1.0, "every_s": 0.6, "down_s": 0.2,
             "duration_s": 1.8}  # fmt: skip
    scenario = _scenario(storm)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(2.5)
        await accepted(fleet)
    for station, times in _log(csms).items():
        assert len(times) == 4, (station, times)  # the first, then three drops
        gaps = [b - a for a, b in itertools.pairwise(times[1:])]
        assert all(0.5 < g < 0.75 for g in gaps), (station, gaps)


async def test_stations_that_stop_before_their_storm_leave_nothing_armed() -> None:
    storm = {"kind": "flapping", "at_s": 3600, "share": 1.0, "every_s": 30, "duration_s": 3600}
    calendar = Calendar.of(asyncio.get_running_loop())
    async with (
        csms_running(interval_s=300) as csms,
        fleet_running(_scenario(storm), csms.url) as fleet,
    ):
        await accepted(fleet)
        assert len(calendar) == COUNT  # one fault armed a station, not 120
    assert len(calendar) == 0  # stopped: their faults cancelled, the stations not kept


async def test_a_rolling_restart_boots_the_stations_again_in_waves() -> None:
    storm = {"kind": "rolling_restart", "at_s": 0.3, "every_s": 0.8, "waves": 2}
    scenario = _scenario(storm)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await asyncio.sleep(1.6)
        await accepted(fleet)
    waves = sorted(round(times[1] / 0.8) for times in _log(csms).values())
    assert set(waves) == {0, 1} and 0 < waves.count(0) < COUNT, waves
    for station in fleet.stations:
        boots = [c.message[3] for c in calls(csms, station.id, "BootNotification")]
        assert len(boots) == 2
        if station.version == "2.0.1":
            assert [b["reason"] for b in boots] == ["PowerUp", "FirmwareUpdate"]


async def test_a_peak_hour_multiplies_session_arrivals_while_it_lasts() -> None:
    sessions = {"arrivals_per_hour": 60, "plug_in_min": {"min": 0.005, "max": 0.005}}
    calm = _scenario(sessions=sessions)
    peak = _scenario({"kind": "peak_hour", "at_s": 0, "duration_s": 3, "factor": 100},
                     sessions=sessions)  # fmt: skip
    started = []
    for scenario in (calm, peak):
        async with (
            csms_running(interval_s=300) as csms,
            fleet_running(scenario, csms.url) as fleet,
        ):
            await accepted(fleet)
            await asyncio.sleep(3)
            started.append(sum(s.started for s in fleet.summary.stats.sessions.values()))
    # One an hour per connector: hardly any in 3 s; a hundred times that: several each.
    assert started[0] <= 2 and started[1] >= COUNT, started
