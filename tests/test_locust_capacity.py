"""The capacity search under Locust (`--capacity STEP`): the shape grows the stations step by
step and judges each step's window on the --slo gates, every worker's statistics merged. The
gate is one the load decides (Heartbeats a second at one per station a second: 30 stations send
30, over the 25 allowed), so the step that breaks is known, as in ``test_capacity_cli``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.test_cli import csms_process
from tests.test_locust import locust

CAPACITY = ("--capacity", "10", "--capacity-hold", "2", "--capacity-settle", "0.5")


def fifty_stations(tmp_path: Path) -> str:
    data = yaml.safe_load(Path("scenarios/mixed-fleet.yaml").read_text())
    data["stations"]["count"] = 50  # the most the search may run
    data["boot"] = {**data["boot"], "ramp_per_s": 100, "jitter_s": 0}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_locust_capacity_search_stops_at_the_step_that_breaks(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "1") as url:
        result = locust(
            "--scenario", fifty_stations(tmp_path), "--host", url, "--headless", *CAPACITY,
            "--slo", "rps(Heartbeat) < 25", "--summary-json", str(summary),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [line for line in result.stdout.splitlines() if line.startswith("capacity step:")]
    assert [line.split(":")[2].split()[0] for line in steps] == ["held", "held", "BROKE"]
    assert "capacity: held 20 stations; broke at 30" in result.stdout
    data = json.loads(summary.read_text())
    assert (data["capacity"]["held"], data["capacity"]["broke_at"]) == (20, 30)
    assert data["slo"] == []  # the gates were judged per step, not over the whole search


def test_capacity_without_a_gate_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = locust("--scenario", fifty_stations(tmp_path), "--headless", *CAPACITY)
    assert result.returncode == 2
    assert "--capacity needs at least one --slo gate" in result.stderr
    assert "Traceback" not in result.stderr
