"""A station's storms on the loop: the faults ``storms.faults_for`` planned, struck at their
times (one timer each), and peak hours handed to its session generators. Times count from the
run's start (``fleet run``) or the test's (Locust), as wall-clock epoch seconds, so every
process of a distributed test strikes together."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from fleet.station.storms import DROP, REBOOT, Fault, faults_for, surges

if TYPE_CHECKING:
    from fleet.station.core import Station


def arm(station: Station, origin: float) -> list[asyncio.TimerHandle]:
    """Arm the station's faults from ``origin`` (epoch seconds); faults already past are not
    struck. Returns the timers (cancel them when the station stops)."""
    storms = station.scenario.storms
    if not storms:
        return []
    peaks = tuple((origin + s.start_s, origin + s.end_s, s.factor) for s in surges(storms))
    if peaks:  # set only when there are any: a rare attribute (``rare.Rare``)
        station.surges = peaks
        if station.charging is not None:
            station.charging.surge(peaks)
    loop = asyncio.get_running_loop()
    late = time.time() - origin
    return [
        loop.call_later(fault.at_s - late, strike, station, fault)
        for fault in faults_for(storms, station.scenario.seed, station.id)
        if fault.at_s >= late
    ]


def strike(station: Station, fault: Fault) -> None:
    if fault.action == DROP:
        station.drop(fault.down_s, fault.silent)
    elif fault.action == REBOOT:
        station.storm_reboot()
    else:
        station.renew_certificate()
