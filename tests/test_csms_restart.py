"""The proof of no loss, as a user runs it: ``fleet run`` with sessions against ``fleet csms
--ledger-file``, the CSMS killed (SIGKILL) mid-run and started again on the same port and file;
the run's summary compares what the stations delivered with what the CSMS's ledger holds."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import yaml

from tests.test_cli import FLEET

SCENARIO = {
    "stations": {"count": 10, "ocpp": {"1.6": 1, "2.0.1": 1}},
    "boot": {"ramp_per_s": 100},
    "reconnect": {"min_s": 0.2, "max_s": 0.5},
    "sessions": {
        "arrivals_per_hour": 3600,
        "plug_in_min": {"min": 0.03, "max": 0.05},
        "meter_interval_s": 1,
    },
    "run": {"progress_s": 1, "duration_s": 12},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _csms(port: int, ledger: Path | None) -> subprocess.Popen[str]:
    extra = ["--ledger-file", str(ledger)] if ledger else []
    command = [*FLEET, "csms", "--port", str(port), "--interval", "60", *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None and "listening on" in process.stdout.readline()
    return process


def _run_with_a_csms_killed(tmp_path: Path, ledger: Path | None) -> dict:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    summary = tmp_path / "summary.json"
    port = _free_port()
    csms = _csms(port, ledger)
    url = f"ws://127.0.0.1:{port}/ocpp"
    run = subprocess.Popen(
        [*FLEET, "run", str(scenario), "--csms", url, "--summary-json", str(summary)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(4)  # sessions running
        csms.kill()  # no clean close: what it received and had not answered is in flight
        csms.wait(timeout=5)
        time.sleep(2)  # stations offline, charging, queueing
        csms = _csms(port, ledger)
        stdout, _ = run.communicate(timeout=60)
    finally:
        run.kill()
        csms.terminate()
        csms.wait(timeout=10)
    data = json.loads(summary.read_text())
    data["stdout"] = stdout
    return data


def test_a_csms_killed_and_restarted_on_its_ledger_file_lost_nothing(tmp_path: Path) -> None:
    data = _run_with_a_csms_killed(tmp_path, tmp_path / "ledger.jsonl")
    ledger, delivery = data["ledger"], data["delivery"]
    queued = sum(row["queued offline"] for row in delivery.values())
    replayed = sum(row["replayed"] for row in delivery.values())
    assert queued >= 10 and replayed == queued, delivery
    assert all(row["given up"] == row["dropped"] == 0 for row in delivery.values())
    assert ledger["delivered"] >= 100
    assert (ledger["missing"], ledger["seq_gaps"], ledger["out_of_order"], ledger["unknown"]) == (
        0,
        0,
        0,
        0,
    ), ledger
    assert "CSMS ledger: nothing lost" in data["stdout"]
    assert data["stations"]["accepted"] == 10


def test_without_its_ledger_file_the_restarted_csms_shows_the_loss(tmp_path: Path) -> None:
    data = _run_with_a_csms_killed(tmp_path, None)
    ledger = data["ledger"]
    assert ledger["missing"] > 0 and ledger["unknown"] > 0, ledger
    assert "CSMS ledger: LOSS OR DISORDER" in data["stdout"]
