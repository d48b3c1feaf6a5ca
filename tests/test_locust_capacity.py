"""The capacity search under Locust (`--capacity STEP`): the shape grows the stations step by
step and judges each step's window on the --slo gates, every worker's statistics merged. The
gate is one the load decides (Heartbeats a second at one per station a second: 30 stations send
30, over the 25 allowed), so the step that breaks is known, as in ``test_capacity_cli``."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.parse
from pathlib import Path

import yaml

from tests.test_cli import csms_process
from tests.test_locust import LOCUST, fleet_state_when, free_port, get, locust

CAPACITY = ("--capacity", "10", "--capacity-hold", "2", "--capacity-settle", "0.5")


def fifty_stations(tmp_path: Path) -> str:
    data = yaml.safe_load(Path("scenarios/mixed-fleet.yaml").read_text())
    data["stations"]["count"] = 50  # the most the search may run
    data["boot"] = {**data["boot"], "ramp_per_s": 100, "jitter_s": 0}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def capacity_search(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """A headless search of steps of 10 up to 50 against a CSMS asking a Heartbeat a second:
    the gate breaks at 30."""
    with csms_process("--interval", "1") as url:
        return locust(
            "--scenario", fifty_stations(tmp_path), "--host", url, "--headless", *CAPACITY,
            "--slo", "rps(Heartbeat) < 25", *extra,
        )  # fmt: skip


def test_a_locust_capacity_search_stops_at_the_step_that_breaks(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = capacity_search(tmp_path, "--summary-json", str(summary))
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


def test_the_fleet_tab_shows_the_steps_live_and_a_new_start_is_a_new_search(
    tmp_path: Path,
) -> None:
    """The web UI: the step under way with its window so far, the judged steps, the verdict
    once the search ends (the tab, the HTML report); starting again searches from the start."""
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    with csms_process("--interval", "1") as url:
        process = subprocess.Popen(
            [*LOCUST, "--scenario", fifty_stations(tmp_path), "--host", url, "--autostart",
             "--web-host", "127.0.0.1", "--web-port", str(port), "--capacity", "10",
             "--capacity-hold", "4", "--capacity-settle", "0.5",
             "--slo", "rps(Heartbeat) < 25"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            state = fleet_state_when(web, lambda s: _measuring(s, 20))
            assert state is not None and _measuring(state, 20), state and state["capacity"]
            search = state["capacity"]
            assert [step["stations"] for step in search["steps"]] == [10]
            so_far = search["running"]["so_far"]
            assert so_far["stations"] == 20 and 0 < so_far["window_s"] <= 4.5
            assert state["slo"] == []  # a search's gates are its steps', not the whole run's
            panel = get(f"{web}/fleet/panel").decode()
            assert "<h3>Capacity search</h3>" in panel and "measuring (" in panel
            assert "SLO gates, live" not in panel

            state = fleet_state_when(web, lambda s: s["stopped"], timeout_s=40)
            assert state is not None and state["stopped"], state and state["capacity"]
            search = state["capacity"]
            assert search["running"] is None and (search["held"], search["broke_at"]) == (20, 30)
            for page in (get(f"{web}/fleet/panel"), get(f"{web}/stats/report")):
                text = page.decode()
                assert "capacity: held 20 stations; broke at 30" in text
                assert text.count("<span class='ok'>held</span>") == 2
                assert "<span class='bad'>BROKE</span>" in text
                assert "<span class='bad'>rps(Heartbeat) &lt; 25: " in text  # the gate it broke

            form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1}).encode()
            assert json.loads(get(f"{web}/swarm", data=form))["success"] is True
            state = fleet_state_when(web, lambda s: _measuring(s, 10))
            assert state is not None and state["capacity"]["steps"] == []  # a new search
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _measuring(state: dict, stations: int) -> bool:
    running = (state.get("capacity") or {}).get("running") or {}
    return running.get("stations") == stations and running.get("so_far") is not None
