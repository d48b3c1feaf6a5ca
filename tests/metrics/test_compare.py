"""Comparing two runs' summaries (pure): what moved beyond the tolerance and the floor is
slower or faster, what has too few samples or overlapped fleet's own stalls is not judged, and
only judged slowdowns, failure rises and new CSMS violations make a regression."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleet.metrics.compare import (
    FASTER,
    SAME,
    SLOWER,
    UNSURE,
    WORSE,
    Rules,
    compare,
    format_comparison,
    from_locust_csv,
)

RULES = Rules()  # 10 % and 1 ms, 100 samples, gates p95 and p99, 0.1 failure points


def row(p50: float, p95: float, p99: float, count: int = 1000, **more: Any) -> dict[str, Any]:
    return {"count": count, "failures": 0, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, **more}


def summary(actions: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"stations": {"total": 100}, "duration_s": 60.0, "actions": actions, **more}


def test_a_quantile_counts_as_moved_only_past_both_the_tolerance_and_the_floor() -> None:
    base = summary({"Heartbeat": row(2.0, 10.0, 20.0), "Authorize": row(0.5, 0.8, 1.0)})
    current = summary({"Heartbeat": row(2.5, 11.5, 21.5), "Authorize": row(0.7, 1.2, 1.9)})
    result = compare(base, current, RULES)
    heartbeat, authorize = result.rows
    # p50 +25 % but +0.5 ms; p95 +15 % and +1.5 ms; p99 +1.5 ms but +7.5 %
    assert heartbeat.moves == {"p50": SAME, "p95": SLOWER, "p99": SAME}
    assert authorize.moves == {"p50": SAME, "p95": SAME, "p99": SAME}  # +90 %, under 1 ms
    assert result.regressions == ["Heartbeat p95 10 -> 11.5 ms (+15 %)"]


def test_faster_rows_and_ungated_quantiles_are_shown_but_are_no_regression() -> None:
    base = summary({"Heartbeat": row(10.0, 50.0, 90.0)})
    current = summary({"Heartbeat": row(30.0, 20.0, 40.0)})
    result = compare(base, current, RULES)
    assert result.rows[0].moves == {"p50": SLOWER, "p95": FASTER, "p99": FASTER}
    assert result.regressions == []  # p50 is not a gate by default
    gated = compare(base, current, Rules(gates=("p50",)))
    assert gated.regressions == ["Heartbeat p50 10 -> 30 ms (+200 %)"]


def test_rows_with_few_samples_or_overlapping_stalls_are_not_judged() -> None:
    base = summary({"Reset": row(1, 2, 3, count=20), "Heartbeat": row(1, 2, 3, tainted=10)})  # 1 %
    current = summary({"Reset": row(9, 90, 99, count=20), "Heartbeat": row(9, 90, 99)})
    result = compare(base, current, RULES)
    few, stalled = result.rows
    assert few.not_judged == "20 samples, fewer than 100"
    assert stalled.not_judged is not None and "fleet's own stalls" in stalled.not_judged
    assert result.regressions == []
    assert compare(base, current, Rules(min_count=10, tail=1)).regressions[0].startswith("Reset")


def test_a_quantile_with_few_samples_beyond_it_is_not_judged() -> None:
    base = summary({"Heartbeat": row(1, 2, 3, count=500)})
    current = summary({"Heartbeat": row(1, 20, 30, count=500)})
    result = compare(base, current, RULES)  # beyond p95: 25 samples; beyond p99: 5
    assert result.rows[0].moves == {"p50": SAME, "p95": SLOWER, "p99": UNSURE}
    assert result.regressions == ["Heartbeat p95 2 -> 20 ms (+900 %)"]
    assert compare(base, current, Rules(tail=30)).regressions == []


def test_a_failure_share_rising_more_than_the_allowed_points_is_a_regression() -> None:
    base = summary({"StartTransaction": row(5, 9, 12, failures=1)})  # 0.1 %
    worse = summary({"StartTransaction": row(5, 9, 12, failures=5)})  # 0.5 %
    slight = summary({"StartTransaction": row(5, 9, 12, failures=2)})  # 0.2 %
    result = compare(base, worse, RULES)
    assert result.rows[0].moves["failures"] == WORSE
    assert result.regressions == ["StartTransaction failures 0.10 % -> 0.50 % of its calls"]
    assert compare(base, slight, RULES).regressions == []


def test_new_schema_violations_and_rows_only_in_one_run() -> None:
    base = summary({"Heartbeat": row(1, 2, 3)}, conformance={"violations": 0})
    current = summary(
        {"Heartbeat": row(1, 2, 3), "DataTransfer": row(1, 2, 3)}, conformance={"violations": 7}
    )
    result = compare(base, current, RULES)
    assert result.rows[1].not_judged == "only in the current run"
    assert result.regressions == ["CSMS schema violations: 0 -> 7"]


def test_fleet_rows_that_measure_the_csms_are_compared_and_the_simulator_s_are_not() -> None:
    fleet_rows = {"boot→accepted": row(100, 400, 900), "loop lag": row(1, 2, 3)}
    slower = {"boot→accepted": row(100, 900, 2000), "loop lag": row(10, 20, 30)}
    base = summary({}, fleet=fleet_rows)
    result = compare(base, summary({}, fleet=slower), RULES)
    assert [r.name for r in result.rows] == ["boot→accepted"]
    assert result.regressions[0].startswith("boot→accepted p95 400 -> 900 ms")


def test_different_loads_and_saturation_are_said() -> None:
    base = summary({"Heartbeat": row(1, 2, 3)})
    current = summary({"Heartbeat": row(1, 2, 3)}, saturated=True, duration_s=120.0)
    current["stations"] = {"total": 200}
    notes = compare(base, current, RULES).notes
    assert len(notes) == 3
    assert "100 and 200 stations" in notes[0] and "60 s and 120 s" in notes[1]
    assert "current run's event loop was saturated" in notes[2]


def test_identical_runs_never_regress_whatever_their_figures() -> None:
    rng = random.Random()  # really random: any figures at all compare equal to themselves
    for _ in range(200):
        figures = sorted(rng.uniform(0, 5000) for _ in range(3))
        actions = {"Heartbeat": row(*figures, count=rng.randint(0, 10_000))}
        data = summary(actions, conformance={"violations": rng.randint(0, 5)})
        result = compare(data, data, RULES)
        assert result.regressions == []
        assert all(m in (SAME, UNSURE) for r in result.rows for m in r.moves.values())


def test_the_report_shows_each_row_and_ends_with_the_verdict() -> None:
    base = summary({"Heartbeat": row(2.0, 10.0, 20.0), "Reset": row(1, 2, 3, count=5)})
    current = summary({"Heartbeat": row(2.0, 30.0, 60.0), "Reset": row(1, 2, 3, count=5)})
    result = compare(base, current, RULES)
    text = format_comparison(result, RULES, ("a.json", "b.json"))
    lines = text.splitlines()
    heartbeat = next(line for line in lines if line.startswith("Heartbeat"))
    assert "10.0 -> 30.0" in heartbeat and "REGRESSION: p95 slower, p99 slower" in heartbeat
    assert "not judged: 5 samples" in next(line for line in lines if line.startswith("Reset"))
    assert lines[-3] == "REGRESSION: 2 finding(s)"
    assert lines[-1] == "  Heartbeat p99 20 -> 60 ms (+200 %)"
    same = format_comparison(compare(base, base, RULES), RULES, ("a.json", "a.json"))
    assert same.splitlines()[-1] == "no regression: 1 row(s) judged"


HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def locust_csv(heartbeat_p95: int) -> str:
    """A Locust stats CSV as a fleet run writes it: rows per OCPP version, then Aggregated."""
    return "\n".join(
        [
            HEADER,
            f"OCPP1.6,Heartbeat,2000,4,2,2.4,0.6,40,85,19,0,2,3,3,4,4,{heartbeat_p95},6,9,12,40,40",
            "OCPP2.0.1,Heartbeat,1000,0,2,2.4,0.6,30,85,19,0,2,3,3,4,4,5,6,8,11,30,30",
            "WS,connect,300,0,24,17,7,26,0,4.8,0,24,24,25,26,26,26,26,26,26,26,26",
            ",Aggregated,3300,4,3,6,0.6,40,65,43,0,3,5,9,15,17,24,26,26,26,26,40",
        ]
    )


def test_a_locust_stats_csv_compares_as_its_rows() -> None:
    before = from_locust_csv(locust_csv(5))
    assert list(before["actions"]) == ["Heartbeat [OCPP1.6]", "Heartbeat [OCPP2.0.1]", "connect"]
    assert before["actions"]["Heartbeat [OCPP1.6]"] == {
        "count": 2000, "failures": 4, "p50_ms": 2.0, "p95_ms": 5.0, "p99_ms": 9.0,
    }  # fmt: skip
    result = compare(before, from_locust_csv(locust_csv(12)), RULES)
    assert result.regressions == ["Heartbeat [OCPP1.6] p95 5 -> 12 ms (+140 %)"]
    assert "no taint figures" in result.notes[0]
    with pytest.raises(ValueError, match="not a Locust stats CSV"):
        from_locust_csv("a,b\n1,2\n")


def test_two_capacity_searches_compare_by_the_stations_they_held() -> None:
    def search(held: int | None) -> dict[str, Any]:
        return summary({"Heartbeat": row(1, 2, 3)}, capacity={"held": held, "broke_at": 9})

    fewer = compare(search(5000), search(4000), RULES)
    assert fewer.regressions == ["capacity: held 5000 -> 4000 stations"]
    further = search(6000)  # went further, so its whole-run p95 reads higher: not a slowdown
    further["actions"]["Heartbeat"] = row(1, 200, 300)
    assert compare(search(5000), further, RULES).regressions == []
    assert "compared by the stations they held" in (fewer.rows[0].not_judged or "")
    assert "capacity: held 5000 -> 4000 stations" in fewer.notes
    assert compare(search(4000), search(5000), RULES).regressions == []
    assert compare(search(4000), search(None), RULES).regressions == [
        "capacity: held 4000 -> None stations"
    ]
    plain = summary({}, capacity=None)  # a run that was not a search
    assert compare(search(4000), plain, RULES).notes == []
    assert compare(plain, plain, RULES).notes == []
