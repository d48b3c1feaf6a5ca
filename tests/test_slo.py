"""SLO gates: parsed before anything runs, evaluated against the wire rows and fleet's own
statistics. A gate without an action covers OCPP CALLs only."""

from __future__ import annotations

import pytest

from fleet.metrics.actions import WireView
from fleet.metrics.sample import ANSWER, Violation
from fleet.metrics.stats import FleetStats
from fleet.metrics.summary import Summary
from fleet.slo import SloError, evaluate, fleet_row, parse_slo


def test_fleet_rows_are_named_as_users_type_them() -> None:
    assert fleet_row("boot->accepted") == fleet_row("boot→accepted") == "boot→accepted"
    assert fleet_row("loop_lag") == fleet_row("loop lag") == "loop lag"
    assert fleet_row("ws_ping") == "ws ping"
    assert fleet_row("CSMS->CP") == "CSMS→CP"
    assert fleet_row("CSMS->CP Reset") == "CSMS→CP Reset"
    assert fleet_row("Heartbeat_drift") == "Heartbeat drift"
    assert fleet_row("Heartbeat") is None and fleet_row("connect") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rps(boot→accepted) > 1", "one of fleet's own statistics"),
        ("tainted(loop_lag) < 1%", "one of fleet's own statistics"),
        ("missed_beats(Heartbeat) == 0", "takes no action"),
        ("tainted < 5ms", "is a share"),
        ("violations == 1%", "takes a plain number"),
        ("p99(loop_lag) << 5", r"expected METRIC\[\(Action\)\] OP VALUE"),
    ],
)
def test_malformed_gates_are_refused_with_what_was_expected(text: str, problem: str) -> None:
    with pytest.raises(SloError, match=problem):
        parse_slo(text)


def run() -> tuple[Summary, FleetStats]:
    summary = Summary()
    for n in range(100):  # 100 Heartbeats, 60 failed; 20 connects, all failed
        error = "CallError InternalError: x" if n < 60 else None
        summary.exchange("CP-1", "OCPP1.6", "Heartbeat", 0.0, 2.0 + n / 10, 40, error)
    for _ in range(20):
        summary.exchange("CP-1", "connect", "connect", 0.0, 1.0, 0, "connection refused")
    stats = summary.stats
    for n in range(200):
        stats.timing("boot→accepted", 100.0 + n)
        stats.timing("loop lag", 1.0 if n < 196 else 70.0)
        stats.timing("CSMS→CP Reset", 1.0, "NotSupported: no" if n < 4 else None)
        stats.timing("CSMS→CP GetVariables", 1.0)
    stats.missed_beats("CP-1", "Heartbeat", "busy", 3)
    stats.violation(Violation(ANSWER, "Heartbeat", "currentTime", "format", "date-time", "[]"))
    return summary, stats


def gate(text: str) -> tuple[float | None, bool]:
    _, stats = run()
    result = evaluate(parse_slo(text), WireView(stats, elapsed_s=10.0), stats, 0.98)
    return result.value, result.ok


def test_a_gate_without_action_covers_ocpp_calls_only() -> None:
    # 60 of 100 OCPP CALLs failed; the 20 failed connects do not count.
    assert gate("fail_ratio < 0.5") == (0.6, False)
    assert gate("failures == 60") == (60.0, True)
    assert gate("fail_ratio(connect) < 1%") == (1.0, False)
    assert gate("rps(Heartbeat) >= 10") == (10.0, True)


def test_gates_on_fleet_rows() -> None:
    assert gate("p95(boot→accepted) < 2s") == (289.0, True)  # the 190th of 100..299, exactly
    assert gate("p99(loop_lag) < 50ms")[1] is False  # 4 of 200 samples at 70 ms
    assert gate("max(loop_lag) <= 70ms") == (70.0, True)
    assert gate("fail_ratio(CSMS→CP) < 1%") == (0.01, False)  # 4 of 400 handled calls
    assert gate("fail_ratio(CSMS->CP GetVariables) == 0") == (0.0, True)
    assert gate("p50(CSMS→CP Nope) < 1s") == (None, False)  # never measured: fails


def test_gates_on_missed_beats_violations_and_taint() -> None:
    assert gate("missed_beats == 0") == (3.0, False)
    assert gate("missed(Heartbeat) <= 3") == (3.0, True)
    assert gate("violations == 0") == (1.0, False)
    assert gate("violations(BootNotification) == 0") == (0.0, True)
    assert gate("tainted < 1%") == (0.0, True)
    assert gate("accepted >= 99%") == (0.98, False)
