"""The schedule of periodic messages, by intended time, with a fake clock: due times that pass
without a send are counted, never silently skipped."""

from __future__ import annotations

from fleet.station.schedule import Periodic


def test_on_time_sends_keep_the_intended_schedule_and_miss_nothing() -> None:
    beats = Periodic.starting(now_s=0.0, every_s=10.0)
    assert beats.due_s == 10.0
    for n in range(1, 6):
        woke = beats.due_s + 0.004  # the timer fires a little late
        assert beats.catch_up(woke) == 0
        assert beats.sent(woke + 0.002) == 0  # answered 2 ms later
        assert beats.due_s == 10.0 * (n + 1)  # no drift accumulates


def test_a_late_wake_counts_the_beats_it_passed_over() -> None:
    beats = Periodic(every_s=10.0, due_s=10.0)
    # The loop stalled: the timer for 10 s fires at 45 s. Due 10, 20, 30, 40 have passed;
    # the latest (40) is sent now, the three before it are missed.
    assert beats.catch_up(45.0) == 3
    assert beats.due_s == 40.0
    assert beats.sent(45.001) == 0 and beats.due_s == 50.0


def test_a_slow_answer_counts_the_beats_due_while_it_was_out() -> None:
    beats = Periodic(every_s=1.0, due_s=1.0)
    assert beats.catch_up(1.0) == 0
    # The CSMS takes 2.5 s to answer: due 2 and 3 passed while the CALL was out. Due 3 is sent
    # at once (late), due 2 is missed.
    assert beats.sent(3.5) == 1
    assert beats.due_s == 3.0
    assert beats.sent(3.6) == 0 and beats.due_s == 4.0


def test_beats_due_while_offline_are_all_missed() -> None:
    beats = Periodic(every_s=10.0, due_s=110.0)
    assert beats.missed_until(105.0) == 0  # back before the next was due
    assert beats.missed_until(110.0) == 1
    assert beats.missed_until(145.0) == 4  # 110, 120, 130, 140


def test_a_new_interval_replans_from_now() -> None:
    beats = Periodic(every_s=300.0, due_s=300.0)
    beats.replan(now_s=12.0, every_s=5.0)
    assert (beats.every_s, beats.due_s) == (5.0, 17.0)
    assert beats.catch_up(17.5) == 0
