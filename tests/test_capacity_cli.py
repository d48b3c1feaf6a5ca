"""``fleet run --capacity`` against ``fleet csms``, each in its own process: the fleet grows step
by step, each step judged on its own window, and stops at the first that breaks a gate. The gate
here is one the load itself decides (Heartbeats a second, at one per station a second), so the
step that breaks is known: 30 stations send 30 a second, over the 25 allowed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import csms_process, fast_scenario, fleet_run

SEARCH = ("--capacity", "10", "--hold", "2", "--settle", "0.5")


def test_a_capacity_search_names_the_last_step_that_held(tmp_path: Path) -> None:
    scenario, out = fast_scenario(tmp_path), tmp_path / "summary.json"
    with csms_process("--interval", "1") as url:
        result = fleet_run(
            str(scenario), "--csms", url, "--stations", "50", *SEARCH,
            "--slo", "rps(Heartbeat) < 25", "--slo", "p95(Heartbeat) < 500ms",
            "--summary-json", str(out),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("capacity step:")]
    assert [line.split(":")[2].split()[0] for line in steps] == ["held", "held", "BROKE"]
    assert steps[0].startswith("capacity step: 10 stations, ")  # about 10 msg/s
    assert 9 <= float(steps[0].split(", ")[1].split()[0]) <= 11
    assert result.stdout.splitlines()[-1].startswith(
        "capacity: held 20 stations; broke at 30: rps(Heartbeat) < 25: "
    )
    capacity = json.loads(out.read_text())["capacity"]
    assert (capacity["held"], capacity["broke_at"]) == (20, 30)
    assert [s["stations"] for s in capacity["steps"]] == [10, 20, 30]
    assert json.loads(out.read_text())["stations"]["total"] == 30  # the 20 never started


def test_a_search_whose_first_step_breaks_exits_1_and_one_that_never_breaks_0(
    tmp_path: Path,
) -> None:
    scenario = fast_scenario(tmp_path)
    with csms_process("--interval", "1") as url:
        quick = ("--stations", "20", "--capacity", "10", "--hold", "2", "--settle", "0.5")
        broke = fleet_run(str(scenario), "--csms", url, *quick, "--slo", "rps < 5")
        never = fleet_run(str(scenario), "--csms", url, *quick, "--slo", "fail_ratio < 1%")
    assert broke.returncode == 1 and "capacity: held no step; broke at 10" in broke.stdout
    assert never.returncode == 0, never.stderr
    assert "held 20 stations, every step up to the maximum" in never.stdout


def test_a_capacity_search_without_a_gate_is_refused_before_anything_connects() -> None:
    result = fleet_run("scenarios/default.yaml", "--capacity", "10")
    assert result.returncode == 2 and "--capacity needs at least one --slo gate" in result.stderr
    assert "Traceback" not in result.stderr
