"""Locust runs as a user runs them: `locust -f fleet/locustfile.py ...` in a subprocess, against
`fleet csms` in another process, everything on 127.0.0.1 and bounded in time."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.test_cli import csms_process, ledger

LOCUSTFILE = str(Path("fleet/locustfile.py").resolve())
# -X faulthandler: should a Locust process ever crash, its stderr says where.
LOCUST = [sys.executable, "-X", "faulthandler", "-m", "locust", "-f", LOCUSTFILE]


def locust(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
    return subprocess.run(
        [*LOCUST, *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


def headless(
    url: str,
    *extra: str,
    users: int = 5,
    run_time: str = "3s",
    scenario: str = "scenarios/default.yaml",
    timeout_s: float = 90,
) -> subprocess.CompletedProcess[str]:
    """`locust --headless` against ``url``: ``users`` stations booted at once, for ``run_time``."""
    common = ["--scenario", scenario, "--host", url, "--headless", "-u", str(users)]
    return locust(*common, "-r", str(users), "-t", run_time, *extra, timeout_s=timeout_s)


def failure_rows(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_failures.csv", newline="") as f:
        return list(csv.DictReader(f))


def csv_rows(prefix: Path, which: str = "stats") -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{prefix}_{which}.csv", newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def by_name(rows: dict[tuple[str, str], dict[str, str]], column: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (kind, name), row in rows.items():
        if kind:  # skip the Aggregated row
            totals[name] = totals.get(name, 0) + int(row[column])
    return totals


def received(seen: dict, action: str) -> int:
    return sum(record["received"].get(action, 0) for record in seen.values())


def test_headless_run_reports_every_exchange_and_matches_the_csms(tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "2") as url:
        result = headless(
            url, "--csv", str(prefix), "--html", str(tmp_path / "report.html"),
            "--summary-json", str(summary), "--fleet-trace", "MIX-00007",
            users=50, run_time="7s", scenario="scenarios/mixed-fleet.yaml",
        )  # fmt: skip
        seen = ledger(url)
    assert result.returncode == 0, result.stderr[-3000:]
    traced = [line for line in result.stderr.splitlines() if "fleet.trace" in line]
    assert traced and all("MIX-00007 " in line for line in traced)
    boot = re.compile(r'MIX-00007 > \[2,"[0-9a-f-]{36}","BootNotification",\{')
    assert any(boot.search(line) for line in traced)
    rows = csv_rows(prefix)
    counts, failures = by_name(rows, "Request Count"), by_name(rows, "Failure Count")
    # Locust's requests are the wire exchanges only: OCPP CALLs per action and connects.
    assert set(rows) == {
        ("WS", "connect"),
        *((kind, action) for kind in ("OCPP1.6", "OCPP2.0.1")
          for action in ("BootNotification", "StatusNotification", "Heartbeat")),
        ("", "Aggregated"),
    }  # fmt: skip
    assert int(rows["", "Aggregated"]["Request Count"]) == sum(counts.values())
    assert sum(failures.values()) == 0
    # What Locust counted is what the CSMS received: nothing lost, nothing counted twice.
    assert len(seen) == 50
    assert counts["connect"] == 50
    for action in ("BootNotification", "StatusNotification", "Heartbeat"):
        assert counts[action] == received(seen, action), action
    assert counts["Heartbeat"] >= 100
    # fleet's own statistics, in their own CSV beside Locust's.
    fleet = csv_rows(prefix, "fleet")
    assert fleet["fleet", "boot→accepted"]["Count"] == "50"
    assert int(fleet["fleet", "Heartbeat drift"]["Count"]) >= counts["Heartbeat"]
    assert int(fleet["fleet", "loop lag"]["Count"]) > 100
    assert fleet["tainted", "Heartbeat"]["Count"] == str(counts["Heartbeat"])
    data = json.loads(summary.read_text())
    assert data["stations"] == {
        "total": 50,
        "accepted": 50,
        "pending": 0,
        "rejected": 0,
        "offline": 0,
    }
    assert data["actions"]["BootNotification"]["count"] == 50
    # A stall of a busy machine may overlap a few samples: marked, and named at the end when
    # 1 % or more of a row's (exactly those rows).
    actions = data["actions"]
    assert actions["Heartbeat"]["tainted"] * 10 <= actions["Heartbeat"]["count"]
    distrusted = {line.split(" p99 ")[0] for line in data["untrusted"]}
    assert distrusted == {n for n, r in actions.items() if r["tainted"] * 100 >= r["count"]}
    assert set(data["fleet"]) == {"boot→accepted", "Heartbeat drift", "loop lag"}
    assert data["fleet"]["boot→accepted"]["count"] == 50
    assert data["missed"] == {} and data["conformance"]["violations"] == 0
    assert data["failures"] == [] and data["slo"] == []
    report = (tmp_path / "report.html").read_text()
    assert "id='fleet-section'" in report and "boot→accepted" in report
    # Locust's task ratio names what a station user does, not an internal function.
    assert "station (boots, heartbeats, answers the CSMS)" in report


def test_rejected_boots_and_call_errors_are_failures_with_reasons(tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    with csms_process("--boot-status", "Rejected", "--interval", "30") as url:
        rejected = headless(url, "--csv", str(prefix))
    assert rejected.returncode == 1
    reasons = {(r["Name"], r["Error"]): int(r["Occurrences"]) for r in failure_rows(prefix)}
    assert reasons == {("BootNotification", "boot Rejected by the CSMS"): 5}

    summary = tmp_path / "summary.json"
    with csms_process("--interval", "1", "--error-on", "Heartbeat") as url:
        erroring = headless(
            url, "--csv", str(prefix), "--slo", "fail_ratio < 0.5", "--summary-json", str(summary),
            run_time="7s",
        )  # fmt: skip
    errors = [row["Error"] for row in failure_rows(prefix)]
    assert errors == ["CallError InternalError: Heartbeat refused by fleet csms --error-on"]
    # Beside Locust's periodic table, fleet's own line (run.progress_s, 5 s here).
    progress = [line for line in erroring.stdout.splitlines() if line.startswith("fleet: ")]
    assert progress, erroring.stdout[-3000:]
    assert progress[-1].startswith("fleet: stations 5 | accepted 5 pending 0 rejected 0 "), progress
    # Every Heartbeat failed: most OCPP CALLs did. A gate without an action covers OCPP CALLs
    # only; it must not be diluted by connects or fleet's own rows into passing.
    assert erroring.returncode == 1
    gate = json.loads(summary.read_text())["slo"][0]
    assert gate["ok"] is False and gate["value"] > 0.5
    rows = csv_rows(prefix)
    calls = [r for (kind, _), r in rows.items() if kind.startswith("OCPP")]
    failed = sum(int(r["Failure Count"]) for r in calls)
    assert gate["value"] == pytest.approx(failed / sum(int(r["Request Count"]) for r in calls))


def test_slo_gates_set_the_exit_code_and_name_the_failed_gate(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    # 5 s: the first Heartbeat leaves 1 s after a boot, which a busy machine slows.
    with csms_process("--interval", "1") as url:
        result = headless(
            url, "--summary-json", str(summary), "--slo", "p95(Heartbeat) < 0.001ms",
            "--slo", "accepted >= 99%", "--slo", "fail_ratio < 1%", run_time="5s",
        )  # fmt: skip
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "SLO FAILED: p95(Heartbeat) < 0.001ms (measured " in output
    assert "SLO passed: accepted >= 99% (measured 100.00%)" in output
    assert "SLO passed: fail_ratio < 1% (measured 0.00%)" in output
    gates = json.loads(summary.read_text())["slo"]
    assert [g["ok"] for g in gates] == [False, True, True]
    assert gates[0]["value"] > 0


def test_a_run_lasts_its_run_time() -> None:
    """gevent's cached clock, stale after fleet's start-up, made Locust's --run-time timer end
    a 7 s run after 5.7 s (2.4 s on a busy machine)."""
    with csms_process("--interval", "1") as url:
        result = headless(url, run_time="4s")
    stamps = {
        event: datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
        for line in result.stderr.splitlines()
        for event in ("Run time limit set", "--run-time limit reached")
        if event in line
    }
    lasted = (stamps["--run-time limit reached"] - stamps["Run time limit set"]).total_seconds()
    assert 3.95 <= lasted <= 5, lasted


def test_a_malformed_slo_stops_before_anything_runs() -> None:
    with csms_process() as url:
        started = time.monotonic()
        result = headless(url, "--slo", "p95(Heartbeat) << fast", run_time="30s")
        seen = ledger(url)
    assert result.returncode == 2
    assert (
        "fleet: error: --slo 'p95(Heartbeat) << fast': expected METRIC[(Action)] OP VALUE"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert seen == {} and time.monotonic() - started < 30


def test_an_invalid_scenario_stops_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stations:\n  count: -5\n")
    result = locust("--scenario", str(bad), "--headless", "-u", "1", "-t", "5s")
    assert result.returncode == 2
    assert (
        f"fleet: error: {bad}: stations.count: must be a positive integer, got -5" in result.stderr
    )
    # A summary file the end of the run could not write is refused now, not after the run.
    unwritable = tmp_path / "bad.yaml" / "summary.json"  # under a file
    result = locust(
        "--scenario", "scenarios/default.yaml", "--headless", "-u", "1", "-t", "5s",
        "--summary-json", str(unwritable),
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"fleet: error: --summary-json {unwritable}: cannot make its folder" in result.stderr


def test_csms_calls_and_a_campaign_during_a_run_are_answered_and_reported(
    tmp_path: Path,
) -> None:
    prefix, summary, report = tmp_path / "run", tmp_path / "summary.json", tmp_path / "report.html"
    scenario = yaml.safe_load(Path("scenarios/default.yaml").read_text())
    scenario["responses"]["ClearCache"] = {"status": {"Accepted": 1, "Rejected": 1}}
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario))
    with csms_process("--interval", "300") as url:
        process = subprocess.Popen(
            [
                *LOCUST,
                "--scenario",
                str(scenario_file),
                "--summary-json",
                str(summary),
                "--html",
                str(report),
                "--host",
                url,
                "--headless",
                "-u",
                "4",
                "-r",
                "10",
                "-t",
                "6s",
                "--csv",
                str(prefix),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "stderr").open("w"),
        )
        base = url.replace("ws://", "http://").rsplit("/", 1)[0]
        answer = campaign = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and answer is None:
            seen = ledger(url)
            if sum(s.get("boot_status") == "Accepted" for s in seen.values()) == 4:
                query = "payload=" + urllib.request.quote(
                    json.dumps({"key": ["HeartbeatInterval"]})
                )
                with urllib.request.urlopen(f"{base}/call/CP-00001/GetConfiguration?{query}") as r:
                    answer = json.loads(r.read())
                with urllib.request.urlopen(f"{base}/campaign/ClearCache") as r:
                    campaign = json.loads(r.read())
            time.sleep(0.2)
        assert process.wait(timeout=30) == 0, (tmp_path / "stderr").read_text()[-3000:]
    assert answer == {
        "ok": True,
        "response": {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        },
    }
    # The station's handling of the call is fleet's own figure, not a Locust request.
    assert not any(kind == "CSMS→CP" for kind, _ in csv_rows(prefix))
    row = csv_rows(prefix, "fleet")[("fleet", "CSMS→CP GetConfiguration")]
    assert row["Count"] == "1" and row["Failures"] == "0"
    # The campaign, as the CSMS saw it and as the stations answered it: the same statuses.
    assert campaign is not None and campaign["sent"] == 4 and not campaign["errors"]
    answers = json.loads(summary.read_text())["answers"]
    assert answers["ClearCache"]["outcomes"] == campaign["statuses"]
    assert answers["GetConfiguration"]["outcomes"] == {"(answered)": 1}
    assert csv_rows(prefix, "fleet")[("answers", "ClearCache")]["Count"] == "4"
    page = report.read_text()
    assert "Commands from the CSMS" in page and "ClearCache" in page
    assert "Transaction messages: delivered, queued, retried or lost" in page


def test_distributed_processes_give_unique_ids_and_summed_totals(tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "2") as url:
        result = headless(
            url, "--processes", "2", "--csv", str(prefix), "--summary-json", str(summary),
            users=20, run_time="6s", timeout_s=120,
        )  # fmt: skip
        seen = ledger(url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(seen) == 20  # 20 distinct station ids reached the CSMS
    assert any(station.startswith("CP-1000") for station in seen)  # worker 1's ids
    counts = by_name(csv_rows(prefix), "Request Count")
    for action in ("BootNotification", "StatusNotification", "Heartbeat"):
        assert counts[action] == received(seen, action), action
    data = json.loads(summary.read_text())
    assert data["stations"]["accepted"] == 20
    # Loop lag per worker process, beside the merged figure: each process must keep up.
    processes = data["loop_lag"]["processes"]
    assert len(processes) == 2 and all(lag["p99_ms"] is not None for lag in processes.values())
    assert data["loop_lag"]["max_ms"] == max(lag["max_ms"] for lag in processes.values())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def web_ui_run(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A Locust web UI that started 10 stations itself, with two gates and a summary file."""
    port = free_port()
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "300") as url:
        process = subprocess.Popen(
            [*LOCUST, "--scenario", "scenarios/mixed-fleet.yaml", "--host", url, "--autostart",
             "-u", "10", "-r", "10", "--web-host", "127.0.0.1", "--web-port", str(port),
             "--slo", "accepted >= 99%", "--slo", "missed_beats == 0",
             "--summary-json", str(summary)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}", url, summary
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def get(url: str, data: bytes | None = None) -> bytes:
    with urllib.request.urlopen(url, data=data, timeout=10) as r:
        return r.read()


def fleet_state_when(web: str, done: Callable[[dict], bool], timeout_s: float = 30) -> dict | None:
    state = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{web}/fleet/state", timeout=2) as r:
                state = json.loads(r.read())
        except OSError:
            state = None
        if state and done(state):
            break
        time.sleep(0.3)
    return state


def test_web_ui_fleet_tab_shows_live_station_states(web_ui_run: tuple[str, str, Path]) -> None:
    web, csms_url, _ = web_ui_run
    state = fleet_state_when(web, lambda s: s["stations"]["accepted"] == 10)
    assert state is not None and state["stations"]["accepted"] == 10
    assert state["versions"]["1.6"]["accepted"] == 7 and state["versions"]["2.0.1"]["accepted"] == 3
    with urllib.request.urlopen(f"{web}/stats/requests", timeout=5) as r:
        stats = json.loads(r.read())
    fleet = next(s for s in stats["extended_stats"] if s["key"] == "fleet")
    accepted = next(row for row in fleet["data"] if row["state"] == "accepted")
    assert accepted == {"state": "accepted", "ocpp1.6": 7, "ocpp2.0.1": 3, "total": 10}
    with urllib.request.urlopen(web, timeout=5) as r:
        page = r.read().decode()
    # The tab and fleet's options (custom parameters) are in the page's template arguments.
    assert '"extended_tabs": [{"key": "fleet", "title": "Fleet"}]' in page
    assert '"scenario"' in page and '"summary_json"' in page

    # Lowering the user count stops stations: their websockets close, the tab follows.
    form = urllib.parse.urlencode({"user_count": 4, "spawn_rate": 10}).encode()
    with urllib.request.urlopen(f"{web}/swarm", data=form, timeout=5) as r:
        assert json.loads(r.read())["success"]
    state = fleet_state_when(web, lambda s: s["stations"]["total"] == 4)
    assert state is not None and state["stations"] == {
        "total": 4,
        "accepted": 4,
        "pending": 0,
        "rejected": 0,
        "offline": 0,
    }
    seen = ledger(csms_url)
    assert sorted(record["connected"] for record in seen.values()) == [False] * 6 + [True] * 4


def test_fleet_locust_help_lists_fleet_options() -> None:
    # Plain `locust --help` prints before any locustfile is imported (locustio/locust#2917).
    result = subprocess.run(
        [sys.executable, "-m", "fleet", "locust", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for option in ("--scenario FILE", "--slo EXPR", "--summary-json FILE", "--fleet-id-stride N"):
        assert option in result.stdout


def test_own_locustfile_with_tasks_sends_calls_reported_once(tmp_path: Path) -> None:
    locustfile = tmp_path / "my_fleet.py"
    locustfile.write_text(
        "from locust import constant, task\n"
        "from fleet.users import ChargePointUser\n\n"
        "class Authorizing(ChargePointUser):\n"
        f"    scenario = {str(Path('scenarios/mixed-fleet.yaml').resolve())!r}\n"
        "    wait_time = constant(0.5)\n\n"
        "    @task\n"
        "    def authorize(self):\n"
        "        if self.station.state.value == 'accepted':\n"
        "            payload = ({'idTag': 'TAG-1'} if self.station.version == '1.6'\n"
        "                       else {'idToken': {'idToken': 'TAG-1', 'type': 'Central'}})\n"
        "            self.call('Authorize', payload)\n"
    )
    prefix = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
    with csms_process("--interval", "300") as url:
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", url, "--headless",
             "-u", "4", "-r", "4", "-t", "4s", "--csv", str(prefix)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        seen = ledger(url)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = by_name(csv_rows(prefix), "Request Count")
    assert counts["Authorize"] == received(seen, "Authorize") >= 8


SPLIT_LOCUSTFILE = """
import json

from locust import constant, events, task

from fleet.users import ChargePointUser


class Plain(ChargePointUser):
    scenario = {scenario!r}


class Busy(ChargePointUser):
    scenario = {scenario!r}
    wait_time = constant(0.2)

    @task
    def nothing(self):
        pass


@events.init.add_listener
def keep(environment, **kwargs):
    global ENVIRONMENT
    ENVIRONMENT = environment


@events.spawning_complete.add_listener
def record(user_count, **kwargs):
    greenlets = ENVIRONMENT.runner.user_greenlets
    seen = [[type(g.args[0]).__name__, g.started] for g in greenlets]
    with open({out!r}, "w") as f:
        json.dump(seen, f)
"""


@pytest.mark.parametrize("stop_timeout", [[], ["--stop-timeout", "5"]])
def test_station_only_users_hold_no_running_greenlet_and_stop_cleanly(
    tmp_path: Path, stop_timeout: list[str]
) -> None:
    # A station-only user's greenlet would only sleep, ~8 KB of saved C stack per station.
    locustfile = tmp_path / "split_locustfile.py"
    out = tmp_path / "greenlets.json"
    scenario = str(Path("scenarios/default.yaml").resolve())
    locustfile.write_text(SPLIT_LOCUSTFILE.format(scenario=scenario, out=str(out)))
    prefix = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
    with csms_process("--interval", "1") as url:
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", url, "--headless",
             "-u", "6", "-r", "6", "-t", "6s", "--csv", str(prefix), *stop_timeout],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        seen = ledger(url)
    assert result.returncode == 0, result.stderr[-2000:]
    greenlets = json.loads(out.read_text())
    assert sorted(greenlets) == [["Busy", True]] * 3 + [["Plain", False]] * 3
    # Every station booted, heartbeated and was stopped with its last exchanges reported.
    assert len(seen) == 6
    counts = by_name(csv_rows(prefix), "Request Count")
    assert counts["BootNotification"] == received(seen, "BootNotification") == 6
    assert counts["Heartbeat"] == received(seen, "Heartbeat") >= 12


@pytest.mark.parametrize(
    ("on_violation", "gates", "exit_code"),
    [
        ("report", [], 0),  # violations alone do not fail a run
        ("report", ["violations == 0", "p99(loop_lag) < 1000ms", "p99(loop_lag) < 0.001ms"], 1),
        ("fail", [], 1),
    ],
)
def test_a_csms_sending_naive_timestamps_is_reported_and_exits_per_on_violation(
    tmp_path: Path, on_violation: str, gates: list[str], exit_code: int
) -> None:
    scenario = tmp_path / "scenario.yaml"
    data = yaml.safe_load(Path("scenarios/default.yaml").read_text())
    data["csms"]["on_violation"] = on_violation
    scenario.write_text(yaml.safe_dump(data))
    summary, prefix = tmp_path / "summary.json", tmp_path / "run"
    slo = [arg for gate in gates for arg in ("--slo", gate)]
    with csms_process("--interval", "1", "--naive-time") as url:
        result = headless(
            url, "--summary-json", str(summary), "--csv", str(prefix), *slo,
            scenario=str(scenario), run_time="4s",
        )  # fmt: skip
    assert result.returncode == exit_code, result.stderr[-3000:]
    data = json.loads(summary.read_text())
    rows = {(r["direction"], r["action"], r["field"]): r for r in data["conformance"]["rows"]}
    boot = rows["answer", "BootNotification", "currentTime"]
    assert (boot["rule"], boot["wanted"]) == ("format", "date-time")
    assert boot["count"] >= 5 and '"currentTime":"20' in boot["example"]
    violations = csv_rows(prefix, "fleet")
    assert int(violations["violation", "answer BootNotification.currentTime"]["Count"]) >= 5
    if on_violation == "report":
        assert data["stations"]["accepted"] == 5 and data["failures"] == []
        assert ("answer", "Heartbeat", "currentTime") in rows
        assert "CSMS conformance: " in result.stdout and "violations" in result.stdout
    else:
        assert data["stations"]["accepted"] == 0
        reasons = {f["reason"] for f in data["failures"]}
        assert reasons == {"invalid BootNotification response: data.currentTime must be date-time"}
    results = {gate["slo"]: gate for gate in data["slo"]}
    if gates:
        assert results["violations == 0"]["ok"] is False
        assert results["violations == 0"]["value"] == data["conformance"]["violations"]
        assert results["p99(loop_lag) < 1000ms"]["ok"] is True
        assert results["p99(loop_lag) < 0.001ms"]["ok"] is False
        assert "SLO FAILED: violations == 0 (measured " in result.stderr


def test_web_ui_tells_the_same_truth_live_and_after_stop(
    web_ui_run: tuple[str, str, Path],
) -> None:
    web, csms_url, summary = web_ui_run
    state = fleet_state_when(  # a chart needs two points: one every 2 s
        web, lambda s: s["stations"]["accepted"] == 10 and len(s["history"]) >= 2
    )
    assert state is not None and state["stopped"] is False
    assert state["history"][-1]["states"]["accepted"] > 0  # the charts' points
    assert state["fleet"]["boot→accepted"]["count"] == 10
    assert [g["ok"] for g in state["slo"]] == [True, True] and state["slo_final"] is None
    assert state["conformance"]["violations"] == 0 and "Heartbeat" not in state["missed"]
    # The tab's panel: the same figures, rendered by the server; the page loads it.
    panel = get(f"{web}/fleet/panel").decode()
    assert "fleet's own statistics" in panel and "SLO gates, live" in panel and "<svg" in panel
    assert 'fetch("fleet/panel")' in get(web).decode()

    get(f"{web}/stop", data=b"")
    state = fleet_state_when(web, lambda s: s["stopped"], timeout_s=20)
    assert state is not None
    # After Stop: the counts at the stop (stations were accepted), not zeros.
    assert state["stations"]["accepted"] == 10 and state["versions"]["1.6"]["accepted"] == 7
    with urllib.request.urlopen(f"{web}/stats/requests", timeout=5) as r:
        stats = json.loads(r.read())
    rows = next(s for s in stats["extended_stats"] if s["key"] == "fleet")["data"]
    assert next(row for row in rows if row["state"] == "accepted")["total"] == 10
    # No fleet figure is a request; loop lag stops counting once the test stops.
    assert {row["method"] for row in stats["stats"]} == {"OCPP1.6", "OCPP2.0.1", "WS", ""}
    assert [g["ok"] for g in state["slo_final"]] == [True, True]
    lag = state["fleet"]["loop lag"]["count"]
    time.sleep(1.5)
    assert json.loads(get(f"{web}/fleet/state"))["fleet"]["loop lag"]["count"] == lag
    # The summary JSON is written at every stop, not only at exit.
    written = json.loads(summary.read_text())
    assert written["stations"]["accepted"] == 10 and len(written["slo"]) == 2
    report = get(f"{web}/stats/report").decode()
    assert "id='fleet-section'" in report and "SLO gates when the test stopped" in report

    # A scenario that cannot be read is refused with its one-line error; nothing starts.
    form = urllib.parse.urlencode(
        {"user_count": 5, "spawn_rate": 5, "scenario": "scenarios/nope.yaml"}
    ).encode()
    answer = json.loads(get(f"{web}/swarm", data=form))
    assert answer == {
        "success": False,
        "message": "scenarios/nope.yaml: cannot read: No such file or directory",
        "host": csms_url,
    }
    time.sleep(1)
    assert json.loads(get(f"{web}/stats/requests"))["state"] == "stopped"
    assert len(ledger(csms_url)) == 10  # no station of a new run connected

    # A new run from the same UI starts again at the scenario's first id: the CSMS sees the
    # same ten stations connect a second time, not MIX-00011 and on.
    form = urllib.parse.urlencode({"user_count": 10, "spawn_rate": 10}).encode()
    assert json.loads(get(f"{web}/swarm", data=form))["success"] is True
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = ledger(csms_url)
        if sum(record["connections"] for record in seen.values()) >= 20:
            break
        time.sleep(0.3)
    assert sorted(seen) == [f"MIX-{n:05d}" for n in range(1, 11)]
    assert all(record["connections"] == 2 for record in seen.values())


def test_a_charging_fleet_under_locust_has_session_rows_and_counts(tmp_path: Path) -> None:
    """scenarios/charging.yaml at test speed: per-action rows for the session messages of both
    versions, session counts in the progress line, the summary JSON and the fleet CSV, and the
    CSMS's transaction ledger agreeing with them."""
    data = yaml.safe_load(Path("scenarios/charging.yaml").read_text())
    data["stations"]["ocpp"] = {"1.6": 1, "2.0.1": 1}
    data["sessions"] |= {"arrivals_per_hour": 3600, "meter_interval_s": 1}
    data["sessions"]["plug_in_min"] = {"min": 0.04, "max": 0.06}
    data["run"] = {"progress_s": 2}
    scenario = tmp_path / "charging.yaml"
    scenario.write_text(yaml.safe_dump(data))
    prefix, summary = tmp_path / "run", tmp_path / "summary.json"
    with csms_process("--interval", "60") as url:
        result = headless(
            url, "--csv", str(prefix), "--summary-json", str(summary),
            "--slo", "p95(TransactionEvent) < 1000ms",
            users=8, run_time="12s", scenario=str(scenario),
        )  # fmt: skip
        transactions = ledger(url, "transactions")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = csv_rows(prefix)
    for action in ("Authorize", "StartTransaction", "MeterValues", "StopTransaction"):
        assert int(rows["OCPP1.6", action]["Request Count"]) >= 1, action
    for event in ("Started", "Updated", "Ended"):
        assert int(rows["OCPP2.0.1", f"TransactionEvent({event})"]["Request Count"]) >= 1
    assert int(rows["", "Aggregated"]["Failure Count"]) == 0
    assert re.search(r"\| sessions 1\.6: \d+ charging, [1-9]\d* started", result.stdout)
    sessions = json.loads(summary.read_text())["sessions"]
    for version in ("1.6", "2.0.1"):
        assert sessions[version]["completed"] >= 1 and sessions[version]["energy_kwh"] > 0
    total = sessions["total"]
    assert total["started"] == sessions["1.6"]["started"] + sessions["2.0.1"]["started"]
    # Every session fleet started reached the CSMS's ledger; one per station may have been cut
    # short by the stop (stations close without ending their sessions).
    assert total["started"] - 8 <= transactions["count"] <= total["started"]
    assert total["completed"] - 8 <= transactions["ended"] <= total["completed"]
    assert transactions["unknown"] == {} and transactions["seq_gaps"] == 0
    fleet = csv_rows(prefix, "fleet")
    assert fleet["sessions", "total"]["Count"] == str(total["started"])


SHAPE_LOCUSTFILE = """
from locust import LoadTestShape

from fleet.users import ChargePointUser


class Station(ChargePointUser):
    scenario = {scenario!r}


class DownAndUp(LoadTestShape):
    # Two stations, then one, then two again: the second comes back as itself.
    def tick(self):
        run_time = self.get_run_time()
        if run_time < 5:
            return (2, 10)
        if run_time < 8:
            return (1, 10)
        if run_time < 13:
            return (2, 10)
        return None
"""


def test_lowering_and_raising_users_brings_the_same_stations_back(tmp_path: Path) -> None:
    scenario = yaml.safe_load(Path("scenarios/default.yaml").read_text())
    scenario["stations"] = {"count": 2, "ocpp": "1.6"}
    scenario["sessions"] = {
        "arrivals_per_hour": 3600, "plug_in_min": {"min": 30, "max": 30}, "meter_interval_s": 1,
        "battery_kwh": {"min": 500, "max": 500},
    }  # fmt: skip
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario))
    locustfile = tmp_path / "shape_locustfile.py"
    locustfile.write_text(SHAPE_LOCUSTFILE.format(scenario=str(scenario_file)))
    with csms_process("--interval", "300") as url:
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", url, "--headless"],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        seen = ledger(url)
        transactions = ledger(url, "transactions")["items"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(seen) == ["CP-00001", "CP-00002"]  # no CP-00003: the same station came back
    assert sorted(record["connections"] for record in seen.values()) == [1, 2]
    back = next(s for s, record in seen.items() if record["connections"] == 2)
    mine = [tx for tx in transactions if tx["station"] == back]
    # Its session went on across the gap: one transaction, not a new one from a new meter.
    assert len(mine) == 1 and mine[0]["meter_values"] >= 5, mine


STORM_LOCUSTFILE = """
import fleet.shapes as shapes
from fleet.locustfile import Station  # noqa: F401


class QuickRestart(shapes.CsmsRestart):
    storm = shapes.CsmsRestart.storm.model_copy(update={"at_s": 2.0})
    settle_s = 2.0
"""


def test_a_storm_shape_runs_its_storm_and_ends_the_test(tmp_path: Path) -> None:
    scenario = yaml.safe_load(Path("scenarios/default.yaml").read_text())
    scenario["stations"] = {"count": 6, "ocpp": {"1.6": 1, "2.0.1": 1}}
    scenario["boot"] = {"ramp_per_s": 100}
    scenario["reconnect"] = {"min_s": 0.1, "max_s": 0.3}
    scenario["sessions"] = {
        "arrivals_per_hour": 3600, "plug_in_min": {"min": 0.03, "max": 0.05}, "meter_interval_s": 1,
    }  # fmt: skip
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario))
    locustfile = tmp_path / "storm_locustfile.py"
    locustfile.write_text(STORM_LOCUSTFILE)
    summary = tmp_path / "summary.json"
    with csms_process("--interval", "300") as url:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", url, "--headless",
             "--scenario", str(scenario_file), "--summary-json", str(summary)],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        took_s = time.monotonic() - started
        seen = ledger(url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert took_s < 20  # the shape ended the test after the storm and its settling time
    assert len(seen) == 6 and all(record["connections"] == 2 for record in seen.values()), seen
    fleet = json.loads(summary.read_text())["fleet"]
    assert fleet["lost→accepted"]["count"] == 6
    data = json.loads(summary.read_text())
    assert data["reconnects"]["buckets"]["≤1 s"] == 6
    # The embedded CSMS's ledger holds every transaction message the stations delivered.
    compared = data["ledger"]
    assert compared["delivered"] >= 10 and compared["missing"] == compared["seq_gaps"] == 0
    assert "CSMS ledger: nothing lost" in result.stdout
    assert fleet["connection lost"]["failures"] == 0
