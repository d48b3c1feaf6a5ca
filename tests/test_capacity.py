"""The capacity search's decisions (pure): the steps it takes, each judged on its window, and
the sentence it ends with; fleet itself being the limit is said, not blamed on the CSMS."""

from __future__ import annotations

import pytest

from fleet.capacity import Plan, Search, Step, judge
from fleet.metrics.sample import LOOP_LAG
from fleet.metrics.stats import FleetStats
from fleet.slo import SloResult, parse_slo

GATE = parse_slo("p95(Heartbeat) < 500ms")


def window(heartbeat_ms: float, count: int = 100, lag_ms: float = 1.0) -> FleetStats:
    stats = FleetStats()
    for _ in range(count):
        stats.exchange("OCPP1.6", "Heartbeat", heartbeat_ms, None)
    stats.timing(LOOP_LAG, lag_ms)
    return stats


def step(stations: int, ok: bool, simulator: str | None = None) -> Step:
    return Step(stations, 100, 10.0, [SloResult(GATE, 1.0 if ok else 900.0, ok)], simulator)


def test_the_steps_grow_to_the_maximum() -> None:
    assert Plan(1000, 3500).targets() == [1000, 2000, 3000, 3500]
    assert Plan(500, 500).targets() == [500]


def test_the_search_stops_at_the_first_step_that_breaks_a_gate() -> None:
    search = Search(Plan(1000, 5000))
    assert search.next_target() == 1000
    search.judged(step(1000, ok=True))
    assert search.next_target() == 2000
    search.judged(step(2000, ok=True))
    search.judged(step(3000, ok=False))
    assert search.next_target() is None
    assert search.held == 2000
    assert search.verdict() == (
        "capacity: held 2000 stations; broke at 3000: p95(Heartbeat) < 500ms: 900.0ms"
    )
    assert search.to_json()["broke_at"] == 3000 and search.to_json()["held"] == 2000


def test_a_search_stopped_before_its_end_says_so() -> None:
    search = Search(Plan(1000, 5000))
    search.judged(step(1000, ok=True))
    stopped = "capacity: held 1000 stations so far; stopped before the step of 2000"
    assert search.verdict() == stopped


def test_a_search_that_never_breaks_says_the_csms_was_not_pushed() -> None:
    search = Search(Plan(1000, 2000))
    search.judged(step(1000, ok=True))
    search.judged(step(2000, ok=True))
    assert search.next_target() is None
    assert "not pushed to its limit (raise --stations beyond 2000)" in search.verdict()


def test_a_simulator_bound_step_ends_the_search_without_a_verdict_on_the_csms() -> None:
    search = Search(Plan(1000, 5000))
    search.judged(step(1000, ok=True))
    search.judged(step(2000, ok=True, simulator="fleet's event loop ran 90 ms late (p99)"))
    assert search.next_target() is None and search.held == 1000
    assert "at 2000 fleet itself was the limit, not the CSMS" in search.verdict()
    data = search.to_json()
    assert data["broke_at"] is None and data["simulator_bound_at"] == 2000


@pytest.mark.parametrize(
    ("heartbeat_ms", "lag_ms", "held", "simulator"),
    [
        (10.0, 1.0, True, None),
        (800.0, 1.0, False, None),  # the CSMS broke it
        (800.0, 90.0, False, "90 ms late"),  # broken while fleet lagged: not the CSMS's
        (10.0, 90.0, True, None),  # held despite fleet's lag: held
    ],
)
def test_a_step_is_judged_on_its_window(
    heartbeat_ms: float, lag_ms: float, held: bool, simulator: str | None
) -> None:
    result = judge(3000, window(heartbeat_ms, lag_ms=lag_ms), 10.0, [GATE], 1.0, 50.0)
    assert result.held is held and result.messages == 100
    assert (result.simulator is None) is (simulator is None)
    if simulator is not None:
        assert result.simulator is not None and simulator in result.simulator
    assert result.gates[0].ok is (heartbeat_ms < 500)
    assert result.line().startswith("capacity step: 3000 stations, 10.0 msg/s: ")
    if simulator is None:  # fleet's own figures beside the verdict
        assert result.line().endswith(f"fleet: loop lag p99 {lag_ms:.1f} ms, tainted 0.0 %")


def test_a_break_fleet_s_delay_cannot_explain_is_the_csms_s_whatever_the_lag() -> None:
    """Too many Heartbeats a second, or schema violations: fleet lagging does not make more."""
    slow = window(10.0, lag_ms=90.0)  # fleet's loop 90 ms late
    too_many = judge(3000, slow, 10.0, [parse_slo("rps(Heartbeat) < 5")], 1.0, 50.0)
    assert not too_many.held and too_many.simulator is None  # BROKE, the CSMS's figure
    too_few = judge(3000, slow, 10.0, [parse_slo("rps(Heartbeat) > 50")], 1.0, 50.0)
    assert too_few.simulator is not None  # a lagging fleet sends fewer: not the CSMS's


def test_a_window_counts_only_what_came_after_it_opened() -> None:
    """The light step before must not water a step's figures down: the window opened on
    100 fast Heartbeats and closed after 100 slow ones is judged on the slow ones alone."""
    stats = window(10.0)
    search = Search(Plan(1000, 5000, gates=(GATE,), lag_warn_ms=50.0))
    search.judged(step(1000, ok=True))
    search.open(2000, stats, now=100.0)
    for _ in range(100):
        stats.exchange("OCPP1.6", "Heartbeat", 800.0, None)
    result = search.close(stats, now=160.0, accepted=1500)
    assert search.window is None and search.steps[-1] is result
    assert (result.stations, result.messages, result.window_s) == (2000, 100, 60.0)
    assert result.gates[0].value == pytest.approx(800.0, rel=0.01) and not result.held
    assert search.verdict().startswith("capacity: held 1000 stations; broke at 2000")
