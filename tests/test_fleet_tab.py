"""The Fleet tab's chart points, computed from Locust's statistics (no process, no socket)."""

from __future__ import annotations

from locust.env import Environment

from fleet.locust_ext.state import FleetState
from fleet.locust_ext.web import chart_point


def test_a_latency_series_keeps_its_label_when_the_busiest_set_changes() -> None:
    """An action both versions send is labelled with its version even when only one version's
    row is among the charted (busiest) rows: the legend must not list it twice over time."""
    environment = Environment()
    stats = environment.stats
    actions = ["Authorize", "Heartbeat", "MeterValues", "StartTransaction", "StopTransaction"]
    actions += ["StatusNotification", "BootNotification", "DataTransfer", "FirmwareStatus"]
    for n, action in enumerate(actions):
        for _ in range(500 if action == "Authorize" else 100 + n):
            stats.log_request("OCPP1.6", action, 5, 10)
    stats.log_request("OCPP2.0.1", "Authorize", 5, 10)  # rare: not among the busiest eight
    point = chart_point(environment, FleetState.of(environment))
    labels = set(point["p95_ms"])
    assert len(labels) == 8
    assert "Authorize 1.6" in labels and "Authorize" not in labels
    assert "FirmwareStatus" in labels  # one version only: no suffix
