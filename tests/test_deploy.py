"""docker-compose.yml and the Dockerfile. There is no Docker engine here, so the compose file is
parsed and each service's command is run locally, as compose would run it: variables interpolated,
container paths mapped to their mounted sources. A broken command cannot ship."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_cli import ledger

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape_accepted(port: int, timeout_s: float = 40) -> float:
    """Stations accepted, from the master's /metrics, once they all are (or at the deadline)."""
    deadline, accepted = time.monotonic() + timeout_s, 0.0
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            time.sleep(0.3)
            continue
        accepted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("fleet_stations{") and 'state="accepted"' in line
        )
        if accepted == 6:
            break
        time.sleep(0.3)
    return accepted


def service_process(
    name: str, env: dict[str, str], paths: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The service's command and environment as they would be inside its container, mapped to
    this machine: the `fleet` entry point via this interpreter, mounts to their sources,
    0.0.0.0 to loopback."""
    service = COMPOSE["services"][name]

    def local(text: str) -> str:
        text = interpolate(str(text), env)
        for inside, outside in paths.items():
            text = text.replace(inside, outside)
        return "127.0.0.1" if text == "0.0.0.0" else text

    command = [local(part) for part in service["command"]]
    assert command[0] == "fleet"
    process_env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "FLEET_"))}
    for key, value in (service.get("environment") or {}).items():
        if value is None:
            if key in env:  # compose passes a bare name through from the caller's shell
                process_env[key] = local(env[key])
        else:
            process_env[key] = local(value)
    for key in ("LOCUST_MASTER_BIND_PORT", "LOCUST_MASTER_NODE_PORT", "LOCUST_WEB_PORT"):
        if key in env:
            process_env[key] = env[key]
    return [sys.executable, "-m", "fleet", *command[1:]], process_env


def test_compose_defines_master_workers_and_an_optional_csms() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"master", "worker", "csms"}
    assert services["csms"]["profiles"] == ["csms"]  # a staging run leaves it out
    assert "profiles" not in services["master"] and "profiles" not in services["worker"]
    assert "8089:8089" in services["master"]["ports"]
    master = " ".join(services["master"]["command"])
    assert "--master" in master and "${CSMS_URL:-" in master
    assert "--worker" in services["worker"]["command"]
    for service in services.values():
        mounts = [v.split(":") for v in service["volumes"]]
        assert ["./scenarios", "/scenarios", "ro"] in mounts
        assert service["environment"]["FLEET_SCENARIO"].startswith("/scenarios/")
    assert services["worker"]["depends_on"] == ["master"]


def test_dockerfile_installs_the_package_and_ships_the_scenarios() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11" in text
    for source in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (ROOT / source).exists(), source
    assert "pip install ." in text and "COPY scenarios /scenarios" in text
    assert "USER fleet" in text  # not root


def test_each_service_command_runs_locally_as_a_headless_distributed_test(tmp_path: Path) -> None:
    csms_port, bind_port, web_port = free_port(), free_port(), free_port()
    env = {
        "CSMS_PORT": str(csms_port),
        "CSMS_INTERVAL": "2",
        "CSMS_URL": f"ws://127.0.0.1:{csms_port}/ocpp",
        "MASTER_HOST": "127.0.0.1",
        "SCENARIO": "mixed-fleet.yaml",
        "LOCUST_HEADLESS": "true",
        "LOCUST_USERS": "6",
        "LOCUST_SPAWN_RATE": "6",
        "LOCUST_RUN_TIME": "5s",
        "LOCUST_EXPECT_WORKERS": "1",
        "FLEET_SLO": "[accepted >= 99%, fail_ratio < 0.01]",
        "LOCUST_MASTER_BIND_PORT": str(bind_port),
        "LOCUST_MASTER_NODE_PORT": str(bind_port),
        "LOCUST_WEB_PORT": str(web_port),
        "PROMETHEUS_PORT": str(free_port()),
    }
    paths = {"/scenarios": str(ROOT / "scenarios"), "/out": str(tmp_path / "out")}
    processes: list[subprocess.Popen[str]] = []
    try:
        command, process_env = service_process("csms", env, paths)
        csms = subprocess.Popen(command, env=process_env, stdout=subprocess.PIPE, text=True)
        processes.append(csms)
        assert csms.stdout is not None and " listening on " in csms.stdout.readline()

        command, process_env = service_process("master", env, paths)
        assert process_env["FLEET_SCENARIO"] == str(ROOT / "scenarios" / "mixed-fleet.yaml")
        master = subprocess.Popen(
            command, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        processes.append(master)
        command, process_env = service_process("worker", env, paths)
        worker = subprocess.Popen(
            command, env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        processes.append(worker)  # type: ignore[arg-type]

        accepted = scrape_accepted(int(env["PROMETHEUS_PORT"]))
        output, _ = master.communicate(timeout=90)
        assert master.returncode == 0, output[-3000:]
        assert "SLO passed: accepted >= 99% (measured 100.00%)" in output
        seen = ledger(env["CSMS_URL"])
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=20)
    assert len(seen) == 6 and accepted == 6  # the master's /metrics, every worker's merged
    summary: dict[str, Any] = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stations"]["accepted"] == 6
    assert (tmp_path / "out" / "run_stats.csv").exists()
    assert (tmp_path / "out" / "report.html").exists()


def compose_cli() -> list[str] | None:
    """Docker's compose command here, if there is one (the plugin, or docker-compose)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(compose_cli() is None, reason="no docker compose on this machine")
def test_docker_compose_accepts_the_file() -> None:
    # Where compose exists, it validates the file itself (no engine needed).
    cli = compose_cli() or []
    result = subprocess.run(
        [*cli, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CSMS_URL": "ws://csms:9000/ocpp"},
    )
    assert result.returncode == 0, result.stderr
