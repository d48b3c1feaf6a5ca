"""What fleet exports about a run beyond Locust's tables: its own exact percentiles (3
significant digits), read by the summary, the SLO gates and the CSV, in real runs against a
CSMS that answers Heartbeat after a set delay; its Prometheus endpoint, scraped and parsed with
prometheus_client's own parser during real runs."""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from fleet.metrics.prometheus import exposition
from fleet.metrics.sample import ANSWER, SessionDelta, Violation
from fleet.metrics.stats import FleetStats
from tests.test_cli import FLEET, csms_process, fleet_run
from tests.test_locust import (
    LOCUST,
    csv_rows,
    fleet_state_when,
    free_port,
    get,
    headless,
    locust,
)

SLOW_MS = 142  # Locust reads it as 140 (2 significant digits); fleet as 142.x


def test_locust_run_summary_and_gates_read_fleets_exact_percentiles(tmp_path: Path) -> None:
    prefix, summary = tmp_path / "run", tmp_path / "summary.json"
    with csms_process("--interval", "1", "--slow-on", f"Heartbeat={SLOW_MS}") as url:
        result = headless(
            url, "--csv", str(prefix), "--summary-json", str(summary),
            "--slo", f"p50(Heartbeat) >= {SLOW_MS}ms", "--slo", f"p50(Heartbeat) < {SLOW_MS + 8}ms",
            users=5, run_time="5s",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    heartbeat = json.loads(summary.read_text())["actions"]["Heartbeat"]
    # Above the CSMS's delay by what the round trip adds: < 3 ms on a quiet machine, 3 ms and
    # more on a VM running 2-3 times slower (p50 145.0 seen in a full-suite run there).
    assert SLOW_MS <= heartbeat["p50_ms"] < SLOW_MS + 8
    assert heartbeat["count"] >= 10 and heartbeat["rps"] > 1
    # Locust's own table rounds the same exchanges to 2 significant digits.
    locust_row = csv_rows(prefix)["OCPP1.6", "Heartbeat"]
    assert locust_row["50%"] in ("140", "150")
    assert int(locust_row["Request Count"]) == heartbeat["count"]
    # fleet's CSV carries its own figure for the action.
    fleet_row = csv_rows(prefix, "fleet")["tainted", "Heartbeat"]
    assert float(fleet_row["50%"]) == heartbeat["p50_ms"]
    assert f"SLO passed: p50(Heartbeat) >= {SLOW_MS}ms" in result.stdout


def test_fleet_run_reads_the_same_exact_percentiles(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "1", "--slow-on", f"Heartbeat={SLOW_MS}") as url:
        result = fleet_run(
            "scenarios/default.yaml", "--csms", url, "--stations", "5", "--duration", "4",
            "--summary-json", str(summary), "--slo", f"p50(Heartbeat) >= {SLOW_MS}ms",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    heartbeat = json.loads(summary.read_text())["actions"]["Heartbeat"]
    assert SLOW_MS <= heartbeat["p50_ms"] < SLOW_MS + 3


# --- Prometheus --------------------------------------------------------------------------------


def scrape(url: str) -> dict[str, Metric]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(families: dict[str, Metric], name: str, **labels: str) -> dict[str, float]:
    """{sample name + its other labels: value} of the samples carrying ``labels``."""
    found = {}
    for sample in families[name].samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            rest = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k not in labels)
            found[f"{sample.name}{{{rest}}}"] = sample.value
    return found


def histogram_of(families: dict[str, Metric], name: str, **labels: str) -> dict[str, float]:
    """{le: cumulative count} plus "count" and "sum" of one labelled histogram."""
    result = {}
    for sample in families[name].samples:
        if any(sample.labels.get(k) != v for k, v in labels.items()):
            continue
        if sample.name.endswith("_bucket"):
            result[sample.labels["le"]] = sample.value
        else:
            result[sample.name.rsplit("_", 1)[1]] = sample.value
    return result


def test_the_exposition_is_fleets_histograms_in_buckets_and_its_counts() -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    stats = FleetStats()
    values = [10 ** rng.uniform(-0.5, 4.4) for _ in range(3000)]
    for n, ms in enumerate(values):
        error = "no answer within 30 s" if n % 100 == 0 else None
        stats.exchange("OCPP2.0.1", "Heartbeat", ms, error)
    stats.exchange("connect", "connect", 3.0, "CSMS refused the websocket: HTTP 401")
    stats.timing("loop lag", 4.0)
    stats.session("1.6", SessionDelta(1, 2, 1, 1500.0))
    table = {"1.6": {"accepted": 7, "charging": 1}, "2.0.1": {"accepted": 3, "charging": 0}}
    families = {
        f.name: f
        for f in text_string_to_metric_families(exposition(lambda: (stats, table)).decode())
    }
    row = stats.wire["OCPP2.0.1", "Heartbeat"]
    heartbeat = histogram_of(
        families, "fleet_ocpp_request_duration_seconds", action="Heartbeat", version="2.0.1"
    )
    assert heartbeat["count"] == heartbeat["+Inf"] == row.histogram.total == 2970
    answered = [ms for n, ms in enumerate(values) if n % 100]
    for le in ("0.001", "0.1", "1.5", "30.0"):
        # A value is counted under the bucket its 3-digit key falls in: within 0.5 % of it.
        bound = float(le) * 1000
        surely_below = sum(ms <= bound * 0.995 for ms in answered)
        maybe_below = sum(ms <= bound * 1.005 for ms in answered)
        assert surely_below <= heartbeat[le] <= maybe_below, (seed, le)
        assert maybe_below - surely_below < 60, seed  # the check has teeth
    cumulative = [v for k, v in heartbeat.items() if k not in ("count", "sum")]
    assert cumulative == sorted(cumulative), seed
    assert heartbeat["sum"] == pytest.approx(sum(answered) / 1000, rel=0.005)
    requests = samples(families, "fleet_ocpp_requests", version="2.0.1")
    assert requests == {"fleet_ocpp_requests_total{action=Heartbeat}": 3000}
    assert samples(families, "fleet_ocpp_failures") == {
        "fleet_ocpp_failures_total{action=Heartbeat,reason=timeout,version=2.0.1}": 30
    }
    assert samples(families, "fleet_connect_failures") == {
        "fleet_connect_failures_total{attempt=connect,reason=refused}": 1
    }
    assert samples(families, "fleet_stations", state="accepted") == {
        "fleet_stations{version=1.6}": 7,
        "fleet_stations{version=2.0.1}": 3,
    }
    assert samples(families, "fleet_energy_delivered_watt_hours") == {
        "fleet_energy_delivered_watt_hours_total{version=1.6}": 1500.0
    }
    assert histogram_of(families, "fleet_loop_lag_seconds")["count"] == 1


def test_locust_master_serves_every_workers_figures_merged(tmp_path: Path) -> None:
    web_port, metrics_port = free_port(), free_port()
    web, metrics = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{metrics_port}/metrics"
    with csms_process("--interval", "1") as url:
        process = subprocess.Popen(
            [*LOCUST, "--scenario", "scenarios/mixed-fleet.yaml", "--host", url,
             "--processes", "2", "--autostart", "-u", "10", "-r", "10", "-t", "5s",
             "--web-host", "127.0.0.1", "--web-port", str(web_port),
             "--prometheus-port", str(metrics_port), "--prometheus-host", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            live = fleet_state_when(web, lambda s: s["stations"]["accepted"] == 10)
            assert live is not None, "stations never all accepted"
            during = scrape(metrics)
            accepted = samples(during, "fleet_stations", state="accepted")
            assert sum(accepted.values()) == 10 and len(accepted) == 2  # both versions
            final = fleet_state_when(web, lambda s: s["stopped"], timeout_s=30)
            assert final is not None
            time.sleep(1.5)  # the workers' last reports
            families, state = scrape(metrics), json.loads(get(f"{web}/fleet/state"))
            table = json.loads(get(f"{web}/stats/requests"))["stats"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert "Traceback" not in err.decode()
    actions = state["actions"]
    assert actions["Heartbeat"]["count"] >= 20
    for action in ("BootNotification", "StatusNotification", "Heartbeat"):
        counted = samples(families, "fleet_ocpp_requests", action=action)
        assert sum(counted.values()) == actions[action]["count"], action
        answered = 0.0
        for version in ("1.6", "2.0.1"):
            answered += histogram_of(
                families, "fleet_ocpp_request_duration_seconds", action=action, version=version
            )["count"]
        assert answered == actions[action]["count"] - actions[action]["failures"], action
    connects = samples(families, "fleet_connects", attempt="connect")
    assert connects == {"fleet_connects_total{}": actions["connect"]["count"]}
    assert histogram_of(families, "fleet_loop_lag_seconds")["count"] > 100
    # Locust's own table counts the same exchanges.
    heartbeats = sum(row["num_requests"] for row in table if row["name"] == "Heartbeat")
    assert heartbeats == actions["Heartbeat"]["count"]


def test_fleet_run_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "1") as url:
        process = subprocess.Popen(
            [*FLEET, "run", "scenarios/default.yaml", "--csms", url, "--stations", "4",
             "--duration", "5", "--summary-json", str(summary),
             "--prometheus-port", str(port), "--prometheus-host", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        families: dict[str, Metric] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                families = scrape(f"http://127.0.0.1:{port}/metrics")
                if sum(samples(families, "fleet_stations", state="accepted").values()) == 4:
                    break
            time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(f"http://127.0.0.1:{port}/other")
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()[-2000:]
    assert sum(samples(families, "fleet_stations", state="accepted").values()) == 4
    boots = histogram_of(
        families, "fleet_ocpp_request_duration_seconds", action="BootNotification", version="1.6"
    )
    assert boots["count"] == 4
    assert json.loads(summary.read_text())["actions"]["BootNotification"]["count"] == 4


def test_a_taken_metrics_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fleet_run(
            "scenarios/default.yaml", "--csms", "ws://127.0.0.1:9/ocpp", "--stations", "1",
            "--duration", "1", "--prometheus-port", str(port), "--prometheus-host", "127.0.0.1",
        )  # fmt: skip
        assert result.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr
        located = locust(
            "--scenario", "scenarios/default.yaml", "--headless", "-u", "1", "-t", "1s",
            "--host", "ws://127.0.0.1:9/ocpp",
            "--prometheus-port", str(port), "--prometheus-host", "127.0.0.1",
        )  # fmt: skip
        assert located.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in located.stderr


def test_the_grafana_dashboard_queries_only_metrics_fleet_exposes() -> None:
    dashboard = json.loads(Path("deploy/grafana/fleet-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    stats = FleetStats()
    stats.exchange("OCPP1.6", "Heartbeat", 2.0, "no answer within 30 s")
    stats.exchange("connect", "connect", 2.0, "CSMS refused the websocket: HTTP 401")
    stats.timing("loop lag", 1.0)
    stats.timing("boot→accepted", 10.0)
    stats.missed_beats("CP-1", "Heartbeat", "busy", 1)
    stats.session("1.6", SessionDelta(1, 1, 0, 10.0))
    stats.violation(Violation(ANSWER, "Heartbeat", "currentTime", "format", "date-time", "[]"))
    table = {"1.6": {"accepted": 1, "charging": 1}}
    text = exposition(lambda: (stats, table)).decode()
    exposed = {sample.name for f in text_string_to_metric_families(text) for sample in f.samples}
    queried = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\bfleet_[a-z_]+", target["expr"]))
            assert names, target["expr"]
            queried |= names
            labels = set(re.findall(r"by \(([^)]*)\)", target["expr"]))
            for group in labels:
                for label in (part.strip() for part in group.split(",")):
                    assert label in text, (label, target["expr"])
    assert queried <= exposed, queried - exposed
    # Every family fleet exposes is on the dashboard.
    families = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in exposed}
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in queried}
    assert families - shown <= {"fleet_timing_failures", "fleet_connect_duration_seconds"}


# --- the charts' data ----------------------------------------------------------------------------


def test_the_fleet_tab_plots_fleets_own_figures_over_time(tmp_path: Path) -> None:
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    # Energy reaches the charts with each reading: every 2 s, not charging.yaml's 10 s, so the
    # first is well inside the 14 s run even when the machine is slow (a CI run once had none).
    data = yaml.safe_load(Path("scenarios/charging.yaml").read_text())
    data["sessions"]["meter_interval_s"] = 2
    scenario = tmp_path / "charging.yaml"
    scenario.write_text(yaml.safe_dump(data))
    with csms_process("--interval", "1", "--slow-on", f"Heartbeat={SLOW_MS}") as url:
        process = subprocess.Popen(
            [*LOCUST, "--scenario", str(scenario), "--host", url, "--autostart",
             "-u", "10", "-r", "10", "-t", "14s", "--web-host", "127.0.0.1",
             "--web-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            stopped = fleet_state_when(web, lambda s: s["stopped"], timeout_s=40)
            assert stopped is not None
            history = json.loads(get(f"{web}/fleet/history"))
            panel = get(f"{web}/fleet/panel").decode()
            report = get(f"{web}/stats/report").decode()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    points = history["points"]
    assert history["window_s"] == 10 and len(points) >= 4  # one every 2 s while it ran
    assert max(p["states"]["accepted"] for p in points) == 10
    energy = [p["sessions"]["energy_kwh"] for p in points]
    started = [p["sessions"]["started"] for p in points]
    assert energy == sorted(energy) and energy[-1] > 0
    assert started == sorted(started) and started[-1] > 0
    beats = [
        figures["p95"]
        for p in points
        for label, figures in p["latency_ms"].items()
        if label.startswith("Heartbeat") and figures
    ]
    # fleet's own figures: never below the CSMS's delay (Locust's rounding reads 140); the window
    # p95 rises above it when the machine is loaded (147 seen in a full-suite run, 165 on a VM
    # running 2-3 times slower, 178 in a fresh-clone CI run), so the upper bound only catches a
    # figure of another kind (seconds read as ms, a sum of samples).
    assert beats and all(SLOW_MS <= ms < 2 * SLOW_MS for ms in beats), beats
    assert all(p["loop_lag_ms"] is None or p["loop_lag_ms"]["p99"] >= 0 for p in points)
    titles = ("Stations per state", "Energy delivered", "Round trip p95 per action",
              "Round trip p99 per action", "event-loop lag")  # fmt: skip
    for page in (panel, report):
        for title in titles:
            assert f"aria-label='{title}" in page.replace("fleet&#x27;s ", ""), title
        assert page.count("<polyline") >= 6
