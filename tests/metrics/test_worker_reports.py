"""A Locust master parses each worker's report once, however many readers ask for it."""

from __future__ import annotations

import pytest

from fleet.locust_ext.state import FleetState
from fleet.metrics.stats import FleetStats

pytestmark = pytest.mark.in_process_locust  # see tests/conftest.py


def _report(heartbeats: int) -> dict[str, object]:
    stats = FleetStats()
    for _ in range(heartbeats):
        stats.exchange("OCPP1.6", "Heartbeat", 3.0, None)
    return {"stats": stats.to_dict()}


def test_a_report_is_parsed_once_and_a_new_one_again() -> None:
    state = FleetState()
    state.worker_report("w1", _report(3))
    state.worker_report("w2", _report(4))
    first = state.worker_stats()
    again = state.worker_stats()
    assert first["w1"] is again["w1"] and first["w2"] is again["w2"]
    assert first["w1"].wire["OCPP1.6", "Heartbeat"].count == 3
    state.worker_report("w1", _report(5))
    fresh = state.worker_stats()
    assert fresh["w1"] is not first["w1"] and fresh["w2"] is first["w2"]
    assert fresh["w1"].wire["OCPP1.6", "Heartbeat"].count == 5
    state.worker_reports["w2"]["stats"] = None  # a new test: the old figures are gone
    assert set(state.worker_stats()) == {"w1"}
