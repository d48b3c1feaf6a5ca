"""Storm plans without sockets or sleeps: which stations a storm strikes and when (seeded per
station id, the same in every process), and peak hours raising session arrivals."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest

from fleet.metrics.summary import Summary
from fleet.scenario_charging import Sessions
from fleet.scenario_storms import PRESETS, Storm
from fleet.station import storming
from fleet.station.calendar import Calendar
from fleet.station.generator import SessionGenerator
from fleet.station.session import make_station
from fleet.station.storms import (
    DROP,
    REBOOT,
    RENEW,
    Fault,
    boot_storm,
    faults_for,
    next_fault,
    surges,
)
from tests.conftest import make_scenario
from tests.station.test_v2g_status import HandLoop

IDS = [f"CP-{n:05d}" for n in range(1, 2001)]


def _plans(storm: Storm, seed: int = 1) -> dict[str, list[Fault]]:
    return {i: faults_for((storm,), seed, i) for i in IDS}


def test_a_csms_restart_drops_every_station_once_at_its_time() -> None:
    plans = _plans(Storm(kind="csms_restart", at_s=42))
    assert {tuple(p) for p in plans.values()} == {(Fault(42, DROP, 0.0, False),)}


def test_a_blackout_strikes_its_share_the_same_stations_in_every_process() -> None:
    storm = Storm(kind="blackout", at_s=10, share=0.3, duration_s=120, silent=True)
    plans = _plans(storm)
    struck = {i for i, p in plans.items() if p}
    assert 0.27 < len(struck) / len(IDS) < 0.33  # really a 30 % draw
    assert all(p == [Fault(10, DROP, 120, True)] for p in plans.values() if p)
    assert struck == {i for i, p in _plans(storm).items() if p}  # the same again
    other = {i for i, p in _plans(storm, seed=2).items() if p}
    assert other != struck and 0.27 < len(other) / len(IDS) < 0.33


def test_flapping_stations_drop_every_period_out_of_step() -> None:
    storm = Storm(kind="flapping", at_s=30, share=0.2, every_s=20, down_s=5, duration_s=100)
    plans = {i: p for i, p in _plans(storm).items() if p}
    assert 0.17 < len(plans) / len(IDS) < 0.23
    firsts = []
    for faults in plans.values():
        times = [f.at_s for f in faults]
        assert all(b - a == pytest.approx(20) for a, b in itertools.pairwise(times))
        assert 30 <= times[0] < 50 and times[-1] < 130 and len(times) in (4, 5)
        assert all(f.down_s == 5 and f.action == DROP for f in faults)
        firsts.append(times[0])
    # Spread over the first period, not all at once.
    assert len({int(t) for t in firsts}) == 20


def test_a_rolling_restart_reboots_in_even_waves() -> None:
    storm = Storm(kind="rolling_restart", at_s=30, every_s=60, waves=4)
    plans = _plans(storm)
    assert all(len(p) == 1 and p[0].action == REBOOT for p in plans.values())
    waves = Counter(p[0].at_s for p in plans.values())
    assert sorted(waves) == [30, 90, 150, 210]
    assert all(400 < n < 600 for n in waves.values())  # 2,000 stations in 4 waves
    assert storm.ends_s == 210


def test_peak_hours_multiply_arrivals_in_their_window_only() -> None:
    config = Sessions(arrivals_per_hour=60)
    gen = SessionGenerator.for_connector(config, "CP-1", 1)
    start = 1_790_000_000.0
    (surge,) = surges((Storm(kind="peak_hour", at_s=3600, duration_s=3600, factor=4),))
    gen.surges = ((start + surge.start_s, start + surge.end_s, surge.factor),)
    at, hours = start, Counter[int]()
    while at < start + 3 * 3600:
        nxt = gen.next_arrival(at)
        assert nxt is not None
        at = nxt
        hours[int((at - start) // 3600)] += 1
    # about 60 an hour, 240 in the peak hour
    assert 40 < hours[0] < 80 and 40 < hours[2] < 80 and 190 < hours[1] < 290


def test_a_renewal_storm_has_its_share_ask_at_the_same_moment() -> None:
    plans = _plans(Storm(kind="cert_renewal", at_s=30, share=0.5))
    struck = [p for p in plans.values() if p]
    assert 0.45 < len(struck) / len(IDS) < 0.55
    assert {tuple(p) for p in struck} == {(Fault(30, RENEW),)}


def test_presets_are_storms_users_can_run() -> None:
    assert set(PRESETS) == {
        "boot-storm",
        "csms-restart",
        "blackout",
        "flapping",
        "rolling-restart",
        "peak-hour",
        "cert-renewal",
    }
    assert boot_storm((PRESETS["boot-storm"],)) and not boot_storm((PRESETS["blackout"],))
    assert PRESETS["blackout"].share == 0.3 and PRESETS["blackout"].ends_s == 360


def test_faults_come_one_at_a_time_from_any_point_in_storm_order() -> None:
    """``next_fault`` makes each fault as it comes: from any point on, the rest of the plan,
    a fault at that very time and storm not struck twice, two storms' faults interleaved by
    time (in their order at the same time)."""
    flap = Storm(kind="flapping", at_s=30, share=1.0, every_s=20, down_s=5, duration_s=100)
    restart = Storm(kind="csms_restart", at_s=70)
    storms = (flap, restart)
    plan = faults_for(storms, 1, "CP-00001")
    assert len(plan) == 6 and [f.at_s for f in plan] == sorted(f.at_s for f in plan)
    assert plan.count(Fault(70, DROP, 0.0, False)) == 1
    for cut in (0.0, 55.5, 70.0, plan[2].at_s):
        rest = [f for f in plan if f.at_s >= cut]
        after: tuple[float, int] = (cut, -1)
        got = []
        while (found := next_fault(storms, 1, "CP-00001", after)) is not None:
            got.append(found[0])
            after = (found[0].at_s, found[1])
        assert got == rest, cut
    tie = (Storm(kind="cert_renewal", at_s=70), restart)  # two faults at 70 s: in storm order
    assert [f.action for f in faults_for(tie, 1, "CP-00001")] == [RENEW, DROP]


async def test_a_long_storm_arms_one_fault_a_station_at_a_time() -> None:
    """An hour's flapping every 30 s is 120 faults a station: held in advance they cost ~83 KB
    a station before the storm began. One entry a station is armed; striking it arms the
    next; stopping the station cancels it."""
    storm = {"kind": "flapping", "at_s": 3600, "share": 1.0, "every_s": 30, "duration_s": 3600}
    scenario = make_scenario(stations={"count": 3}, storms=[storm])
    stations = [make_station(scenario, i, Summary()) for i in (1, 2, 3)]
    clock = HandLoop()  # the calendar's timer, on a clock moved by hand
    calendar = asyncio.get_running_loop()._fleet_calendar = Calendar(clock)  # type: ignore[attr-defined,arg-type]
    strikes = [storming.arm(s, time.time()) for s in stations]
    assert len(calendar) == 3 and len(clock.armed()) == 1  # one loop timer for all
    clock.advance(calendar._heap[0][0])  # its time came: struck, its next fault armed
    assert len(calendar) == 3
    station = next(s for s in stations if s.offline_until)  # the one struck: off the network
    assert station.offline_until > 0
    for armed in strikes:
        assert armed is not None
        armed.cancel()
    assert len(calendar) == 0
