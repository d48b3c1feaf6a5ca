"""The README's two commands are the product's front door: they must work as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def test_readme_opens_with_the_two_commands() -> None:
    text = Path("README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()[1:]] == [
        "make demo",
        "make test",
    ]


def test_ci_runs_make_test() -> None:
    assert "make test" in Path(".ci/run").read_text()


def test_make_demo_runs_a_fleet_against_the_embedded_csms() -> None:
    env = dict(os.environ, DEMO_DURATION="12", DEMO_STATIONS="20")
    env.pop("FLEET_CSMS_URL", None)
    result = subprocess.run(["make", "demo"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stations: 20 total, 20 accepted" in result.stdout
    assert "failures: 0" in result.stdout
    assert "the CSMS saw 20 stations" in result.stdout
    heartbeat_row = next(
        line for line in result.stdout.splitlines() if line.startswith("Heartbeat")
    )
    assert int(heartbeat_row.split()[1]) >= 20  # interval 10 s: every station beat at least once
