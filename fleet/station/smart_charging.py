"""Smart charging: charging profiles, their validity, and the composite limit they put on a
connector. Pure: the station hands over profiles (parsed from either version's shape), the
time, and which transaction runs where; this answers whether a profile is taken, what it
replaces, and how much power a connector may draw now or over the next hours.

The rules (1.6 §3.13, 2.0.1 K01-K08): per purpose, the valid profile with the highest stack
level wins (a profile for the connector before one for the whole station); the limit is the
lower of the station maximum and the transaction's (its TxProfile, else the TxDefaultProfile).
A TxProfile needs a transaction running on its connector and ends with it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from fleet.station.behaviour import parse_csms_time

MAX, DEFAULT, TX, EXTERNAL = "max", "default", "tx", "external"
PURPOSES_16: Final = {"ChargePointMaxProfile": MAX, "TxDefaultProfile": DEFAULT, "TxProfile": TX}
PURPOSES_201: Final = {
    "ChargingStationMaxProfile": MAX,
    "TxDefaultProfile": DEFAULT,
    "TxProfile": TX,
    "ChargingStationExternalConstraints": EXTERNAL,
}
MAX_STACK_LEVEL: Final = 8  # ChargeProfileMaxStackLevel
MAX_PERIODS: Final = 24  # ChargingScheduleMaxPeriods
MAX_PROFILES: Final = 16  # MaxChargingProfilesInstalled
RECURRENCE_S: Final = {"Daily": 86_400.0, "Weekly": 604_800.0}


class Invalid(ValueError):
    """A profile the station refuses (answered Rejected), and why."""


@dataclass(slots=True, frozen=True)
class Period:
    start_s: int
    limit: float
    phases: int | None = None


@dataclass(slots=True, frozen=True)
class Profile:
    id: int
    connector: int  # 0: the whole station
    stack_level: int
    purpose: str  # MAX, DEFAULT, TX, EXTERNAL
    kind: str  # Absolute, Recurring, Relative
    unit: str  # A or W
    periods: tuple[Period, ...]
    start_at: float | None = None  # startSchedule (epoch s)
    duration_s: float | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    recurrency: str | None = None
    transaction_id: Any = None
    shown: dict[str, Any] = field(default_factory=dict, compare=False)  # as received, camelCase


def _moment(text: str | None, field_name: str) -> float | None:
    if text is None:
        return None
    moment = parse_csms_time(text)
    if moment is None:
        raise Invalid(f"{field_name} is not a date-time")
    return moment.timestamp()


def _profile(
    raw: dict[str, Any],
    schedule: dict[str, Any],
    connector: int,
    purpose: str,
    profile_id: int,
    shown: dict[str, Any],
) -> Profile:
    periods = tuple(
        Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
        for p in schedule["charging_schedule_period"]
    )
    kind = raw["charging_profile_kind"]
    profile = Profile(
        id=profile_id,
        connector=connector,
        stack_level=int(raw["stack_level"]),
        purpose=purpose,
        kind=kind,
        unit=schedule["charging_rate_unit"],
        periods=periods,
        start_at=_moment(schedule.get("start_schedule"), "startSchedule"),
        duration_s=schedule.get("duration"),
        valid_from=_moment(raw.get("valid_from"), "validFrom"),
        valid_to=_moment(raw.get("valid_to"), "validTo"),
        recurrency=raw.get("recurrency_kind"),
        transaction_id=raw.get("transaction_id"),
        shown=shown,
    )
    _check(profile)
    return profile


def parse16(raw: dict[str, Any], connector: int, shown: dict[str, Any]) -> Profile:
    """A 1.6 csChargingProfiles (as the ``ocpp`` router hands it over, snake_case)."""
    purpose = PURPOSES_16[raw["charging_profile_purpose"]]
    return _profile(
        raw, raw["charging_schedule"], connector, purpose, int(raw["charging_profile_id"]), shown
    )


def parse201(raw: dict[str, Any], evse: int, shown: dict[str, Any]) -> Profile:
    """A 2.0.1 chargingProfile: fleet follows its first schedule (stations with one EVSE kind
    have one; K01.FR.34 lets a station take up to three)."""
    purpose = PURPOSES_201[raw["charging_profile_purpose"]]
    if purpose == EXTERNAL:
        raise Invalid("ChargingStationExternalConstraints are not set by the CSMS (K01.FR.22)")
    return _profile(raw, raw["charging_schedule"][0], evse, purpose, int(raw["id"]), shown)


def _check(profile: Profile) -> None:
    if not 0 <= profile.stack_level <= MAX_STACK_LEVEL:
        raise Invalid(f"stackLevel {profile.stack_level} above {MAX_STACK_LEVEL}")
    periods = profile.periods
    if not periods or len(periods) > MAX_PERIODS:
        raise Invalid(f"{len(periods)} periods (1 to {MAX_PERIODS})")
    if periods[0].start_s != 0:
        raise Invalid("the first period must start at 0")
    if any(b.start_s <= a.start_s for a, b in itertools.pairwise(periods)):
        raise Invalid("periods must start in increasing order")
    if any(p.limit < 0 for p in periods):
        raise Invalid("a limit is negative")
    if profile.kind == "Recurring" and (profile.recurrency is None or profile.start_at is None):
        raise Invalid("a Recurring profile needs recurrencyKind and startSchedule")
    if profile.purpose == MAX and profile.connector != 0:
        raise Invalid("a station maximum profile applies to connector/EVSE 0")
    if profile.purpose == TX and profile.connector == 0:
        raise Invalid("a TxProfile applies to a connector/EVSE, not 0")


class Profiles:
    """The profiles installed on one station."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Profile] = []

    def install(self, profile: Profile, running: dict[int, Any], now_s: float) -> None:
        """Install ``profile`` (raise Invalid to refuse it). ``running``: connector ->
        transaction id of the transactions running now. A profile with the same id, or the
        same purpose, stack level and connector, is replaced. An Absolute profile without a
        start starts now."""
        if profile.kind == "Absolute" and profile.start_at is None:
            profile = dataclasses.replace(profile, start_at=now_s)
        if profile.purpose == TX:
            if profile.connector not in running:
                raise Invalid("a TxProfile needs a transaction running on its connector")
            wanted = profile.transaction_id
            if wanted is not None and wanted != running[profile.connector]:
                raise Invalid(f"transaction {wanted!r} is not running on the connector")
        kept = [
            p
            for p in self.items
            if p.id != profile.id
            and not (
                p.purpose == profile.purpose
                and p.stack_level == profile.stack_level
                and p.connector == profile.connector
            )
        ]
        if len(kept) >= MAX_PROFILES:
            raise Invalid(f"{MAX_PROFILES} profiles installed already")
        self.items = [*kept, profile]

    def clear(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Remove the profiles matching every criterion given; True if any went."""
        gone = [p for p in self.items if _matches(p, profile_id, connector, purpose, stack_level)]
        self.items = [p for p in self.items if p not in gone]
        return bool(gone)

    def select(
        self,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Profile]:
        wanted = None if ids is None else set(ids)
        return [
            p
            for p in self.items
            if _matches(p, None, connector, purpose, stack_level)
            and (wanted is None or p.id in wanted)
        ]

    def transaction_ended(self, connector: int) -> None:
        """TxProfiles end with their transaction (1.6 §3.13.4, K01.FR.05)."""
        self.items = [p for p in self.items if not (p.purpose == TX and p.connector == connector)]

    # --- limits ----------------------------------------------------------------------------------

    def limit_w(
        self, connector: int, now_s: float, tx_start_s: float | None, watts_per_amp: float
    ) -> float | None:
        """The composite limit on ``connector`` now, in W (None: no profile limits it)."""
        limits = [
            self._purpose_limit(purpose, connector, now_s, tx_start_s, watts_per_amp)
            for purpose in (MAX, TX if tx_start_s is not None else None, DEFAULT)
        ]
        station_max, tx_limit, default = limits
        session = tx_limit if tx_limit is not None else default
        present = [limit for limit in (station_max, session) if limit is not None]
        return min(present) if present else None

    def _purpose_limit(
        self,
        purpose: str | None,
        connector: int,
        now_s: float,
        tx_start_s: float | None,
        watts_per_amp: float,
    ) -> float | None:
        if purpose is None:
            return None
        candidates = [
            p for p in self.items if p.purpose == purpose and p.connector in (connector, 0)
        ]
        # The connector's own before the station's, then the highest stack level.
        candidates.sort(key=lambda p: (p.connector == connector, p.stack_level), reverse=True)
        for profile in candidates:
            period = active_period(profile, now_s, tx_start_s)
            if period is not None:
                return period.limit * (watts_per_amp if profile.unit == "A" else 1.0)
        return None

    def composite(
        self,
        connector: int,
        now_s: float,
        duration_s: float,
        tx_start_s: float | None,
        watts_per_amp: float,
        evse_max_w: float,
    ) -> list[tuple[int, float]]:
        """(seconds from now, limit in W) over the next ``duration_s``: where the composite
        limit changes, merged; no profile means the EVSE's maximum."""
        times = {now_s}
        for profile in self.items:
            times.update(_boundaries(profile, now_s, now_s + duration_s, tx_start_s))
        periods: list[tuple[int, float]] = []
        for moment in sorted(t for t in times if now_s <= t < now_s + duration_s):
            limit = self.limit_w(connector, moment, tx_start_s, watts_per_amp)
            value = evse_max_w if limit is None else min(limit, evse_max_w)
            offset = int(moment - now_s)
            if periods and periods[-1][0] == offset:
                periods[-1] = (offset, value)
            elif not periods or periods[-1][1] != value:
                periods.append((offset, value))
        return periods


def _matches(
    profile: Profile,
    profile_id: int | None,
    connector: int | None,
    purpose: str | None,
    stack_level: int | None,
) -> bool:
    return (
        (profile_id is None or profile.id == profile_id)
        and (connector is None or profile.connector == connector)
        and (purpose is None or profile.purpose == purpose)
        and (stack_level is None or profile.stack_level == stack_level)
    )


def schedule_start(profile: Profile, now_s: float, tx_start_s: float | None) -> float | None:
    """When the profile's schedule started, for the period in force at ``now_s``."""
    if profile.kind == "Relative":
        return tx_start_s
    start = profile.start_at
    if profile.kind == "Recurring" and start is not None and profile.recurrency is not None:
        every = RECURRENCE_S[profile.recurrency]
        return start + math.floor((now_s - start) / every) * every
    return start if start is not None else profile.valid_from


def active_period(profile: Profile, now_s: float, tx_start_s: float | None) -> Period | None:
    """The period of ``profile`` in force at ``now_s``, or None (not valid, not started,
    run out)."""
    if profile.valid_from is not None and now_s < profile.valid_from:
        return None
    if profile.valid_to is not None and now_s >= profile.valid_to:
        return None
    start = schedule_start(profile, now_s, tx_start_s)
    if start is None:  # Relative without a transaction
        return None
    offset = now_s - start
    if offset < 0 or (profile.duration_s is not None and offset >= profile.duration_s):
        return None
    current = None
    for period in profile.periods:
        if period.start_s > offset:
            break
        current = period
    return current


def _boundaries(
    profile: Profile, begin_s: float, end_s: float, tx_start_s: float | None
) -> list[float]:
    """Times in [begin, end) where the profile's limit may change."""
    out = [t for t in (profile.valid_from, profile.valid_to) if t is not None]
    start = schedule_start(profile, begin_s, tx_start_s)
    if start is None:
        return out
    repeat = RECURRENCE_S.get(profile.recurrency or "", 0.0) if profile.kind == "Recurring" else 0
    while start < end_s:
        out += [start + p.start_s for p in profile.periods]
        if profile.duration_s is not None:
            out.append(start + profile.duration_s)
        if not repeat:
            break
        start += repeat
    return [t for t in out if begin_s <= t < end_s]
