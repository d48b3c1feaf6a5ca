"""Benchmark 2: memory per idle connected station = (RSS with N stations - RSS with none) / N,
and per station with every connector in a charging session (``--charging``: its chargers,
meters, generators and running transactions), measured the same way in the same run; and
(``--storm``) per station once every station's connection was dropped at once and all came
back: what a worker holds after a reconnect storm.

Headless: stations run on the process's uvloop loop, as `fleet run` runs them. Under Locust:
`fleet locust --headless` with N users, RSS read from outside once all are Accepted, minus the
RSS of the same command with 1 user. Stations are idle (heartbeat every 300 s) against the
minimal responder, everything on 127.0.0.1.

    python bench/memory.py [--counts 1000,5000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, responder, run_child


def rss_kb(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


CHARGING = {  # every connector in a session within seconds, for ten hours
    "arrivals_per_hour": 3600,
    "plug_in_min": {"min": 600, "max": 600},
    "meter_interval_s": 60,
}


def _charging(stations: list[Any]) -> bool:
    return all(
        s.charging is not None and all(c.in_transaction for c in s.charging.chargers)
        for s in stations
    )


@dataclass
class IdleFleet:
    """Stations connected, Accepted and idle, with what is needed to measure and stop them."""

    stations: list[Any]
    tasks: list[asyncio.Task[None]]  # the warm-up station's first
    stop: Any  # fleet.station.session.StopSwitch
    summary: Any  # fleet.metrics.summary.Summary
    before_kb: int  # RSS with the warm-up station alone
    deadline: float  # time.monotonic() by which waiting on them gives up


async def idle_fleet(scenario: Any, url: str, count: int, batch: int, pause_s: float) -> IdleFleet:
    """One warm-up station Accepted (what every process pays once: imports, compiled schemas,
    one connection), RSS read, then ``count`` stations started ``batch`` at a time ``pause_s``
    apart (a ramp, not a storm), until all are Accepted and idle."""
    from fleet.metrics.summary import Summary
    from fleet.station.session import StopSwitch, keep_connected, make_station
    from fleet.station.state import State

    summary = Summary()
    stop = StopSwitch()
    loop = asyncio.get_running_loop()
    warm = make_station(scenario, count + 1, summary)
    tasks = [loop.create_task(keep_connected(warm, url, stop))]
    while warm.state is not State.ACCEPTED:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    gc.collect()
    before = rss_kb()
    stations = [make_station(scenario, i, summary) for i in range(1, count + 1)]
    for n, station in enumerate(stations):
        tasks.append(loop.create_task(keep_connected(station, url, stop)))
        if n % batch == batch - 1:
            await asyncio.sleep(pause_s)
    deadline = time.monotonic() + 120
    while sum(s.state is State.ACCEPTED for s in stations) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"stations not all accepted: {dict(summary.failure_reasons)}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # StatusNotifications answered; all idle now
    return IdleFleet(stations, tasks, stop, summary, before, deadline)


async def _reconnect_storm(fleet: IdleFleet) -> int:
    """Every station's connection dropped at once, as a storm does, and all back, Accepted and
    idle: the process's RSS then (KB)."""
    from fleet.station.state import State

    for station in fleet.stations:
        station.drop(0.3, False)
    await asyncio.sleep(0.5)
    deadline = time.monotonic() + 120
    while sum(s.state is State.ACCEPTED for s in fleet.stations) < len(fleet.stations):
        if time.monotonic() > deadline:
            raise RuntimeError("stations not all back after the storm")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    gc.collect()
    return rss_kb()


async def _headless(url: str, count: int, mode: str = "") -> dict[str, float]:
    from fleet.process import raise_open_files_limit
    from fleet.scenario import Scenario

    raise_open_files_limit(count)
    sections: dict[str, Any] = {"stations": {"count": count}, "csms": {"url": url}}
    charging = mode == "charging"
    if charging:
        sections["sessions"] = CHARGING
    scenario = Scenario.model_validate(sections)
    fleet = await idle_fleet(scenario, url, count, batch=500, pause_s=0.2)
    while charging and not _charging(fleet.stations):
        if time.monotonic() > fleet.deadline:
            raise RuntimeError("stations not all charging")
        await asyncio.sleep(0.5)
    gc.collect()
    after = rss_kb()
    result = {
        "count": count,
        "kb_per_station": (after - fleet.before_kb) / count,
        "rss_mb": after / 1024,
    }
    if mode == "storm":
        result["storm_kb_per_station"] = (await _reconnect_storm(fleet) - fleet.before_kb) / count
    fleet.stop.set()
    await asyncio.wait(fleet.tasks, timeout=30)
    return result


def headless(url: str, count: int, charging: bool = False) -> float:
    result = run_child([__file__, "child", url, str(count), *(["charging"] if charging else [])])
    return float(result["kb_per_station"])


def storm_table(counts: list[int]) -> str:
    """Headless KB per station idle, then after every station's connection was dropped at once
    and came back (the same stations, the same process)."""
    lines = [
        "| stations | idle KB/station | after the storm KB/station |",
        "|---:|---:|---:|",
    ]
    with responder() as url:
        for count in counts:
            result = run_child([__file__, "child", url, str(count), "storm"])
            idle, storm = result["kb_per_station"], result["storm_kb_per_station"]
            lines.append(f"| {count:,} | {idle:.1f} | {storm:.1f} |")
    return "\n".join(lines)


def _locust_rss(url: str, users: int) -> int:
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "locust", "--scenario", "scenarios/default.yaml",
         "--host", url, "--headless", "-u", str(users), "-r", "1000", "-t", "600s",
         "--only-summary", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        spawn_s = users / 1000
        time.sleep(4 + spawn_s * 1.5)
        samples = []
        for _ in range(5):
            samples.append(rss_kb(process.pid))
            time.sleep(0.5)
        return min(samples)
    finally:
        process.terminate()
        process.wait(timeout=60)


def under_locust(url: str, count: int) -> float:
    baseline = _locust_rss(url, 1)
    return (_locust_rss(url, count) - baseline) / (count - 1)


def charging_table(counts: list[int]) -> str:
    """Headless KB per station, idle and with every connector charging, measured alternately."""
    lines = [
        "| stations | idle KB/station | charging KB/station | charging / idle |",
        "|---:|---:|---:|---:|",
    ]
    with responder() as url:
        for count in counts:
            idle, busy = headless(url, count), headless(url, count, charging=True)
            lines.append(f"| {count:,} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        mode = sys.argv[4] if len(sys.argv) > 4 else ""
        print(json.dumps(uvloop.run(_headless(sys.argv[2], int(sys.argv[3]), mode))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="1000,5000,10000")
    parser.add_argument("--no-locust", action="store_true")
    parser.add_argument(
        "--charging", action="store_true", help="headless only: idle and charging, side by side"
    )
    parser.add_argument(
        "--storm", action="store_true", help="headless only: idle, then after a reconnect storm"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    if args.charging:
        print(charging_table(counts))
        return
    if args.storm:
        print(storm_table(counts))
        return
    print("| stations | headless KB/station | under Locust KB/station |")
    print("|---:|---:|---:|")
    with responder() as url:
        for count in counts:
            head = headless(url, count)
            loc = "-" if args.no_locust else f"{under_locust(url, count):.1f}"
            print(f"| {count:,} | {head:.1f} | {loc} |", flush=True)


if __name__ == "__main__":
    main()
