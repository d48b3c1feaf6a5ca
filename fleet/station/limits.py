"""A station's charging profiles at work: the CSMS's smart-charging commands answered, and the
composite limit put on each connector's meter, so a session under a 6 A profile charges at 6 A.
The rules are ``smart_charging``'s; this applies them at every charger decision (and at once
when the profiles change), so readings follow a limit from the moment it is set.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fleet.station import pnc
from fleet.station.sessions import Phase
from fleet.station.smart_charging import TX, Invalid, Profile, Profiles

if TYPE_CHECKING:
    from fleet.station.charging import Chargers

logger = logging.getLogger("fleet.station")


class Limits:
    __slots__ = ("chargers", "pending", "profiles")

    def __init__(self, chargers: Chargers) -> None:
        self.chargers = chargers
        self.profiles = Profiles()
        # Connector -> the TxProfile a remote start brought, until its transaction starts.
        self.pending: dict[int, Profile] = {}

    @property
    def connectors(self) -> int:
        return len(self.chargers.chargers)

    def watts_per_amp(self) -> float:
        evse = self.chargers.station.scenario.stations.evse
        return evse.voltage_v * (1 if evse.current == "DC" else evse.phases)

    def install(self, parse: Callable[[], Profile]) -> str:
        """SetChargingProfile: Accepted, or Rejected with the reason logged (DEBUG)."""
        station = self.chargers.station
        now = station.now()
        try:
            profile = parse()
            if profile.connector > self.connectors:
                raise Invalid(f"no connector {profile.connector}")
            running = {
                c.connector.id: c.tx.tx_id
                for c in self.chargers.chargers
                if c.tx is not None and c.tx.tx_id is not None
            }
            self.profiles.install(profile, running, now)
        except (Invalid, KeyError, IndexError, TypeError, ValueError) as exc:
            logger.debug("%s: charging profile rejected: %s", station.id, exc)
            return "Rejected"
        self.apply(now)
        return "Accepted"

    def for_remote_start(self, parse: Callable[[], Profile]) -> Profile | None:
        """The ChargingProfile a remote start carries (1.6 §5.11, 2.0.1 F01.FR.08-11), or
        None (the start is Rejected, the reason logged at DEBUG): a TxProfile, without a
        transactionId (its transaction does not exist yet), valid as any profile."""
        try:
            profile = parse()
            if profile.purpose != TX:
                raise Invalid("a remote start's profile must be a TxProfile")
            if profile.transaction_id is not None:
                raise Invalid("a remote start's profile has no transactionId yet")
        except (Invalid, KeyError, IndexError, TypeError, ValueError) as exc:
            logger.debug("%s: remote start rejected: %s", self.chargers.station.id, exc)
            return None
        return profile

    def expect(self, connector: int, profile: Profile) -> None:
        """A remote start on ``connector`` brought ``profile``: it governs the transaction
        this start begins (installed once it runs, dropped if none comes of it)."""
        self.pending[connector] = dataclasses.replace(profile, connector=connector)

    def clear(self, **criteria: Any) -> str:
        """ClearChargingProfile: Accepted when a profile went, else Unknown."""
        cleared = self.profiles.clear(**criteria)
        if cleared:
            self.apply(self.chargers.station.now())
        return "Accepted" if cleared else "Unknown"

    def ev_schedule(self, profile_id: int) -> dict[str, Any] | None:
        """NotifyEVChargingSchedule for the TxProfile ``profile_id`` just set, when it governs
        an ISO 15118 EV's session (a contract's, its charging needs told); else None."""
        station = self.chargers.station
        config = station.scenario.sessions
        if not config.plug_and_charge.charging_needs:
            return None
        for profile in self.profiles.select(ids=[profile_id]):
            if profile.purpose != TX or not 0 < profile.connector <= self.connectors:
                continue
            demand = self.chargers.chargers[profile.connector - 1].demand
            if demand is not None and demand.contract:
                return pnc.ev_schedule(
                    profile, demand, station.scenario.stations.evse, station.now()
                )
        return None

    def select(self, **criteria: Any) -> list[Profile]:
        return self.profiles.select(**criteria)

    def apply(self, now_s: float) -> None:
        """Put each connector's composite limit on its meter. A TxProfile whose transaction
        ended is dropped first; energy up to now is counted at the old limit."""
        profiles = self.profiles
        per_amp = self.watts_per_amp()
        for charger in self.chargers.chargers:
            tx = charger.tx
            if self.pending:
                self._bind(charger.connector.id, tx, charger.phase, now_s)
            if tx is None:
                profiles.transaction_ended(charger.connector.id)
            start = None if tx is None else tx.started_s
            limit = profiles.limit_w(charger.connector.id, now_s, start, per_amp)
            meter = charger.meter
            if limit != meter.limit_w:
                meter.advance(now_s, tx is not None and tx.charging_state == "Charging")
                meter.limit_w = limit

    def _bind(self, connector: int, tx: Any, phase: Phase, now_s: float) -> None:
        """A remote start's profile: installed once its transaction runs (1.6: before the
        CSMS gave its id), dropped when the start came to nothing (refused, the driver gone)."""
        profile = self.pending.get(connector)
        if profile is None:
            return
        if tx is not None:
            del self.pending[connector]
            self.profiles.install(profile, {connector: tx.tx_id}, now_s)
        elif phase is Phase.IDLE:
            del self.pending[connector]

    def composite(
        self, connector: int, duration_s: int, unit: str | None
    ) -> tuple[str, list[dict[str, Any]]] | None:
        """GetCompositeSchedule: (unit, periods) over the next ``duration_s``, or None (the
        answer is Rejected) for a connector the station does not have or a duration that is
        not positive (a schedule of no period: its answer would be invalid). Connector 0: the
        station as a whole."""
        if not 0 <= connector <= self.connectors or duration_s <= 0:
            return None
        station = self.chargers.station
        evse = station.scenario.stations.evse
        per_amp = self.watts_per_amp()
        unit = unit or ("W" if evse.current == "DC" else "A")
        start = None
        if connector:
            tx = self.chargers.chargers[connector - 1].tx
            start = None if tx is None else tx.started_s
        most_w = evse.max_kw() * 1000 * (self.connectors if connector == 0 else 1)
        periods = self.profiles.composite(
            connector, station.now(), duration_s, start, per_amp, most_w
        )
        scale = 1 / per_amp if unit == "A" else 1.0
        return unit, [
            {"startPeriod": offset, "limit": round(limit * scale, 1)} for offset, limit in periods
        ]
