"""Boot and heartbeat decisions without sockets or sleeping: a fake clock, and the intents they
answer with (what the engine will send, when it wakes them, what it counts as missed)."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.metrics.sample import MISSED_BUSY, MISSED_OFFLINE, MISSED_STALL
from fleet.scenario import Heartbeat
from fleet.station.beats import Beats
from fleet.station.booting import (
    Accepted,
    Become,
    Booting,
    ReportConnectors,
    StartBeats,
    StartChargers,
    SyncClock,
)
from fleet.station.intents import Missed, Send, WakeAt
from fleet.station.state import State

RULES = Heartbeat(fallback_s=300, min_s=1, max_s=86_400)
WALL = 1_893_456_000.0  # 2030-01-01T00:00:00Z


def answer(status: str, interval: int = 60, at: str = "2030-01-01T00:00:10Z") -> dict[str, Any]:
    return {"status": status, "interval": interval, "currentTime": at}


def beat(due_s: float) -> Send:
    return Send("Heartbeat", {}, due_s=due_s)


# --- booting -------------------------------------------------------------------------------------


def test_pending_then_accepted_reports_beats_and_charges_in_that_order() -> None:
    boot = Booting(RULES, retry_s=30)
    boot.connected()
    boot.sending(100.0)
    assert boot.answered(answer("Pending", 20), 100.5, WALL) == [
        Become(State.PENDING),
        WakeAt(120.5),
    ]
    boot.sending(120.5)
    assert boot.answered(answer("Accepted", 60), 121.0, WALL) == [
        SyncClock(pytest.approx(10.0)),
        Accepted(60, waited_s=21.0),  # from the connection's first BootNotification
        ReportConnectors(),
        StartBeats(60),
        StartChargers(),
    ]


def test_rejected_goes_silent_and_no_answer_retries_after_retry_s() -> None:
    boot = Booting(RULES, retry_s=30)
    boot.connected()
    boot.sending(0.0)
    assert boot.answered(answer("Rejected", 0), 1.0, WALL) == [
        Become(State.REJECTED),
        WakeAt(31.0),  # interval 0: the station's own wait
    ]
    assert boot.answered(None, 40.0, WALL) == [WakeAt(70.0)]


def test_a_second_acceptance_on_a_connection_starts_nothing_again() -> None:
    # A triggered BootNotification once accepted: the clock and interval follow the answer, but
    # connectors are not reported again, beats not restarted, and no boot time is counted.
    boot = Booting(RULES, retry_s=30)
    boot.connected()
    boot.sending(0.0)
    assert StartBeats(60) in boot.answered(answer("Accepted", 60), 0.2, WALL)
    boot.sending(50.0)
    assert boot.answered(answer("Accepted", 90, at="garbage"), 50.1, WALL) == [
        Accepted(90, waited_s=None)
    ]
    boot.connected()  # reconnected: boot from scratch, timed from the new first attempt
    boot.sending(200.0)
    again = boot.answered(answer("Accepted", 90), 200.25, WALL)
    assert Accepted(90, waited_s=0.25) in again and StartBeats(90) in again


# --- heartbeats ----------------------------------------------------------------------------------


def test_beats_keep_their_intended_times() -> None:
    beats = Beats()
    assert beats.start(0.0, 10.0) == [WakeAt(10.0)]
    for n in range(1, 4):
        due = 10.0 * n
        assert beats.due(due + 0.003) == [beat(due)]
        assert beats.answered(due + 0.005) == [WakeAt(due + 10.0)]


def test_a_stalled_loop_and_a_slow_answer_are_counted_apart() -> None:
    beats = Beats()
    beats.start(0.0, 10.0)
    # The timer for 10 s fires at 35 s: due 10 and 20 were passed over, 30 is sent late.
    assert beats.due(35.0) == [Missed("Heartbeat", MISSED_STALL, 2), beat(30.0)]
    # Its answer takes until 61 s: due 40 and 50 passed while it was out, 60 goes at once.
    assert beats.answered(61.0) == [Missed("Heartbeat", MISSED_BUSY, 2), WakeAt(60.0)]


def test_a_new_interval_counts_from_when_it_was_set_even_with_a_beat_out() -> None:
    beats = Beats()
    beats.start(0.0, 10.0)
    assert beats.replan(4.0, 30.0) == [WakeAt(34.0)]
    assert beats.due(34.0) == [beat(34.0)]
    assert beats.replan(40.0, 5.0) == []  # the beat is out: its answer plans the next
    assert beats.answered(50.0) == [WakeAt(45.0)]  # not counted busy: the interval changed


def test_beats_due_while_offline_are_missed_once_back_or_stopped() -> None:
    beats = Beats()
    beats.start(0.0, 10.0)
    beats.due(10.0)
    beats.disconnected(lost=True)  # the beat out dies with the connection
    assert beats.answered(10.5) == [] and beats.due(20.0) == []
    # Back at 45 s: due 20, 30 and 40 passed offline (due 10 was sent).
    assert beats.start(45.0, 10.0) == [Missed("Heartbeat", MISSED_OFFLINE, 3), WakeAt(55.0)]
    beats.disconnected(lost=True)
    assert beats.ended(80.0) == [Missed("Heartbeat", MISSED_OFFLINE, 3)]  # 55, 65, 75
    assert beats.ended(200.0) == []  # counted once


def test_a_clean_stop_or_reboot_misses_nothing() -> None:
    beats = Beats()
    beats.start(0.0, 10.0)
    beats.disconnected(lost=False)
    assert beats.start(100.0, 10.0) == [WakeAt(110.0)]


def test_a_short_drop_resumes_without_booting_when_the_scenario_says_so() -> None:
    boot = Booting(RULES, retry_s=30)
    boot.connected()
    assert boot.resumed(None, 10, 60, 5) == []  # not after a loss: boot
    assert boot.resumed(12.0, 10, 60, 5) == []  # lost too long: boot
    assert boot.resumed(3.0, 0, 60, 5) == []  # 0: always boot
    boot.connected()
    assert boot.resumed(3.0, 10, 60, 5) == [
        Accepted(60, waited_s=None),
        ReportConnectors(changed_only=True),  # offline for less than OfflineThreshold
        StartBeats(60),
        StartChargers(),
    ]
    # Resumed: a later triggered BootNotification's acceptance starts nothing again.
    assert boot.answered(answer("Accepted", 60), 5.0, WALL)[-1] == Accepted(60, waited_s=None)
    boot.connected()  # offline for OfflineThreshold or longer: every connector (B04.FR.01)
    assert boot.resumed(5.0, 10, 60, 5)[1] == ReportConnectors(changed_only=False)
    boot.connected()
    assert boot.resumed(0.5, 10, 60, 0)[1] == ReportConnectors(changed_only=False)  # 0: all
