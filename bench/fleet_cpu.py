"""Benchmark 15: CPU per message in a whole fleet run, everything included.

Sections 1 and 13 time round trips with the stations in lockstep: one reading or Heartbeat
after another, nothing else running. A fleet run spreads its messages over time: a timer wakes
the loop for each, and the station's decisions, its timers, the ordered delivery of transaction
messages and the session reports all run. Here ``fleet run`` carries N stations (one connector
each) against the minimal responder, each sending one message a second:

    heartbeat  idle 1.6 stations, a Heartbeat every second
    meter      1.6 stations, every connector in a session: MeterValues every second
    heartbeat2 idle 2.0.1 stations, a Heartbeat every second
    event      2.0.1 stations, the same: TransactionEvent(Updated) every second

(MeterValues is taken against the 1.6 Heartbeat, TransactionEvent against the 2.0.1 one, as
section 1 takes (e) against (c) and (e2) against (c2).)

(heartbeat 300 s in the sessions). The CPU of the whole ``fleet run`` process (user and system,
from getrusage of the child) for a short and a long run; the difference over the difference in
messages is the CPU per message, start-up, boot and session starts cancelled out. Median of the
rounds, variants interleaved.

    python bench/fleet_cpu.py [--stations 2000] [--short 8] [--long 28] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, median, responder

VARIANTS = {
    "heartbeat": ("Heartbeat", "idle 1.6 stations: Heartbeat every second"),
    "meter": ("MeterValues", "1.6 stations in a session: MeterValues every second"),
    "heartbeat2": ("Heartbeat", "idle 2.0.1 stations: Heartbeat every second"),
    "event": (
        "TransactionEvent(Updated)",
        "2.0.1 stations in a session: TransactionEvent(Updated) every second",
    ),
}
# A session from the first second to the end of the run, never full: one reading a second.
SESSIONS = {
    "arrivals_per_hour": 3600,
    "start": "plug_first",
    "plug_in_min": {"min": 600, "max": 600},
    "battery_kwh": {"min": 1000, "max": 1000},
    "soc_start": {"min": 0.1, "max": 0.1},
    "soc_target": {"min": 1.0, "max": 1.0},
    "meter_interval_s": 1,
    "seed": 1,
}


def scenario(variant: str, url: str, stations: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"fleet-cpu-{variant}",
        "csms": {"url": url},
        "stations": {"count": stations, "connectors": 1, "ocpp": "1.6"},
        "boot": {"ramp_per_s": 1000, "jitter_s": 0},
        "heartbeat": {"interval_s": 1 if variant.startswith("heartbeat") else 300},
        "run": {"progress_s": 3600},
    }
    if not variant.startswith("heartbeat"):
        data["sessions"] = SESSIONS
    if variant in ("heartbeat2", "event"):
        data["stations"]["ocpp"] = "2.0.1"
    return data


# Runs ``fleet run`` as its only child and prints that child's CPU seconds: getrusage of this
# process's children would count the responder too.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(done.returncode, usage.ru_utime + usage.ru_stime)\n"
)


def _run(variant: str, stations: int, duration_s: int) -> tuple[float, int]:
    """CPU seconds of one ``fleet run``, and how many of the variant's messages it sent."""
    with tempfile.TemporaryDirectory() as folder, responder() as url:
        time.sleep(0.3)
        path = Path(folder) / "scenario.yaml"  # JSON is YAML
        path.write_text(json.dumps(scenario(variant, url, stations)))
        out = Path(folder) / "summary.json"
        command = [sys.executable, "-m", "fleet", "run", str(path)]
        command += ["--duration", str(duration_s), "--summary-json", str(out)]
        done = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *command],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=duration_s + 120,
        )
        code, cpu_s = done.stdout.split()
        if code != "0":
            raise RuntimeError(f"fleet run ({variant}) exited {code}: {done.stderr[-2000:]}")
        summary = json.loads(out.read_text())
    row = summary["actions"][VARIANTS[variant][0]]
    if row["failures"]:
        raise RuntimeError(f"{variant}: {row['failures']} failures")
    return float(cpu_s), int(row["count"])


def measure(stations: int, short_s: int, long_s: int, rounds: int) -> dict[str, float]:
    """Median µs of CPU per message for each variant."""
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            cpu_short, sent_short = _run(variant, stations, short_s)
            cpu_long, sent_long = _run(variant, stations, long_s)
            per = (cpu_long - cpu_short) / (sent_long - sent_short)
            samples[variant].append(per * 1e6)
    return {variant: median(values) for variant, values in samples.items()}


# Each row's Heartbeat: its own version's.
BASELINE = {"heartbeat": "heartbeat", "meter": "heartbeat", "heartbeat2": "heartbeat2"}


def table(results: dict[str, float]) -> str:
    lines = [
        "| fleet | CPU µs per message | × its version's Heartbeat |",
        "|---|---:|---:|",
    ]
    for variant, (_, label) in VARIANTS.items():
        value = results[variant]
        heartbeat = results[BASELINE.get(variant, "heartbeat2")]
        lines.append(f"| {label} | {value:.0f} | {value / heartbeat:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--short", type=int, default=8)
    parser.add_argument("--long", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(table(measure(args.stations, args.short, args.long, args.rounds)))


if __name__ == "__main__":
    main()
