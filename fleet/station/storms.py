"""Which station a storm strikes, and when: pure, seeded, per station. A station's faults follow
from the scenario's storms, its seed and the station's id alone, so every process (Locust
workers included) strikes the same stations at the same times, run after run.

A fault is a drop (the connection ends, or goes silent, and the station stays off the network
for ``down_s``) or a reboot. Peak hours are not faults: they raise the sessions' arrival rate
(``surges``).
"""

from __future__ import annotations

import hashlib
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
    """The station's faults, in time order."""
    faults = []
    for number, storm in enumerate(storms):
        draw = pick(seed, number, station_id)
        kind = storm.kind
        if kind == "csms_restart":
            faults.append(Fault(storm.at_s, DROP, 0.0, storm.silent))
        elif draw >= storm.share:
            continue
        elif kind == "blackout":
            faults.append(Fault(storm.at_s, DROP, storm.duration_s, storm.silent))
        elif kind == "flapping":
            # Stations flap out of step: each starts at its own point of the first period.
            at = storm.at_s + storm.every_s * (draw / storm.share)
            while at < storm.at_s + storm.duration_s:
                faults.append(Fault(at, DROP, storm.down_s, storm.silent))
                at += storm.every_s
        elif kind == "rolling_restart":
            wave = min(int(draw / storm.share * storm.waves), storm.waves - 1)
            faults.append(Fault(storm.at_s + wave * storm.every_s, REBOOT))
        elif kind == "cert_renewal":
            faults.append(Fault(storm.at_s, RENEW))
    return sorted(faults, key=lambda f: f.at_s)


def surges(storms: tuple[Storm, ...]) -> list[Surge]:
    return [Surge(s.at_s, s.at_s + s.duration_s, s.factor) for s in storms if s.kind == "peak_hour"]


def boot_storm(storms: tuple[Storm, ...]) -> bool:
    """Every station boots at once."""
    return any(s.kind == "boot_storm" for s in storms)
