"""Benchmarks 4-6: one Locust process (`fleet locust --headless`) carrying stations.

4. Throughput ladder: 1,000 stations heartbeat at fixed, shorter and shorter intervals against
   the minimal responder, three times; the ceiling is the highest rung below which every rung
   held in 2 of 3 runs. Also CPU per round trip inside the Locust process, everything included.
5. Scale run: 10,000 stations, heartbeat every 10 s, 2 minutes, against the embedded CSMS in
   another process: loop-lag p99, failures, missed beats, RSS.
6. Ramp: 10,000 stations spawned at 500/s: loop lag and Heartbeat p99 over the whole run (the
   ramp included) beside the steady state after it.
7. Charging: 10,000 stations with every connector in a session (two each), meter values every
   60 s, heartbeat every 300 s, against the minimal responder: loop lag, failures, RSS.

Phases: latency, lag, rate and CPU figures are the steady state (bench/steady_locustfile.py
resets both Locust's and fleet's statistics 5 s after the last user is spawned and reads them as
the test starts stopping) unless a column says "whole run"; failures and missed beats always
cover the whole run, ramp and stop included. Loop lag is fleet's own figure (a sample every
10 ms), not a Locust request.

    python bench/locust_runs.py throughput|scale|ramp|charging [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
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
    """A headless `fleet locust` run: its JSON summary (the steady state's figures; failures and
    missed beats over the whole run) plus the process's peak RSS."""
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
        steady: dict[str, Any] = json.loads(steady_file.read_text())
    # From the reset to the exit (the stop included), plus what the ramp counted.
    failures = sum(a["failures"] for a in summary["actions"].values())
    failures += sum(row["failures"] for row in summary["fleet"].values())
    missed = sum(row["total"] for row in summary["missed"].values())
    return {
        **steady,
        "failures": failures + steady["ramp"]["failures"],
        "missed": missed + steady["ramp"]["missed"],
        "stations": summary["stations"],
        "sessions": summary.get("sessions"),
        "rss_mb": peak / 1024,
        "exit_code": process.returncode,
    }


RUNGS = (5_000, 10_000, 15_000, 20_000, 25_000, 30_000)  # offered Heartbeat RTT/s
LADDER_STATIONS = 1000


def held(result: dict[str, Any], offered: float) -> bool:
    """A rung holds when the loop kept time (steady lag p99 under LAG_LIMIT_MS), the stations
    kept up (at least 97 % of the offered rate) and nothing failed over the whole run."""
    rate = float(result["actions"].get("Heartbeat", {}).get("rps") or 0.0)
    lag = result["lag_p99_ms"]
    return (
        lag is not None and lag < LAG_LIMIT_MS and rate >= 0.97 * offered and not result["failures"]
    )


def ceiling(runs: list[dict[float, bool]]) -> float:
    """The highest rung below which every rung (itself included) held in at least 2 of 3 runs
    (with one run: held in it). One good rung above a failed one does not count."""
    need = min(2, len(runs))
    best = 0.0
    for rung in sorted(runs[0]):
        if sum(run.get(rung, False) for run in runs) < need:
            break
        best = rung
    return best


def throughput(quick: bool) -> tuple[str, dict[str, Any]]:
    """1,000 stations heartbeating at fixed, shorter and shorter intervals against the minimal
    responder: per rung the achieved rate, Heartbeat p99, loop-lag p99 and CPU per round trip
    (steady state), failures and missed beats (whole run); three runs (one quick)."""
    rungs = (10_000, 25_000) if quick else RUNGS
    repeats, seconds = (1, 15) if quick else (3, 30)
    lines = [
        "| run | offered RTT/s | achieved RTT/s | Heartbeat p99 | loop lag p99 | CPU µs / RTT "
        "| CPU share | failures | missed beats | held |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    runs: list[dict[float, bool]] = []
    cpu: dict[float, list[float]] = {}
    for run in range(1, repeats + 1):
        verdicts: dict[float, bool] = {}
        with responder() as url:
            for offered in rungs:
                scenario = {
                    "stations": {"count": LADDER_STATIONS},
                    "heartbeat": {
                        "interval_s": LADDER_STATIONS / offered, "min_s": 0.01, "fallback_s": 1
                    },
                }  # fmt: skip
                result = run_locust(url, LADDER_STATIONS, 500, seconds, scenario)
                beat = result["actions"].get("Heartbeat", {})
                verdicts[offered] = ok = held(result, offered)
                if result["cpu_us_per_call"] is not None:
                    cpu.setdefault(offered, []).append(result["cpu_us_per_call"])
                lines.append(
                    f"| {run} | {offered:,} | {beat.get('rps') or 0:,.0f} | "
                    f"{beat.get('p99_ms') or 0:.0f} ms | {result['lag_p99_ms'] or 0:.0f} ms | "
                    f"{result['cpu_us_per_call'] or 0:.1f} | {100 * result['cpu_share']:.0f} % | "
                    f"{result['failures']} | {result['missed']:,} | {'yes' if ok else 'no'} |"
                )
        runs.append(verdicts)
    best = ceiling(runs)
    lines.append(
        f"\nCeiling (loop-lag p99 < {LAG_LIMIT_MS:g} ms, ≥ 97 % of the offered rate, no failure; "
        f"every rung up to it held in {min(2, repeats)} of {repeats} runs): "
        f"**{best:,.0f} round trips/s**"
    )
    low = min(cpu)
    lines.append(
        f"\nCPU per Heartbeat round trip inside one Locust process, everything included "
        f"(station, bridge, Locust's statistics), at {low:,.0f}/s: "
        f"**{statistics.median(cpu[low]):.1f} µs** (median of {len(cpu[low])} runs)."
    )
    return "\n".join(lines), {"ceiling_rps": best, "cpu_us": statistics.median(cpu[low])}


def scale(quick: bool) -> tuple[str, dict[str, Any]]:
    """10,000 stations (70 % 1.6), ramped at 250/s, heartbeat every 10 s, against the embedded
    CSMS in its own process for 2 minutes."""
    users, seconds = (2000, 20) if quick else (10_000, 120)
    scenario = {"stations": {"count": users, "ocpp": {"1.6": 70, "2.0.1": 30}}}
    with embedded_csms(interval_s=10) as url:
        result = run_locust(url, users, 250, seconds, scenario)
    beat = result["actions"].get("Heartbeat", {})
    lines = [
        "| stations | accepted | Heartbeat RTT/s | Heartbeat p99 | loop lag p99 | failures "
        "| missed beats | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {result['stations']['accepted']:,} | {beat.get('rps') or 0:,.0f} | "
        f"{beat.get('p99_ms') or 0:.0f} ms | {result['lag_p99_ms'] or 0:.0f} ms | "
        f"{result['failures']} | {result['missed']:,} | {result['rss_mb']:,.0f} MB |",
    ]  # fmt: skip
    return "\n".join(lines), result


def ramp(quick: bool) -> tuple[str, dict[str, Any]]:
    """10,000 stations spawned at 500/s against the minimal responder, heartbeat every 10 s:
    what the ramp costs, whole run (ramp included) against the steady state after it."""
    users, seconds = (3000, 30) if quick else (10_000, 150)
    scenario = {"stations": {"count": users}, "heartbeat": {"interval_s": 10}}
    with responder() as url:
        result = run_locust(url, users, 500, seconds, scenario)
    whole, ramp_part = result["whole"], result["ramp"]
    steady_p99, whole_p99 = result["heartbeat_p99_ms"] or 0, whole["heartbeat_p99_ms"] or 0
    lines = [
        "| stations | ramp (+5 s) | loop lag p99 / max, ramp | loop lag p99 / max, whole run "
        "| Heartbeat p99, whole run | Heartbeat p99, steady state | ratio | failures "
        "| missed beats |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {ramp_part['seconds']:.0f} s at 500/s | "
        f"{ramp_part['lag_p99_ms'] or 0:.0f} / {ramp_part['lag_max_ms'] or 0:.0f} ms | "
        f"{whole['lag_p99_ms'] or 0:.0f} / {whole['lag_max_ms'] or 0:.0f} ms | "
        f"{whole_p99:.0f} ms | {steady_p99:.0f} ms | "
        f"{whole_p99 / steady_p99 if steady_p99 else 0:.1f} × | {result['failures']} | "
        f"{result['missed']:,} |",
    ]  # fmt: skip
    return "\n".join(lines), result


def charging(quick: bool) -> tuple[str, dict[str, Any]]:
    """10,000 stations (70 % 1.6) ramped at 250/s, both connectors of each in a session within
    seconds of boot (sessions ten hours long), MeterValues / TransactionEvent every 60 s,
    heartbeat every 300 s, against the minimal responder."""
    # Quick: 100 s, so that the first readings (60 s into each session) fall in the run; in
    # 60 s none did and the quick table read 0 meter values/s.
    users, seconds = (2000, 100) if quick else (10_000, 150)
    scenario = {
        "stations": {"count": users, "ocpp": {"1.6": 70, "2.0.1": 30}, "connectors": 2},
        "heartbeat": {"interval_s": 300},
        "sessions": {
            "arrivals_per_hour": 3600,
            "plug_in_min": {"min": 600, "max": 600},
            "meter_interval_s": 60,
        },
    }
    with responder() as url:
        result = run_locust(url, users, 250, seconds, scenario)
    whole = result["whole"]
    sessions = (result["sessions"] or {}).get("total", {})
    meter = [
        row for name, row in result["actions"].items()
        if name in ("MeterValues", "TransactionEvent(Updated)")
    ]  # fmt: skip
    rate = sum(row.get("rps") or 0 for row in meter)
    p99 = max((row.get("p99_ms") or 0 for row in meter), default=0)
    lines = [
        "| stations | charging at the end | meter values/s (steady) "
        "| their p99 | loop lag p99, steady / whole run | failures | missed | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {sessions.get('charging', 0):,} | {rate:,.0f} | {p99:.0f} ms | "
        f"{result['lag_p99_ms'] or 0:.0f} / {whole['lag_p99_ms'] or 0:.0f} ms | "
        f"{result['failures']} | {result['missed']:,} | {result['rss_mb']:,.0f} MB |",
    ]  # fmt: skip
    return "\n".join(lines), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=("throughput", "scale", "ramp", "charging"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = {"throughput": throughput, "scale": scale, "ramp": ramp, "charging": charging}
    text, _ = runs[args.which](args.quick)
    print(text)


if __name__ == "__main__":
    main()
