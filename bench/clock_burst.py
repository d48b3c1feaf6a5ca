"""Benchmark 14: clock-aligned readings on the same mark, sliced against all at once.

Every connector reads its meter on the ``ClockAlignedDataInterval`` marks, all in the same
instant. A real fleet does send those readings in the same second, and the CSMS should get that
burst; but run in one loop iteration (a timer each, all due together) they kept fleet from
reading its sockets until the last was sent, and every answer was timed late. Charger wake-ups
now run a slice per iteration (fleet/station/wakes.py). This runs the same fleet both ways,
side by side, each against a fresh minimal responder: ``fleet run`` with 6,000 stations (12,000
connectors, no sessions) and readings every 20 s, in a child process whose ``SLICE`` is the
shipped one or unlimited (what fleet did before).

Reported per variant: MeterValues latency and its share taken during fleet's own stalls, the
loop lag, and how long the bursts took to leave (first to last wake-up of a mark): the CSMS
still gets them as fast as one process can make them.

    python bench/clock_burst.py [--stations 6000] [--duration 45] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median, responder, run_child
from fleet.scenario_charging import MEASURANDS

VARIANTS = {"sliced": "wake-ups a slice per iteration (shipped)", "at-once": "all at once"}
ALIGNED_S = 20


def scenario(url: str, stations: int, duration_s: int) -> dict[str, Any]:
    return {
        "name": "clock-burst",
        "csms": {"url": url},
        "stations": {"count": stations, "ocpp": {"1.6": 7, "2.0.1": 3}, "connectors": 2},
        "boot": {"ramp_per_s": 1000},
        "heartbeat": {"fallback_s": 300},
        "sessions": {
            "arrivals_per_hour": 0.001,
            "clock_aligned_s": ALIGNED_S,
            # every measurand on the mark (MeterValuesAlignedData), as this burst was measured
            "aligned_measurands": list(MEASURANDS),
            "seed": 1,
        },
        "run": {"duration_s": duration_s},
    }


def child(variant: str, scenario_file: str) -> None:
    from fleet import cli
    from fleet.station import wakes

    if variant == "at-once":
        wakes.SLICE = 10**9  # type: ignore[misc]
    bursts: list[list[float]] = []  # per mark: [first wake-up, last wake-up]
    drain = wakes.Wakes._drain

    def timed(self: wakes.Wakes) -> None:
        started = time.perf_counter()
        drain(self)
        if not bursts or started - bursts[-1][1] > ALIGNED_S / 2:
            bursts.append([started, started])
        bursts[-1][1] = time.perf_counter()

    wakes.Wakes._drain = timed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "summary.json"
        code = cli.main(["run", scenario_file, "--summary-json", str(out)])
        summary = json.loads(out.read_text())
    meter = summary["actions"]["MeterValues"]
    print(
        json.dumps(
            {
                "exit": code,
                "count": meter["count"],
                "failures": meter["failures"],
                "p50_ms": meter["p50_ms"],
                "p99_ms": meter["p99_ms"],
                "tainted_pct": meter["tainted_pct"],
                "lag_p99_ms": summary["loop_lag"]["p99_ms"],
                "lag_max_ms": summary["loop_lag"]["max_ms"],
                "burst_ms": max((end - start) * 1000 for start, end in bursts),
            }
        )
    )


def measure(stations: int, duration_s: int, rounds: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            for variant in VARIANTS:
                with responder() as url:
                    path = Path(folder) / "scenario.yaml"  # JSON is YAML
                    path.write_text(json.dumps(scenario(url, stations, duration_s)))
                    time.sleep(0.3)
                    result = run_child([__file__, "child", variant, str(path)])
                assert result["exit"] == 0 and result["failures"] == 0, result
                samples[variant].append(result)
    keys = ["count", "p50_ms", "p99_ms", "tainted_pct", "lag_p99_ms", "lag_max_ms", "burst_ms"]
    return {
        variant: {key: median([float(s[key]) for s in runs]) for key in keys}
        for variant, runs in samples.items()
    }


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| clock-aligned wake-ups | MeterValues | p50 ms | p99 ms | tainted | loop lag p99 ms "
        "| loop lag max ms | longest burst ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, label in VARIANTS.items():
        r = results[variant]
        lines.append(
            f"| {label} | {r['count']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['tainted_pct']:.1f} % | {r['lag_p99_ms']:.1f} | {r['lag_max_ms']:.0f} "
            f"| {r['burst_ms']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=6000)
    parser.add_argument("--duration", type=int, default=45)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(table(measure(args.stations, args.duration, args.rounds)))


if __name__ == "__main__":
    main()
