"""Station decisions without sockets: boot outcomes, intervals, configuration rules, clocks."""

from __future__ import annotations

import pytest

from fleet.scenario import Heartbeat
from fleet.station.behaviour import (
    BootAgain,
    Heartbeats,
    after_boot,
    clock_offset_s,
    format_time,
    heartbeat_interval,
)
from fleet.station.settings import check_change

RULES = Heartbeat(fallback_s=300, min_s=1, max_s=86_400)


def test_accepted_heartbeats_at_the_csms_interval() -> None:
    assert after_boot("Accepted", 60, RULES, retry_s=30) == Heartbeats(60)


@pytest.mark.parametrize("interval", [0, -5, 10**9])
def test_absurd_interval_uses_the_fallback(interval: int) -> None:
    assert heartbeat_interval(interval, RULES) == 300


def test_fixed_override_wins() -> None:
    assert heartbeat_interval(60, Heartbeat(interval_s=15)) == 15


def test_pending_waits_the_interval_and_keeps_answering() -> None:
    assert after_boot("Pending", 20, RULES, retry_s=30) == BootAgain(20, answer_csms=True)


def test_rejected_waits_and_stays_silent() -> None:
    assert after_boot("Rejected", 20, RULES, retry_s=30) == BootAgain(20, answer_csms=False)


def test_zero_interval_when_not_accepted_uses_retry_s() -> None:
    # 1.6 §4.2: "the Charge Point chooses a waiting interval on its own ... avoids flooding".
    assert after_boot("Pending", 0, RULES, retry_s=30).after_s == 30


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("HeartbeatInterval", "60", ("Accepted", "60")),
        ("HeartbeatInterval", " 7 ", ("Accepted", "7")),
        ("HeartbeatInterval", "0", ("Rejected", None)),
        ("HeartbeatInterval", "soon", ("Rejected", None)),
        ("LocalPreAuthorize", "TRUE", ("Accepted", "true")),
        ("LocalPreAuthorize", "yes", ("Rejected", None)),
        ("NumberOfConnectors", "3", ("Rejected", None)),
        ("NoSuchKey", "1", ("NotSupported", None)),
    ],
)
def test_configuration_changes(key: str, value: str, expected: tuple[str, str | None]) -> None:
    assert check_change(key, value) == expected


def test_clock_offset_and_formatting() -> None:
    assert clock_offset_s("2030-01-01T00:00:10Z", 1_893_456_000.0) == pytest.approx(10)
    assert clock_offset_s("2030-01-01T00:00:10", 1_893_456_000.0) == pytest.approx(10)
    assert clock_offset_s("not a time", 0.0) is None
    assert format_time(1_893_456_000.25) == "2030-01-01T00:00:00.250Z"


def test_timestamps_are_datetimes_milliseconds_whatever_the_cache_holds() -> None:
    """format_time formats each second once; every instant still reads as datetime reads it
    (rounded to the microsecond, then cut to the millisecond), in random order and in runs
    within one second."""
    import random
    from datetime import UTC, datetime

    from fleet.station.behaviour import format_time

    def reference(epoch_s: float) -> str:
        moment = datetime.fromtimestamp(epoch_s, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    rng = random.Random()
    instants = [rng.uniform(0, 4e9) for _ in range(20_000)]
    instants += [1_790_000_000 + rng.random() for _ in range(2_000)]  # the same second
    instants += [1_790_000_000.9999996, 1_790_000_001.0, 0.0]  # the carry, a whole second
    assert [format_time(t) for t in instants] == [reference(t) for t in instants]
