"""What fleet exports about a run beyond Locust's tables: its own exact percentiles (3
significant digits), read by the summary, the SLO gates and the CSV, in real runs against a
CSMS that answers Heartbeat after a set delay."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import csms_process, fleet_run
from tests.test_locust import csv_rows, headless

SLOW_MS = 142  # Locust reads it as 140 (2 significant digits); fleet as 142.x


def test_locust_run_summary_and_gates_read_fleets_exact_percentiles(tmp_path: Path) -> None:
    prefix, summary = tmp_path / "run", tmp_path / "summary.json"
    with csms_process("--interval", "1", "--slow-on", f"Heartbeat={SLOW_MS}") as url:
        result = headless(
            url, "--csv", str(prefix), "--summary-json", str(summary),
            "--slo", f"p50(Heartbeat) >= {SLOW_MS}ms", "--slo", "p50(Heartbeat) < 145ms",
            users=5, run_time="5s",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    heartbeat = json.loads(summary.read_text())["actions"]["Heartbeat"]
    assert SLOW_MS <= heartbeat["p50_ms"] < SLOW_MS + 3
    assert heartbeat["count"] >= 10 and heartbeat["rps"] > 1
    # Locust's own table rounds the same exchanges to 2 significant digits.
    locust_row = csv_rows(prefix)["OCPP1.6", "Heartbeat"]
    assert locust_row["50%"] == "140"
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
