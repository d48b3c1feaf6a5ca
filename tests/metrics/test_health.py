"""LoopHealth's rules with a fake clock: which samples a stall taints, when saturation is called.
No loop and no sleeping: the sampling timer is fired by hand."""

from __future__ import annotations

import io

from fleet.metrics.health import SAMPLE_EVERY_S, LoopHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ticking(threshold_ms: float = 50.0) -> tuple[LoopHealth, Clock]:
    clock = Clock()
    health = LoopHealth(threshold_ms, out=io.StringIO(), clock=clock)
    health._arm(clock.now)  # as start() does, without a loop
    return health, clock


def fire_at(health: LoopHealth, clock: Clock, now: float) -> None:
    clock.now = now
    health._tick()


def test_a_stall_taints_the_samples_that_overlap_it_and_only_those() -> None:
    health, clock = ticking()
    fire_at(health, clock, 100.0 + SAMPLE_EVERY_S)  # on time
    due = clock.now + SAMPLE_EVERY_S
    fire_at(health, clock, due + 0.2)  # 200 ms late: a stall over [due, due + 0.2]
    assert health.stall_count == 1 and health.max_ms >= 199
    assert health.tainted(due - 0.05, due + 0.01)  # answer read during the stall
    assert health.tainted(due + 0.05, due + 0.3)  # sent during the stall
    assert health.tainted(due - 1, due + 1)  # spans it
    assert not health.tainted(due - 0.05, due - 0.01)  # over before it began
    assert not health.tainted(due + 0.21, due + 0.25)  # after it
    # A lag under the threshold is not a stall.
    due = clock.now + SAMPLE_EVERY_S
    fire_at(health, clock, due + 0.04)
    assert health.stall_count == 1 and not health.tainted(due, due + 0.03)


def test_a_stall_not_yet_seen_by_the_sampler_taints_samples_recorded_during_it() -> None:
    """The loop reads sockets before it runs timers: a sample delayed by a stall is recorded
    before the sampler fires. An overdue sampler means a stall is in progress."""
    health, clock = ticking()
    due = 100.0 + SAMPLE_EVERY_S
    clock.now = due + 0.12  # the sampler is 120 ms overdue
    assert health.tainted(due - 0.02, due + 0.11)  # its answer was read during the stall
    assert not health.tainted(due - 0.05, due - 0.03)  # read before it (recorded late)
    clock.now = due + 0.03  # 30 ms overdue: under the threshold, no stall
    assert not health.tainted(due - 0.02, due + 0.02)


def test_saturation_is_called_once_on_a_sustained_lag_not_one_bad_second() -> None:
    out = io.StringIO()
    health = LoopHealth(50.0, out=out)
    per_second = int(1 / SAMPLE_EVERY_S)
    for second in range(20):  # 20 s with one 400 ms sample every other second: p99 stays low
        for n in range(per_second):
            health.add(400.0 if n == 0 and second % 2 else 1.0)
    assert not health.saturated
    for _ in range(15):  # then 15 s with every tenth sample at 80 ms
        for n in range(per_second):
            health.add(80.0 if n % 10 == 0 else 1.0)
    assert health.saturated and out.getvalue().count("saturated") == 1
    assert health.recent_p99() == 80.0
    health.reset()
    assert not health.saturated and health.histogram.total == 0
