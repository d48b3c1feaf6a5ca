"""A connector's energy meter and the EV on it: pure, seeded, coherent.

The register only ever grows, for the station's whole life (across sessions and reconnects).
Power follows the EV, the EVSE and the charging profiles' limit: AC delivers phases * voltage *
current limit up to what the EV takes; DC delivers its maximum until 80 % state of charge, then
tapers linearly to a tenth of it at 100 % (the constant-voltage phase). Voltage carries small
seeded noise; current is derived from power and voltage, so P = V * I per phase holds in every
reading (within rounding).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from fleet.scenario_charging import Evse
from fleet.station.generator import Demand, Rng

STEP_S = 30.0  # integration step: the taper is followed within a fraction of a percent
TAPER_FROM_SOC = 0.8
VOLTAGE_NOISE = 0.005  # the voltage wanders within ±0.5 % of the nominal


def _noise_table(size: int) -> tuple[float, ...]:
    rng = Rng("fleet meter noise")
    return tuple(rng.uniform(-1.0, 1.0) for _ in range(size))


# Seeded noise in [-1, 1), shared by every meter, each reading from its own place in it. A draw
# per reading from the connector's generator cost ~0.5 µs, and it moved the session generator
# along: how many readings a session took (the CSMS can change the interval, or trigger more)
# changed the sessions after it. Now only creating a meter draws from the generator, once.
_NOISE = _noise_table(4096)


class Reading(NamedTuple):  # a tuple: made per sample, a frozen dataclass cost 4 times as much
    energy_wh: float  # the register
    power_w: float
    current_a: float  # per phase (AC), or the DC current
    voltage_v: float
    soc_percent: float


_reading = tuple.__new__
_NOISE_SIZE: Final = len(_NOISE)


class Meter:
    """One connector's register and, while a session runs, the EV charging on it."""

    __slots__ = (
        "_at_s",
        "_cap_kw",
        "_conductors",
        "_dc",
        "_ev",
        "_limit_w",
        "_max_kw",
        "_noise_at",
        "_voltage_v",
        "evse",
        "register_wh",
        "soc",
    )

    def __init__(self, evse: Evse, rng: Rng) -> None:
        self.evse = evse
        # What the EVSE is does not change: read once, not from the scenario model per reading.
        self._max_kw = evse.max_kw()
        self._dc = evse.current == "DC"
        self._conductors = 1 if self._dc else evse.phases
        self._voltage_v = evse.voltage_v
        self.register_wh = float(rng.randrange(0, 5_000_000))  # a meter that has lived a while
        self._noise_at = rng.randrange(0, len(_NOISE))
        self._ev: Demand | None = None
        self.soc = 0.0
        self._at_s = 0.0
        self._limit_w: float | None = None
        self._cap_kw = 0.0  # what may flow before the DC taper: EVSE, EV and profiles' limit

    @property
    def limit_w(self) -> float | None:
        """What charging profiles allow (None: no limit)."""
        return self._limit_w

    @limit_w.setter
    def limit_w(self, watts: float | None) -> None:
        self._limit_w = watts
        self._cap()

    def _cap(self) -> None:
        # Worked out when the EV or the limit changes, not in power_w (twice per reading): with
        # min() and max() written out in advance and the tuple made directly in read, a reading
        # went from 1.5 to 0.8 µs (a tight loop; every few seconds per charging connector).
        ev = self._ev
        cap_kw = self._max_kw if ev is None else min(self._max_kw, ev.ev_max_kw)
        if self._limit_w is not None:
            cap_kw = min(cap_kw, self._limit_w / 1000)
        self._cap_kw = cap_kw

    def plug(self, ev: Demand, now_s: float) -> None:
        self._ev, self.soc, self._at_s = ev, ev.soc_start, now_s
        self._cap()

    def unplug(self, now_s: float) -> None:
        self.advance(now_s)
        self._ev = None
        self._cap()

    def power_w(self, charging: bool = True) -> float:
        """What flows now: 0 without an EV, when not charging or at the EV's target."""
        ev = self._ev
        if ev is None or not charging or self.soc >= ev.soc_target:
            return 0.0
        limit_kw = self._cap_kw
        if self._dc and self.soc > TAPER_FROM_SOC:
            share = 1 - 0.9 * (self.soc - TAPER_FROM_SOC) / (1 - TAPER_FROM_SOC)
            limit_kw *= max(share, 0.1)
        return limit_kw * 1000

    def advance(self, now_s: float, charging: bool = True) -> None:
        """Integrate energy (and the EV's state of charge) up to ``now_s``."""
        ev = self._ev
        at_s = self._at_s
        while ev is not None and at_s < now_s:
            dt = now_s - at_s
            if dt > STEP_S:
                dt = STEP_S
            energy_wh = self.power_w(charging) * dt / 3600
            if energy_wh > 0:  # so the EV is below its target: there is room
                room_wh = (ev.soc_target - self.soc) * ev.battery_kwh * 1000
                if energy_wh > room_wh:
                    energy_wh = room_wh
                self.soc += energy_wh / (ev.battery_kwh * 1000)
                self.register_wh += energy_wh
            at_s += dt
        self._at_s = at_s if at_s > now_s else now_s

    def read(self, now_s: float, charging: bool = True) -> Reading:
        self.advance(now_s, charging)
        power = self.power_w(charging)
        at = self._noise_at
        self._noise_at = at + 1 if at + 1 < _NOISE_SIZE else 0
        voltage = self._voltage_v * (1 + VOLTAGE_NOISE * _NOISE[at])
        current = power / (self._conductors * voltage)
        # Reading's own __new__ is a Python function: twice the cost of the tuple it makes.
        return _reading(Reading, (self.register_wh, power, current, voltage, self.soc * 100))

    @property
    def plugged(self) -> bool:
        return self._ev is not None

    @property
    def full(self) -> bool:
        ev = self._ev
        return ev is not None and self.soc >= ev.soc_target - 1e-9
