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


def test_make_demo_runs_a_locust_fleet_against_the_embedded_csms() -> None:
    # 16 s: the last of 20 stations spawns ~2 s in (10/s) and beats 10 s after its boot; with
    # 12 s only half of them beat on a VM running 2-3 times slower (the build before too).
    env = dict(os.environ, DEMO_DURATION="16", DEMO_STATIONS="20")
    env.pop("FLEET_CSMS_URL", None)
    result = subprocess.run(["make", "demo"], capture_output=True, text=True, env=env, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SLO passed: accepted >= 99% (measured 100.00%)" in output
    assert "SLO passed: fail_ratio < 0.01 (measured 0.00%)" in output
    assert "the CSMS saw 20 stations" in result.stdout
    # Locust's table: interval 10 s, so every station heartbeat at least once (both versions'
    # rows; the first table has counts and failures, the second percentiles).
    rows = [line.split() for line in output.splitlines() if line.startswith("OCPP")]
    beats = [int(r[2]) for r in rows if r[1] == "Heartbeat" and r[3].endswith("%)")]
    assert len(beats) == 2 and sum(beats) >= 20
    # The demo fleet charges: sessions start and the CSMS bills them.
    assert [line for line in output.splitlines() if line.startswith("OCPP1.6  StartTransaction")]
    assert "transactions: " in result.stdout
    assert "Traceback" not in output


def test_the_readme_accounts_for_every_csms_initiated_action() -> None:
    """The README's table says, per version, which CSMS calls a station handles ("yes"), which
    answer NotImplemented ("no") and which the version does not have (a dash); the stations'
    handlers must say the same, and no action of either version may be missing."""
    import re

    from fleet.catalog import ANSWERED, CSMS_INITIATED
    from fleet.station.v16 import StationV16
    from fleet.station.v201 import StationV201

    text = Path("README.md").read_text()
    start = text.index("| action | 1.6 | 2.0.1 |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break  # the table ends
        rows.append(line)
    routed = {"1.6": set(StationV16.routes), "2.0.1": set(StationV201.routes)}
    seen: dict[str, set[str]] = {"1.6": set(), "2.0.1": set()}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names = {n.strip() for n in re.split(r",|/", re.sub(r"\(.*?\)", "", cells[0]))}
        for version, mark in (("1.6", cells[1]), ("2.0.1", cells[2])):
            mine = names & set(CSMS_INITIATED[version])
            assert mark in ("yes", "no", "–"), row
            if mark == "–":
                assert not mine, (version, row)
                continue
            assert mine, (version, row)
            handled = {getattr(a, "value", a) for a in routed[version]}
            for action in mine:
                assert (action in handled) == (mark == "yes"), (version, action)
            seen[version] |= mine
    for version, actions in CSMS_INITIATED.items():
        assert seen[version] == set(actions), (version, set(actions) - seen[version])
        # What scenarios may configure is what the stations answer: the two lists agree.
        handled = {getattr(a, "value", a) for a in routed[version]}
        assert set(ANSWERED[version]) == handled, version
