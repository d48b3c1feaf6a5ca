"""``fleet compare`` on the summaries of two real runs, as a CSMS team gates a release: the
same fleet against a CSMS that answers at once, then against one whose Heartbeat answers take
40 ms longer. Only the Heartbeat row is a regression, and the exit code says so."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.test_cli import FLEET, csms_process, fast_scenario, fleet_run


def fleet_compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLEET, "compare", *args], capture_output=True, text=True, timeout=60)


def run_against(tmp_path: Path, out: Path, *csms_args: str) -> dict:
    scenario = fast_scenario(tmp_path)
    with csms_process("--interval", "1", *csms_args) as url:
        result = fleet_run(
            str(scenario), "--csms", url, "--stations", "100", "--duration", "4",
            "--summary-json", str(out),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_compare_names_the_row_a_slower_csms_made_slower_and_exits_1(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    run_against(tmp_path, before)
    slow = run_against(tmp_path, after, "--slow-on", "Heartbeat=40")
    assert slow["actions"]["Heartbeat"]["count"] >= 200  # 10 beyond its p95

    written = tmp_path / "comparison.json"
    # A 20 ms floor: boot-time rows move by several ms between runs on a busy machine
    # (StatusNotification p95 1.2 -> 2.4 ms once, 1.9 -> 12.1 ms another); the slowdown is 40 ms.
    rules = ("--min-count", "50", "--floor-ms", "20")
    verdict = fleet_compare(str(before), str(after), *rules, "--json", str(written))
    assert verdict.returncode == 1, verdict.stdout + verdict.stderr
    rows = {line.split()[0]: line for line in verdict.stdout.splitlines() if line[:1].isupper()}
    assert "REGRESSION: " in rows["Heartbeat"]
    assert "REGRESSION" not in rows["BootNotification"]
    findings = [f.strip() for f in verdict.stdout.split("\nREGRESSION: ")[1].splitlines()[1:]]
    assert findings and all(f.startswith("Heartbeat p9") for f in findings), findings
    data = json.loads(written.read_text())
    assert data["regression"] is True and data["regressions"] == findings

    same = fleet_compare(str(before), str(before), *rules)
    assert same.returncode == 0 and same.stdout.splitlines()[-1].startswith("no regression")
    better = fleet_compare(str(after), str(before), *rules)
    assert better.returncode == 0 and "p95 faster" in better.stdout


def test_a_file_that_is_not_a_summary_is_one_line_and_exit_2(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    result = fleet_compare(str(other), str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "not a run's summary" in result.stderr
    missing = fleet_compare(str(tmp_path / "missing.json"), str(other))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    table = tmp_path / "run_stats.csv"
    table.write_text("a,b\n1,2\n")
    not_locust = fleet_compare(str(table), str(table))
    assert not_locust.returncode == 2 and "not a Locust stats CSV" in not_locust.stderr
    bad_gate = fleet_compare(str(other), str(other), "--gate", "p90")
    assert bad_gate.returncode == 2 and "--gate: p90" in bad_gate.stderr
