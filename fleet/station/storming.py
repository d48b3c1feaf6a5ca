"""A station's storms on the loop: the faults ``storms.next_fault`` plans, struck at their times
one after another (one calendar entry a station, the next fault made when one is struck: a
long flapping storm holds no list of faults), and peak hours handed to its session
generators. Times count from the run's start (``fleet run``) or the test's (Locust), as
wall-clock epoch seconds, so every process of a distributed test strikes together."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from fleet.station.calendar import Calendar, Entry
from fleet.station.storms import DROP, REBOOT, Fault, next_fault, surges

if TYPE_CHECKING:
    from fleet.station.core import Station


class Strikes:
    """The station's storm faults, each armed when the one before it was struck."""

    __slots__ = ("_calendar", "_entry", "_origin_s", "station")

    def __init__(self, station: Station, calendar: Calendar, origin_s: float) -> None:
        self.station = station
        self._calendar = calendar
        self._origin_s = origin_s  # the run's start, in loop time
        self._entry: Entry | None = None

    def arm_after(self, after: tuple[float, int]) -> None:
        station = self.station
        scenario = station.scenario
        found = next_fault(scenario.storms, scenario.seed, station.id, after)
        if found is None:
            self._entry = None
            return
        fault, number = found
        self._entry = self._calendar.at(
            self._origin_s + fault.at_s, lambda: self._strike(fault, number)
        )

    def _strike(self, fault: Fault, number: int) -> None:
        self._entry = None
        strike(self.station, fault)
        self.arm_after((fault.at_s, number))

    def cancel(self) -> None:
        if self._entry is not None:
            self._calendar.cancel(self._entry)
            self._entry = None


def arm(station: Station, origin: float) -> Strikes | None:
    """Arm the station's faults from ``origin`` (epoch seconds); faults already past are not
    struck. Returns what to cancel when the station stops (None: no storm strikes it)."""
    storms = station.scenario.storms
    if not storms:
        return None
    peaks = tuple((origin + s.start_s, origin + s.end_s, s.factor) for s in surges(storms))
    if peaks:  # set only when there are any: a rare attribute (``rare.Rare``)
        station.surges = peaks
        if station.charging is not None:
            station.charging.surge(peaks)
    loop = asyncio.get_running_loop()
    late = time.time() - origin
    strikes = Strikes(station, Calendar.of(loop), loop.time() - late)
    strikes.arm_after((late, -1))  # a fault due right now is still struck
    return strikes


def strike(station: Station, fault: Fault) -> None:
    if fault.action == DROP:
        station.drop(fault.down_s, fault.silent)
    elif fault.action == REBOOT:
        station.storm_reboot()
    else:
        station.renew_certificate()
