"""Benchmark 16: instructions per message, counted by valgrind (callgrind): figures that do not
move with the machine.

Every other CPU figure here is time, and this VM is shared: section 1's floor read 10.9 µs one
afternoon and 35.3 µs that evening, same code, and section 15's TransactionEvent / Heartbeat
ratio moved by ±0.2 between runs of one build. A count of executed instructions is the same
from run to run within ~1 % (PYTHONHASHSEED fixed); it misses what time sees of caches and the
kernel (a syscall is one instruction here), so it measures fleet's own code, which is what a
change to fleet changes. Rows, all in one process on the in-memory transport (no sockets):

    lockstep, as section 13: each station sends its next message as soon as the last is
    answered, a peer answering in its delivery callback with millisecond timestamps
        floor      the transport alone (a Heartbeat frame out, the answer decoded)
        heartbeat  1.6 stations: Heartbeat, every answer validated
        meter      1.6 stations in a session: MeterValues, a reading made for each
        heartbeat2 2.0.1 stations: Heartbeat
        event      2.0.1 stations in a session: TransactionEvent(Updated), a reading made

    scheduled, as section 15 (``fleet run``'s machinery: timers, wake-ups, sessions, ordered
    delivery, session reports): 40 stations, each sending one message a second
        heartbeat, meter, heartbeat2, event as above

A lockstep row runs twice under callgrind, 10 and 410 round trips per station; the difference
in instructions over the difference in messages is the count per message, start-up and boot
cancelled out. A scheduled row runs once: callgrind counts only a 15 s window that opens 6 s
after the stations start (``callgrind_control -i on/off``), over the messages answered in it;
the loop's idle turns in the window are in the count, as they are in a fleet run's CPU.
Needs valgrind (skipped without it); ~10 minutes on 2 cores.

A count misses what caches cost, which is where time could part from it (a reading touches more
objects than a Heartbeat). ``--caches`` counts every row again with callgrind's cache model (this
machine's 32 KiB L1 caches and its 512 KiB per-core L2 as the last level), lockstep runs
CACHED_MESSAGES apart, and gives each message's misses and callgrind's cycle estimate
(instructions + 10 per L1 miss + 100 per last-level miss, as KCachegrind computes it); with
``--stations N`` the lockstep rows run N stations instead of 20 (more memory touched between two
messages of one station). ~11 minutes on 2 cores at 20 stations, ~15 at 200.

    python bench/instructions.py [--jobs 2] [--caches [--stations 200]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import layer_cost
from bench.fleet_cpu import VARIANTS
from bench.fleet_cpu import scenario as scenario_of

LOCKSTEP = ("floor", "heartbeat", "meter", "heartbeat2", "event")
SCHEDULED = ("heartbeat", "meter", "heartbeat2", "event")
LABELS = {
    "floor": "the transport alone (no OCPP)",
    "heartbeat": "1.6 Heartbeat",
    "meter": "1.6 MeterValues, reading made",
    "heartbeat2": "2.0.1 Heartbeat",
    "event": "2.0.1 TransactionEvent(Updated), reading made",
}
STATIONS = {"lockstep": 20, "scheduled": 40}
LOCKSTEP_ROUND_TRIPS = (10, 410)  # per station, the short and the long run
CACHED_MESSAGES = 2000  # lockstep with the cache model (slower): messages counted, all stations
WARM_S, WINDOW_S = 6.0, 15.0  # scheduled: counted from WARM_S on, for WINDOW_S
# callgrind's cache model set to this machine (AMD EPYC: 32 KiB L1 instruction and data caches,
# 512 KiB L2 per core, taken as the last level: the 32 MiB L3 would hide what a station's
# footprint costs, and at these sizes a station's working set stays far below it).
CACHE_MODEL = ("--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", "--LL=524288,8,64")
_EVENTS = re.compile(r"Events +: ([\w ]+)\n")
_COLLECTED = re.compile(r"Collected : ([\d ]+)\n")
Events = dict[str, float]  # callgrind's event name ("Ir", "D1mr", ...) -> count (per message)


def valgrind() -> str | None:
    """valgrind's path, when it and callgrind_control are installed."""
    return shutil.which("valgrind") if shutil.which("callgrind_control") else None


# --- what runs under valgrind ---------------------------------------------------------------


async def _lockstep(row: str, round_trips: int, stations: int) -> int:
    if row == "floor":
        await layer_cost._floor(stations, round_trips)
        return stations * round_trips
    meter = "made" if row in ("meter", "event") else ""
    version = "2.0.1" if row.endswith(("2", "event")) else "1.6"
    await layer_cost._fleet(stations, round_trips, True, meter, version)
    return stations * round_trips


async def _scheduled(row: str, seconds: float) -> int:
    from fleet.metrics.summary import Summary
    from fleet.scenario import Scenario
    from fleet.station.session import make_station

    count = STATIONS["scheduled"]
    # Section 15's scenario (the URL unused: the in-memory transport), every station at once.
    data = scenario_of(row, "ws://127.0.0.1:1", count)
    data["boot"] = {"ramp_per_s": 10_000, "jitter_s": 0}
    summary = Summary()
    scenario = Scenario.model_validate(data)
    fleet = [make_station(scenario, index, summary) for index in range(1, count + 1)]
    loop = asyncio.get_running_loop()
    runs = [loop.create_task(station.run(layer_cost._pair())) for station in fleet]
    await asyncio.sleep(WARM_S)
    before = summary.rows[VARIANTS[row][0]].count
    _instrument("on")
    await asyncio.sleep(seconds)
    _instrument("off")
    assert not any(run.done() for run in runs)
    if summary.failure_count:
        raise RuntimeError(f"{row}: {summary.failure_count} failures")
    return summary.rows[VARIANTS[row][0]].count - before


def _instrument(on_off: str) -> None:
    """Start or stop callgrind's counting in this process."""
    command = ["callgrind_control", "-i", on_off, str(os.getpid())]
    subprocess.run(command, capture_output=True, check=True, timeout=60)


def _child(kind: str, row: str, length: float, stations: int) -> None:
    from fleet.process import tune_gc

    tune_gc()
    if kind == "lockstep":
        sent = uvloop.run(_lockstep(row, int(length), stations))
    else:
        sent = uvloop.run(_scheduled(row, length))
    print(f"SENT {sent}", flush=True)
    os._exit(0)  # scheduled stations still run: no teardown counted


# --- the parent --------------------------------------------------------------------------------


def _count(
    kind: str, row: str, length: float, caches: bool = False, stations: int | None = None
) -> tuple[Events, int]:
    """(callgrind's events, messages) of one run under callgrind; with ``caches``, the cache
    model's misses among the events."""
    tool = valgrind()
    assert tool is not None
    command = [tool, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    if caches:
        command += CACHE_MODEL
    if kind == "scheduled":
        command.append("--instr-atstart=no")  # the child counts its window only
    stations = stations or STATIONS[kind]
    command += [sys.executable, __file__, "--child", kind, row, str(length), str(stations)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    names, collected = _EVENTS.search(done.stderr), _COLLECTED.search(done.stderr)
    sent = re.search(r"SENT (\d+)", done.stdout)
    if done.returncode != 0 or names is None or collected is None or sent is None:
        raise RuntimeError(f"{kind} {row}: {done.stderr[-1500:]}")
    counts = map(float, collected.group(1).split())
    return dict(zip(names.group(1).split(), counts, strict=True)), int(sent.group(1))


def _events_per_message(
    kind: str, row: str, caches: bool = False, stations: int | None = None
) -> Events:
    if kind == "scheduled":
        events, messages = _count(kind, row, WINDOW_S, caches)
        return {name: n / messages for name, n in events.items()}
    short, long = LOCKSTEP_ROUND_TRIPS
    if caches:
        long = short + CACHED_MESSAGES // (stations or STATIONS[kind])
    (e1, m1), (e2, m2) = (_count(kind, row, n, caches, stations) for n in (short, long))
    return {name: (e2[name] - e1[name]) / (m2 - m1) for name in e2}


def _per_message(kind: str, row: str) -> float:
    return _events_per_message(kind, row)["Ir"]


QUICK = (
    ("lockstep", "floor"),
    ("lockstep", "heartbeat"),
    ("scheduled", "heartbeat2"),
    ("scheduled", "event"),
)


def measure(jobs: int = 2, quick: bool = False) -> dict[tuple[str, str], float]:
    """Instructions per message for every (kind, row), or for QUICK's only."""
    wanted = [("lockstep", row) for row in LOCKSTEP] + [("scheduled", row) for row in SCHEDULED]
    if quick:
        wanted = list(QUICK)
    with ThreadPoolExecutor(jobs) as pool:
        counts = list(pool.map(lambda pair: _per_message(*pair), wanted))
    return dict(zip(wanted, counts, strict=True))


def measure_caches(jobs: int = 2, stations: int | None = None) -> dict[tuple[str, str], Events]:
    """Events per message with the cache model, for every row but the floor."""
    wanted = [("lockstep", row) for row in LOCKSTEP if row != "floor"]
    wanted += [("scheduled", row) for row in SCHEDULED]
    with ThreadPoolExecutor(jobs) as pool:
        found = list(pool.map(lambda p: _events_per_message(p[0], p[1], True, stations), wanted))
    return dict(zip(wanted, found, strict=True))


def misses(events: Events) -> tuple[float, float, float]:
    """(L1 misses, last-level misses, callgrind's cycle estimate) per message."""
    first = events["I1mr"] + events["D1mr"] + events["D1mw"]
    last = events["ILmr"] + events["DLmr"] + events["DLmw"]
    return first, last, events["Ir"] + 10 * first + 100 * last


def cache_table(results: dict[tuple[str, str], Events], stations: int | None = None) -> str:
    lockstep = f"lockstep ({stations or STATIONS['lockstep']} stations)"
    lines = [
        "| message | instructions | L1 misses | L2 misses | cycle estimate "
        "| × its Heartbeat: instructions | × its Heartbeat: cycle estimate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (kind, row), events in results.items():
        base = results[kind, "heartbeat2" if row in ("heartbeat2", "event") else "heartbeat"]
        first, last, cycles = misses(events)
        ratios = ["", ""]
        if row not in ("heartbeat", "heartbeat2"):
            ratios = [f"{events['Ir'] / base['Ir']:.2f}", f"{cycles / misses(base)[2]:.2f}"]
        where = lockstep if kind == "lockstep" else "scheduled (40 stations)"
        cells = [f"{where}: {LABELS[row]}", f"{events['Ir'] / 1000:.1f} k", f"{first:,.0f}"]
        cells += [f"{last:,.0f}", f"{cycles / 1000:.1f} k", *ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(results: dict[tuple[str, str], float]) -> str:
    lines = [
        "| message | lockstep: instructions | × its Heartbeat | scheduled: instructions "
        "| × its Heartbeat |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in LOCKSTEP:
        base = "heartbeat2" if row in ("heartbeat2", "event") else "heartbeat"
        cells = [LABELS[row]]
        for kind in ("lockstep", "scheduled"):
            value = results.get((kind, row))
            if value is None:
                cells += ["", ""]
                continue
            ratio = "" if row == "floor" else f"{value / results[kind, base]:.2f}"
            cells += [f"{value / 1000:.1f} k", ratio]
        lines.append("| " + " | ".join(cells) + " |")
    floor, heartbeat = results["lockstep", "floor"], results["lockstep", "heartbeat"]
    lines += [
        "",
        f"Lockstep 1.6 Heartbeat / the transport alone: {heartbeat / floor:.2f} "
        f"(fleet's OCPP layer: {(heartbeat - floor) / 1000:.1f} k instructions per round trip).",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--caches", action="store_true", help="with callgrind's cache model")
    parser.add_argument("--stations", type=int, help="lockstep stations with --caches")
    args = parser.parse_args()
    if valgrind() is None:
        print("valgrind is not installed: no instruction counts")
        return
    if args.caches:
        print(cache_table(measure_caches(args.jobs, args.stations), args.stations))
    else:
        print(table(measure(args.jobs)))


if __name__ == "__main__":
    main()
