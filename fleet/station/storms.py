"""Which station a storm strikes, and when: pure, seeded, per station. A station's faults follow
from the scenario's storms, its seed and the station's id alone, so every process (Locust
workers included) strikes the same stations at the same times, run after run.

A fault is a drop (the connection ends, or goes silent, and the station stays off the network
for ``down_s``) or a reboot. Peak hours are not faults: they raise the sessions' arrival rate
(``surges``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

from fleet.scenario_storms import Storm

DROP: Final = "drop"
REBOOT: Final = "reboot"
RENEW: Final = "renew"  # ask for a new certificate


@dataclass(slots=True, frozen=True)
class Fault:
    at_s: float  # after the run started
    action: str  # DROP, REBOOT or RENEW
    down_s: float = 0.0  # DROP: how long the station stays off the network
    silent: bool = False  # DROP: the socket is left open and silent (half-open)


@dataclass(slots=True, frozen=True)
class Surge:
    """Session arrivals x ``factor`` from ``start_s`` to ``end_s`` (after the run started)."""

    start_s: float
    end_s: float
    factor: float


def pick(seed: int, storm: int, station_id: str) -> float:
    """The station's draw for one storm, uniform in [0, 1): the same in every process."""
    digest = hashlib.blake2b(f"{seed}:{storm}:{station_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def faults_for(storms: tuple[Storm, ...], seed: int, station_id: str) -> list[Fault]:
    """The station's faults, in time order (storms in their order at the same time)."""
    faults = []
    after: tuple[float, int] = (-math.inf, -1)
    while (found := next_fault(storms, seed, station_id, after)) is not None:
        fault, number = found
        faults.append(fault)
        after = (fault.at_s, number)
    return faults


def next_fault(
    storms: tuple[Storm, ...], seed: int, station_id: str, after: tuple[float, int]
) -> tuple[Fault, int] | None:
    """The station's first fault later than ``after`` (its time, its storm's number) and the
    number of its storm; None when none is left. Made one at a time, as they come: an hour's
    flapping every 30 s is 120 faults a station, which held in advance cost ~83 KB a station
    (measured) before the storm began."""
    best: tuple[Fault, int] | None = None
    for number, storm in enumerate(storms):
        fault = _first_after(storm, pick(seed, number, station_id), number, after)
        if fault is not None and (best is None or fault.at_s < best[0].at_s):
            best = (fault, number)
    return best


def _first_after(storm: Storm, draw: float, number: int, after: tuple[float, int]) -> Fault | None:
    def later(at_s: float) -> bool:
        return (at_s, number) > after

    kind = storm.kind
    if kind == "csms_restart":
        return Fault(storm.at_s, DROP, 0.0, storm.silent) if later(storm.at_s) else None
    if draw >= storm.share or kind in ("boot_storm", "peak_hour"):
        return None
    if kind == "blackout":
        fault = Fault(storm.at_s, DROP, storm.duration_s, storm.silent)
    elif kind == "flapping":
        # Stations flap out of step: each starts at its own point of the first period.
        first = storm.at_s + storm.every_s * (draw / storm.share)
        end = storm.at_s + storm.duration_s
        k = 0 if after[0] <= first else math.floor((after[0] - first) / storm.every_s)
        while first + k * storm.every_s < end and not later(first + k * storm.every_s):
            k += 1
        at_s = first + k * storm.every_s
        return Fault(at_s, DROP, storm.down_s, storm.silent) if at_s < end else None
    elif kind == "rolling_restart":
        wave = min(int(draw / storm.share * storm.waves), storm.waves - 1)
        fault = Fault(storm.at_s + wave * storm.every_s, REBOOT)
    else:  # cert_renewal
        fault = Fault(storm.at_s, RENEW)
    return fault if later(fault.at_s) else None


def surges(storms: tuple[Storm, ...]) -> list[Surge]:
    return [Surge(s.at_s, s.at_s + s.duration_s, s.factor) for s in storms if s.kind == "peak_hour"]


def boot_storm(storms: tuple[Storm, ...]) -> bool:
    """Every station boots at once."""
    return any(s.kind == "boot_storm" for s in storms)
