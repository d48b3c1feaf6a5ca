"""fleet's OpenTelemetry instruments: read back through the SDK's in-memory reader, and exported
over OTLP/HTTP by real runs (`fleet run --otel`, `locust --otel`) to a collector in this
process on 127.0.0.1 that decodes what arrives with the OTLP protobuf definitions."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from fleet.metrics.otel import FleetInstruments
from fleet.metrics.sample import SessionDelta
from fleet.metrics.stats import FleetStats
from tests.test_cli import FLEET, csms_process
from tests.test_locust import LOCUST


def sdk_metrics(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_every_action_is_its_own_series_with_fleets_figures() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    stats = FleetStats()
    for n in range(25):  # Locust's own OTel histogram names 20 at most
        for _ in range(4):
            stats.exchange("OCPP1.6", f"Action{n:02d}", 147.3, None)
    stats.exchange("OCPP2.0.1", "Action00", 5.0, "no answer within 30 s")
    stats.timing("loop lag", 2.0)
    stats.session("2.0.1", SessionDelta(1, 3, 1, 2500.0))
    table = {"1.6": {"accepted": 4, "charging": 0}, "2.0.1": {"accepted": 2, "charging": 1}}
    instruments = FleetInstruments(provider.get_meter("fleet"), lambda: (stats, table))
    assert instruments.pump() == 101  # 100 answered round trips and one loop-lag sample
    assert instruments.pump() == 0  # nothing new: nothing recorded twice
    stats.exchange("OCPP1.6", "Action03", 12.0, None)
    assert instruments.pump() == 1
    metrics = sdk_metrics(reader)
    points = {
        point.attributes["action"]: point
        for point in metrics["fleet.ocpp.request.duration"].data.data_points
    }
    assert len(points) == 25
    assert points["Action01"].count == 4 and points["Action01"].max == 0.147  # 3 digits
    assert points["Action03"].count == 5 and points["Action03"].min == 0.012
    assert points["Action01"].attributes["version"] == "1.6"
    requests = {
        (p.attributes["action"], p.attributes["version"]): p.value
        for p in metrics["fleet.ocpp.requests"].data.data_points
    }
    assert requests["Action00", "2.0.1"] == 1 and requests["Action00", "1.6"] == 4
    (failure,) = metrics["fleet.ocpp.failures"].data.data_points
    assert dict(failure.attributes) == {
        "action": "Action00",
        "version": "2.0.1",
        "reason": "timeout",
    }
    stations = {
        (p.attributes["version"], p.attributes["state"]): p.value
        for p in metrics["fleet.stations"].data.data_points
    }
    assert stations == {("1.6", "accepted"): 4, ("2.0.1", "accepted"): 2}
    (energy,) = metrics["fleet.energy.delivered"].data.data_points
    assert energy.value == 2500.0 and metrics["fleet.energy.delivered"].unit == "Wh"
    (lag,) = metrics["fleet.loop.lag"].data.data_points
    assert lag.count == 1
    # A new statistics object (a new Locust test) starts the count again.
    stats = FleetStats()
    stats.exchange("OCPP1.6", "Action01", 147.3, None)
    assert instruments.pump() == 1


@contextlib.contextmanager
def otlp_collector() -> Iterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    """An OTLP/HTTP metrics receiver on 127.0.0.1 keeping every request it decodes."""
    received: list[ExportMetricsServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            reply = ExportMetricsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def latest_points(received: list[ExportMetricsServiceRequest], name: str) -> list[Any]:
    """The data points of ``name`` in the last export that has it (cumulative: the totals)."""
    for request in reversed(received):
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        kind = metric.WhichOneof("data")
                        return list(getattr(metric, kind).data_points)
    return []


def attributes(point: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


def otel_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FLEET_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    return env


def test_fleet_run_exports_its_instruments_over_otlp(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    with otlp_collector() as (endpoint, received), csms_process("--interval", "1") as url:
        result = subprocess.run(
            [*FLEET, "run", "scenarios/default.yaml", "--csms", url, "--stations", "4",
             "--duration", "4", "--summary-json", str(summary), "--otel"],
            capture_output=True, text=True, timeout=60, env=otel_env(endpoint),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    actions = json.loads(summary.read_text())["actions"]
    durations = {
        attributes(p)["action"]: p for p in latest_points(received, "fleet.ocpp.request.duration")
    }
    assert durations["Heartbeat"].count == actions["Heartbeat"]["count"] >= 8
    assert durations["BootNotification"].count == 4
    # A gauge: while the run lasted, every station accepted (at the end, none is connected).
    accepted = [
        p.as_int or p.as_double
        for request in received
        for p in latest_points([request], "fleet.stations")
        if attributes(p)["state"] == "accepted"
    ]
    assert max(accepted) == 4 and accepted[-1] == 0
    resource = {
        kv.key: kv.value.string_value for kv in received[-1].resource_metrics[0].resource.attributes
    }
    assert resource["service.name"] == "fleet"


def test_locust_otel_carries_fleets_instruments_beside_locusts(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    with otlp_collector() as (endpoint, received), csms_process("--interval", "1") as url:
        result = subprocess.run(
            [*LOCUST, "--scenario", "scenarios/default.yaml", "--host", url, "--headless",
             "-u", "5", "-r", "5", "-t", "4s", "--otel", "--summary-json", str(summary)],
            capture_output=True, text=True, timeout=90, env=otel_env(endpoint),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OpenTelemetry enabled" in result.stderr
    actions = json.loads(summary.read_text())["actions"]
    durations = {
        attributes(p)["action"]: p for p in latest_points(received, "fleet.ocpp.request.duration")
    }
    assert durations["Heartbeat"].count == actions["Heartbeat"]["count"] >= 10
    assert latest_points(received, "locust.client.duration"), "Locust's own instrument too"


def test_otel_without_an_exporter_library_is_one_clear_line(tmp_path: Path) -> None:
    env = otel_env("http://127.0.0.1:9")
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "carrier-pigeon"
    result = subprocess.run(
        [*FLEET, "run", "scenarios/default.yaml", "--csms", "ws://127.0.0.1:9/ocpp",
         "--stations", "1", "--duration", "1", "--otel"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' is not supported" in result.stderr
    assert "Traceback" not in result.stderr
