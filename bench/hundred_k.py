"""`make bench-100k`: a national fleet on this machine. 100,000 stations under Locust, heartbeat
300 s, charging sessions at a public AC site's rate (scenarios/public-ac-day.yaml) against the
minimal responder, for 10 minutes. Reported: stations accepted, failures, loop-lag p99 in
each Locust worker process, total RSS, the ramp, and what Locust itself cost (master CPU,
worker report size).

This machine allows 20,000 open files per process (hard limit), so the stations go to
``--processes`` Locust workers of at most ~16,700 each, and the responder runs as several
processes sharing one port (SO_REUSEPORT). Every station connects to that one address and
port: past ~28,000 connections from 127.0.0.1 the stations go on from 127.0.0.2, .3, ...
(fleet/station/sources.py), which this run exercises for real.

    python bench/hundred_k.py [--stations 100000] [--processes 6] [--responders 7]
                              [--minutes 10] [--spawn-rate 500]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH, ROOT

LOCUSTFILE = ROOT / "fleet" / "locustfile.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario_file(folder: Path, url: str) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "public-ac-day.yaml").read_text())
    data["name"] = "hundred-k"
    data["csms"] = {"url": url, "call_timeout_s": 60}
    data.setdefault("stations", {})["id_pattern"] = "HK-{index:06d}"
    data["heartbeat"] = {"interval_s": 300}
    data["boot"] = {"ramp_per_s": 1000, "jitter_s": 5}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def accepted(metrics: str) -> tuple[float, float]:
    """(stations accepted, stations in all) from a scrape of the master's /metrics."""
    with urllib.request.urlopen(metrics, timeout=10) as response:
        text = response.read().decode()
    total = ok = 0.0
    for line in text.splitlines():
        if line.startswith("fleet_stations{"):
            value = float(line.rsplit(" ", 1)[1])
            total += value
            if 'state="accepted"' in line:
                ok += value
    return ok, total


def run(stations: int, processes: int, responders: int, minutes: float, rate: int) -> dict:
    port, metrics_port = free_port(), free_port()
    url = f"ws://127.0.0.1:{port}/ocpp"
    answering = [
        subprocess.Popen(
            [sys.executable, str(BENCH / "responder.py"), "--port", str(port), "--reuse-port"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(responders)
    ]
    for process in answering:
        assert process.stdout is not None and "listening" in process.stdout.readline()
    folder = Path(tempfile.mkdtemp(prefix="fleet-100k-"))
    summary = folder / "summary.json"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--scenario", str(scenario_file(folder, url)), "--headless",
        "-u", str(stations), "-r", str(rate), "-t", f"{minutes * 60:.0f}s",
        "--processes", str(processes), "--summary-json", str(summary),
        "--prometheus-port", str(metrics_port), "--prometheus-host", "127.0.0.1",
        "--only-summary", "--stop-timeout", "30",
    ]  # fmt: skip
    started = time.monotonic()
    locust = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples: list[dict[str, Any]] = []
    all_accepted_s = None
    peak_rss = 0
    try:
        while locust.poll() is None:
            time.sleep(10)
            pids = tree(locust.pid)
            rss = rss_kb(pids)
            answering_rss = rss_kb([p.pid for p in answering])
            peak_rss = max(peak_rss, rss + answering_rss)
            try:
                ok, total = accepted(f"http://127.0.0.1:{metrics_port}/metrics")
            except OSError:
                ok = total = 0
            elapsed = time.monotonic() - started
            if all_accepted_s is None and ok >= stations:
                all_accepted_s = elapsed
            each = sorted(rss_kb([pid]) // 1024 for pid in pids)  # master and workers
            samples.append(
                {"t": round(elapsed), "accepted": ok, "stations": total, "rss_mb": rss // 1024,
                 "rss_per_process_mb": each,
                 "responders_rss_mb": answering_rss // 1024,
                 "master_cpu_s": round(cpu_s(locust.pid), 1)}
            )  # fmt: skip
            print(json.dumps(samples[-1]), flush=True)
        output = locust.stdout.read() if locust.stdout else ""
    finally:
        if locust.poll() is None:
            locust.terminate()
            locust.wait(timeout=120)
        for process in answering:
            process.terminate()
            process.wait(timeout=30)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return {
        "stations": stations,
        "processes": processes,
        "exit_code": locust.returncode,
        "all_accepted_after_s": all_accepted_s,
        "peak_rss_mb": peak_rss // 1024,
        "samples": samples,
        "summary": data,
        "tail": output[-3000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--responders", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--spawn-rate", type=int, default=500)
    args = parser.parse_args()
    result = run(args.stations, args.processes, args.responders, args.minutes, args.spawn_rate)
    summary = result["summary"]
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples", "summary")}))
    print(json.dumps({k: summary.get(k) for k in ("stations", "loop_lag", "sessions", "failures")}))
    actions = summary.get("actions", {})
    print(json.dumps({name: actions.get(name) for name in ("Heartbeat", "MeterValues")}))


if __name__ == "__main__":
    main()
