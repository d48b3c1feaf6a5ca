"""Benchmark 3: boot storm. N stations started at once (no ramp); connects + BootNotification
round trips per second, and the time until every station is Accepted. Run against the embedded
CSMS (the ocpp library's central side, validating every message) and against the minimal
responder, so the table shows which side bounds the rate.

    python bench/boot_storm.py [--stations 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import embedded_csms, responder, run_child


async def _storm(url: str, count: int) -> dict[str, float]:
    from fleet.metrics.health import LoopHealth
    from fleet.metrics.summary import Summary
    from fleet.process import raise_open_files_limit
    from fleet.scenario import Scenario
    from fleet.station.session import StopSwitch, keep_connected, make_station
    from fleet.station.state import State

    raise_open_files_limit(count)
    scenario = Scenario.model_validate(
        {"stations": {"count": count, "ocpp": {"1.6": 70, "2.0.1": 30}}, "csms": {"url": url}}
    )
    summary = Summary()
    stop = StopSwitch()
    lag = LoopHealth(threshold_ms=10**9)
    loop = asyncio.get_running_loop()
    lag.start(loop)
    stations = [make_station(scenario, i, summary) for i in range(1, count + 1)]
    started = time.perf_counter()
    tasks = [loop.create_task(keep_connected(s, url, stop)) for s in stations]
    while sum(s.state is State.ACCEPTED for s in stations) < count:
        if time.perf_counter() - started > 300:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    accepted = sum(s.state is State.ACCEPTED for s in stations)
    stop.set()
    lag.stop()
    await asyncio.wait(tasks, timeout=60)
    boot = summary.rows["BootNotification"]
    connect = summary.rows["connect"]
    return {
        "stations": count,
        "accepted": accepted,
        "seconds": elapsed,
        "per_s": accepted / elapsed,
        "failures": summary.failure_count,
        "connect_p99_ms": connect.histogram.percentile(99) or 0.0,
        "boot_p99_ms": boot.histogram.percentile(99) or 0.0,
        "lag_p99_ms": lag.histogram.percentile(99) or 0.0,
    }


def storm(url: str, count: int) -> dict[str, float]:
    return run_child([__file__, "child", url, str(count)])


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        "| CSMS | stations | all accepted after | boots/s | failures | connect p99 | boot p99 "
        "| loop lag p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['accepted']:,.0f}/{r['stations']:,.0f} | {r['seconds']:.1f} s | "
            f"{r['per_s']:,.0f} | {r['failures']:.0f} | {r['connect_p99_ms']:.0f} ms | "
            f"{r['boot_p99_ms']:.0f} ms | "
            f"{r['lag_p99_ms']:.0f} ms |"
        )
    return "\n".join(lines)


def measure(count: int) -> list[tuple[str, dict[str, float]]]:
    rows = []
    with embedded_csms() as url:
        rows.append(("embedded `fleet csms`", storm(url, count)))
    with responder() as url:
        rows.append(("minimal responder", storm(url, count)))
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(uvloop.run(_storm(sys.argv[2], int(sys.argv[3])))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=5000)
    args = parser.parse_args()
    print(table(measure(args.stations)))


if __name__ == "__main__":
    main()
