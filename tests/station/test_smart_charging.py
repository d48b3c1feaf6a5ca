"""Charging profiles without sockets or clocks: what a station takes and refuses, which profile
wins, and the composite limit over time."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.station import smart_charging as sc
from fleet.station.smart_charging import Invalid, Profiles

T0 = 1_893_456_000.0  # 2030-01-01T00:00:00Z
PER_AMP = 3 * 230.0


def profile16(
    profile_id: int = 1,
    purpose: str = "TxDefaultProfile",
    stack: int = 0,
    periods: list[tuple[int, float]] | None = None,
    kind: str = "Absolute",
    unit: str = "A",
    **more: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": s, "limit": limit} for s, limit in (periods or [(0, 16.0)])
        ],
    }
    for key in ("start_schedule", "duration"):
        if key in more:
            schedule[key] = more.pop(key)
    return {
        "charging_profile_id": profile_id,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
        **more,
    }


def install(profiles: Profiles, raw: dict[str, Any], connector: int = 1, **running: Any) -> None:
    profiles.install(
        sc.parse16(raw, connector, {}), {int(k[1:]): v for k, v in running.items()}, T0
    )


@pytest.mark.parametrize(
    ("raw", "connector", "why"),
    [
        (profile16(stack=9), 1, "stackLevel"),
        (profile16(periods=[(10, 6.0)]), 1, "start at 0"),
        (profile16(periods=[(0, 6.0), (0, 8.0)]), 1, "increasing"),
        (profile16(periods=[(n * 60, 6.0) for n in range(25)]), 1, "periods"),
        (profile16(kind="Recurring"), 1, "recurrencyKind"),
        (profile16(purpose="ChargePointMaxProfile"), 1, "connector/EVSE 0"),
        (profile16(purpose="TxProfile"), 0, "not 0"),
        (profile16(purpose="TxProfile"), 1, "transaction running"),
        (profile16(valid_from="yesterday"), 1, "date-time"),
    ],
)
def test_invalid_profiles_are_refused_with_a_reason(
    raw: dict[str, Any], connector: int, why: str
) -> None:
    with pytest.raises(Invalid, match=why):
        install(Profiles(), raw, connector)


def test_the_highest_stack_level_wins_and_the_station_maximum_caps_it() -> None:
    profiles = Profiles()
    install(profiles, profile16(1, stack=0, periods=[(0, 32.0)]), connector=0)
    assert profiles.limit_w(1, T0 + 1, None, PER_AMP) == 32 * PER_AMP
    install(profiles, profile16(2, stack=1, periods=[(0, 10.0)]), connector=0)
    assert profiles.limit_w(1, T0 + 1, None, PER_AMP) == 10 * PER_AMP
    install(profiles, profile16(3, purpose="TxProfile", periods=[(0, 20.0)]), c1=7)
    assert profiles.limit_w(1, T0 + 1, T0, PER_AMP) == 20 * PER_AMP  # tx profile over default
    install(profiles, profile16(4, "ChargePointMaxProfile", unit="W", periods=[(0, 9000.0)]), 0)
    assert profiles.limit_w(1, T0 + 1, T0, PER_AMP) == 9000  # the station maximum caps it
    profiles.transaction_ended(1)
    assert profiles.limit_w(1, T0 + 1, None, PER_AMP) == 10 * PER_AMP  # the default again
    # Same purpose, stack level and connector: replaced, not added.
    install(profiles, profile16(5, stack=1, periods=[(0, 6.0)]), connector=0)
    assert [p.id for p in profiles.select(purpose=sc.DEFAULT)] == [1, 5]
    assert profiles.clear(purpose=sc.DEFAULT, stack_level=1) is True
    assert profiles.clear(profile_id=99) is False


def test_schedules_run_by_their_kind() -> None:
    periods = [(0, 6.0), (3600, 16.0)]
    relative = Profiles()
    install(relative, profile16(kind="Relative", periods=periods))
    assert relative.limit_w(1, T0 + 100, None, PER_AMP) is None  # no transaction: not started
    assert relative.limit_w(1, T0 + 100, T0, PER_AMP) == 6 * PER_AMP
    assert relative.limit_w(1, T0 + 3700, T0, PER_AMP) == 16 * PER_AMP
    daily = Profiles()
    raw = profile16(kind="Recurring", recurrency_kind="Daily", periods=[(0, 8.0), (3600, 32.0)],
                    start_schedule="2029-06-01T00:00:00Z", duration=86_400)  # fmt: skip
    install(daily, raw)
    assert daily.limit_w(1, T0 + 86_400 * 3 + 10, None, PER_AMP) == 8 * PER_AMP
    assert daily.limit_w(1, T0 + 86_400 * 3 + 3610, None, PER_AMP) == 32 * PER_AMP
    ending = Profiles()
    install(ending, profile16(periods=periods, duration=1800, valid_to="2030-01-02T00:00:00Z"))
    assert ending.limit_w(1, T0 + 60, None, PER_AMP) == 6 * PER_AMP  # started at install
    assert ending.limit_w(1, T0 + 1900, None, PER_AMP) is None  # its duration ran out


def test_the_composite_schedule_lists_where_the_limit_changes() -> None:
    profiles = Profiles()
    install(profiles, profile16(1, periods=[(0, 6.0), (600, 10.0), (1200, 10.0)], duration=1800))
    periods = profiles.composite(1, T0, 3600, None, PER_AMP, 22_000.0)
    assert periods == [(0, 6 * PER_AMP), (600, 10 * PER_AMP), (1800, 22_000.0)]
    assert Profiles().composite(1, T0, 3600, None, PER_AMP, 22_000.0) == [(0, 22_000.0)]
