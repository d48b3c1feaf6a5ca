"""Benchmarks 4 and 5: one Locust process (`fleet locust --headless`) carrying stations.

4. Throughput ceiling: stations heartbeat at shorter and shorter fixed intervals against the
   minimal responder; the highest Heartbeat round-trip rate one Locust process sustains while
   its event-loop lag p99 stays under 20 ms.
5. Scale run: 10,000 stations, heartbeat every 10 s, 2 minutes, against the embedded CSMS in
   another process: loop-lag p99, failures, RSS.

Users ramp at 200-250/s (a boot storm has its own benchmark) and Locust's stats are reset 5 s
after all are spawned (bench/steady_locustfile.py), so lag and latency figures are the steady
state, not the ramp and the first heartbeat wave; the scale run reports the ramp's lag apart.
"loop lag" is fleet's own Locust row (the worst lag of each second), so its p99 is a
conservative figure.

    python bench/locust_runs.py throughput|scale [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH, ROOT, embedded_csms, responder
from bench.memory import rss_kb

LAG_LIMIT_MS = 20.0


def run_locust(
    url: str, users: int, rate: float, seconds: int, scenario: dict[str, Any]
) -> dict[str, Any]:
    """A headless `fleet locust` run; its JSON summary plus the process's peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario_file = Path(tmp) / "scenario.yaml"
        scenario_file.write_text(yaml.safe_dump(scenario))
        summary_file = Path(tmp) / "summary.json"
        steady_file = Path(tmp) / "steady.json"
        env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
        env["FLEET_BENCH_STEADY_JSON"] = str(steady_file)
        process = subprocess.Popen(
            [sys.executable, "-m", "fleet", "locust", "-f", str(BENCH / "steady_locustfile.py"),
             "--scenario", str(scenario_file),
             "--host", url, "--headless", "-u", str(users), "-r", str(rate),
             "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
             "--summary-json", str(summary_file)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        peak = 0
        while process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                peak = max(peak, rss_kb(process.pid))
            time.sleep(1)
        summary: dict[str, Any] = json.loads(summary_file.read_text())
        # Latency, lag and rate figures from the steady state (snapshot taken as stopping began).
        # Failures stay counted over the whole run.
        for name, steady in json.loads(steady_file.read_text()).items():
            summary["actions"].setdefault(name, {"failures": 0}).update(steady)
    summary["rss_mb"] = peak / 1024
    summary["exit_code"] = process.returncode
    return summary


def _lag(summary: dict[str, Any]) -> float:
    row = summary["actions"].get("loop lag") or {}
    return float(row.get("p99_ms") or 0.0)


def throughput(quick: bool) -> tuple[str, dict[str, Any]]:
    users = 1000
    intervals = [0.1] if quick else [1.0, 0.2, 0.1, 0.067, 0.05, 0.04]
    seconds = 15 if quick else 30
    lines = [
        "| heartbeat interval | offered RTT/s | achieved RTT/s | Heartbeat p99 | loop lag p99 "
        "| failures |",
        "|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    best = 0.0
    with responder() as url:
        for interval in intervals:
            scenario = {
                "stations": {"count": users},
                "heartbeat": {"interval_s": interval, "min_s": 0.01, "fallback_s": 1},
            }
            result = run_locust(url, users, 200, seconds, scenario)
            beat = result["actions"].get("Heartbeat", {})
            failures = sum(a["failures"] for a in result["actions"].values())
            rate = float(beat.get("rps") or 0.0)
            lag = _lag(result)
            if lag < LAG_LIMIT_MS and failures == 0:
                best = max(best, rate)
            lines.append(
                f"| {interval:g} s | {users / interval:,.0f} | {rate:,.0f} | "
                f"{beat.get('p99_ms') or 0:.0f} ms | {lag:.0f} ms | {failures} |"
            )
    lines.append(
        f"\nCeiling with loop lag p99 < {LAG_LIMIT_MS:g} ms: **{best:,.0f} round trips/s**"
    )
    return "\n".join(lines), {"ceiling_rps": best}


def scale(quick: bool) -> tuple[str, dict[str, Any]]:
    users, seconds = (2000, 20) if quick else (10_000, 120)
    scenario = {"stations": {"count": users, "ocpp": {"1.6": 70, "2.0.1": 30}}}
    with embedded_csms(interval_s=10) as url:
        result = run_locust(url, users, 250, seconds, scenario)
    actions = result["actions"]
    failures = sum(a["failures"] for a in actions.values())
    beat = actions.get("Heartbeat", {})
    ramp = actions.get("loop lag (ramp)", {})
    lines = [
        "| stations | accepted | Heartbeat RTT/s | Heartbeat p99 | loop lag p99 | failures "
        "| peak RSS | ramp: loop lag p99 / max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {result['stations']['accepted']:,} | {beat.get('rps') or 0:,.0f} | "
        f"{beat.get('p99_ms') or 0:.0f} ms | {_lag(result):.0f} ms | {failures} | "
        f"{result['rss_mb']:,.0f} MB | {ramp.get('p99_ms') or 0:.0f} / "
        f"{ramp.get('max_ms') or 0:.0f} ms |",
    ]  # fmt: skip
    return "\n".join(lines), {"lag_p99_ms": _lag(result), "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=("throughput", "scale"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    text, _ = (throughput if args.which == "throughput" else scale)(args.quick)
    print(text)


if __name__ == "__main__":
    main()
