"""Run the benchmark suite: `make bench` (full, writes bench/RESULTS.md, ~60 min) or
`make bench-quick` (the same sixteen, smaller, ~15 min, prints only).

Every figure for fleet is printed next to its reference measured in the same run: this machine
is shared and noisy, absolute numbers drift, ratios hold.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    answer_check,
    boot_storm,
    clock_burst,
    cpu_per_rtt,
    fleet_cpu,
    instructions,
    layer_cost,
    locust_runs,
    memory,
    sink_cost,
    storms,
    tls,
)
from bench.common import BENCH, responder

PACKAGES = ("ocpp", "websockets", "uvloop", "orjson", "locust", "gevent", "fastjsonschema")


def machine() -> str:
    versions = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {versions}"
    )


def section(title: str, body: str) -> str:
    print(f"\n## {title}\n\n{body}", flush=True)
    return f"## {title}\n\n{body}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    started = time.monotonic()
    parts = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}.\n"]
    print(parts[0], flush=True)

    stations, round_trips, rounds = (200, 50, 1) if quick else (200, 200, 5)
    cpu = cpu_per_rtt.measure(stations, round_trips, rounds)
    parts.append(section(
        "1. CPU per OCPP round trip",
        f"{stations} stations × {round_trips} Heartbeat round trips each, median of {rounds} "
        "interleaved rounds, client process CPU time / round trips, against the minimal "
        "responder (bench/responder.py), which answers with millisecond timestamps as a real "
        "CSMS does. The floor is (a'), fleet's own transport without OCPP.\n\n"
        + cpu_per_rtt.table(cpu),
    ))  # fmt: skip

    counts = [1000] if quick else [1000, 5000, 10_000]
    lines = ["| stations | headless KB/station | under Locust KB/station |", "|---:|---:|---:|"]
    with responder() as url:
        for count in counts:
            head = memory.headless(url, count)
            loc = memory.under_locust(url, count)
            lines.append(f"| {count:,} | {head:.1f} | {loc:.1f} |")
    parts.append(section(
        "2. Memory per idle connected station",
        "RSS with N idle stations (heartbeat every 300 s) minus RSS with none, / N.\n\n"
        + "\n".join(lines)
        + "\n\nWith every connector (two per station) in a charging session, headless, measured "
        "beside idle stations in the same run:\n\n"
        + memory.charging_table(counts[:1] if quick else [1000, 10_000])
        + "\n\nAfter a reconnect storm: every station's connection dropped at once, all back "
        "and idle, headless, the same stations measured before and after (a worker needs this "
        "headroom; bench/NOTES.md, \"Memory after a reconnect storm\"):\n\n"
        + memory.storm_table(counts[:1] if quick else [1000, 10_000]),
    ))  # fmt: skip

    storm_count = 2000 if quick else 5000
    parts.append(section(
        "3. Boot storm",
        f"{storm_count:,} stations (70 % 1.6, 30 % 2.0.1) started at once, no ramp.\n\n"
        + boot_storm.table(boot_storm.measure(storm_count)),
    ))  # fmt: skip

    text, _ = locust_runs.throughput(quick)
    parts.append(section(
        "4. Throughput ceiling of one Locust process",
        "1,000 stations heartbeating at a fixed, shorter and shorter interval against the "
        "minimal responder, ramped at 500/s. Heartbeat p99, loop-lag p99, achieved rate and "
        "CPU: steady state (statistics reset 5 s after the last user spawned, read as stopping "
        "begins). Failures and missed beats: whole run, ramp and stop included.\n\n" + text,
    ))  # fmt: skip

    text, _ = locust_runs.scale(quick)
    parts.append(section(
        "5. Scale run: one Locust process",
        "Stations (70 % 1.6, 30 % 2.0.1) ramped at 250/s, heartbeat every 10 s, against the "
        "embedded CSMS in its own process. Latency and lag: steady state; failures and missed "
        "beats: whole run.\n\n" + text,
    ))  # fmt: skip

    text, _ = locust_runs.ramp(quick)
    parts.append(section(
        "6. The ramp: 10,000 stations spawned at 500/s in one Locust process",
        "Against the minimal responder, heartbeat every 10 s, 150 s. The ramp (spawning and "
        "5 s after) and the whole run (ramp and steady state, not the stop) beside the steady "
        "state: what starting stations costs the figures.\n\n" + text,
    ))  # fmt: skip

    text, _ = locust_runs.charging(quick)
    parts.append(section(
        "7. Charging: 10,000 stations in sessions in one Locust process",
        "Stations (70 % 1.6, 30 % 2.0.1), ramped at 250/s, both connectors of each in a "
        "session within seconds of boot, meter values every 60 s, heartbeat every 300 s, "
        "against the minimal responder, 150 s. Rates and latency: steady state; failures "
        "and missed samples: whole run.\n\n" + text,
    ))  # fmt: skip

    text, _ = storms.restart(quick)
    parts.append(section(
        "8. Storms: a CSMS restart under 10,000 stations in one Locust process",
        "Stations (70 % 1.6, 30 % 2.0.1) ramped at 250/s, each in a charging session (meter "
        "values every 30 s), against the embedded CSMS with `--ledger-file` in its own process; "
        "20 s after the ramp the CSMS is killed (SIGKILL) and started again on the same port "
        "and file 3 s later; 70 s more. Reconnect policy: exponential, 1-30 s, full jitter. "
        "Missing, gaps, disorder and unknown transactions: the stations' delivered messages "
        "against the CSMS's ledger (bench/storms.py).\n\n" + text,
    ))  # fmt: skip

    text, _ = storms.blackout(quick)
    parts.append(section(
        "9. Storms: 30 % of 10,000 stations offline for 5 minutes",
        "As 8, no CSMS restart: 20 s after the ramp, a blackout storm takes 30 % of the "
        "stations off the network for 300 s; they keep charging and queueing, then return; "
        "60 s more.\n\n" + text,
    ))  # fmt: skip

    count, rounds = (300, 1) if quick else (1000, 3)
    parts.append(section(
        "10. Security profiles: TLS handshakes, memory and CPU per TLS station",
        "Against the embedded CSMS in its own process, serving ws:// (profile 0), wss:// with "
        "Basic auth (profile 2) or mutual TLS (profile 3, a certificate per station), rounds "
        f"interleaved, medians of {rounds}: {count:,} connects (TCP, TLS, websocket upgrade; "
        f"no boot) {tls.IN_FLIGHT} in flight; then {count:,} stations booted and idle (RSS "
        f"per station) and {tls.ROUND_TRIPS} Heartbeat round trips each (client CPU per "
        "round trip) (bench/tls.py).\n\n" + tls.table(tls.measure(count, rounds), count),
    ))  # fmt: skip

    calls, rounds = (50_000, 3) if quick else (200_000, 5)
    parts.append(section(
        "11. fleet's own wire histogram under Locust: cost per exchange",
        f"LocustSink.exchange as shipped against the same sink counting only, {calls:,} "
        f"exchanges per round, median of {rounds} interleaved rounds, round trips log-normal "
        "around 5 ms (bench/sink_cost.py). Compare with section 1's CPU per round trip.\n\n"
        + sink_cost.table(sink_cost.measure(calls, rounds)),
    ))  # fmt: skip

    answers = 20_000 if quick else 100_000
    parts.append(section(
        "12. Validating an answer: cost per answer",
        f"wire.checker as shipped (a predicate made from the schema, fastjsonschema only for "
        f"what it refuses) against fastjsonschema's compiled check alone, {answers:,} answers "
        f"per round, each with its own millisecond timestamp, median of {rounds} interleaved "
        "rounds (bench/answer_check.py).\n\n"
        + answer_check.table(answer_check.measure(answers, rounds)),
    ))  # fmt: skip

    layer_rounds = 3 if quick else 7
    parts.append(section(
        "13. The OCPP layer without sockets",
        f"50 stations × 1,000 round trips (Heartbeat, or a reading in a charging session: "
        f"MeterValues in 1.6, TransactionEvent(Updated) in 2.0.1) on the in-memory transport "
        f"against a peer answering as the minimal responder does (from each CALL's id and "
        f"action, cut from the frame's head), lowest of {layer_rounds} interleaved rounds, "
        "all in one process (bench/layer_cost.py): what fleet adds over its transport, without "
        "the kernel's share and the noise that hide 1 µs in section 1.\n\n"
        + layer_cost.table(layer_cost.measure(50, 1000, layer_rounds)),
    ))  # fmt: skip

    burst_stations, burst_s, burst_rounds = (2000, 25, 1) if quick else (6000, 45, 3)
    parts.append(section(
        "14. Clock-aligned readings on the same mark",
        f"`fleet run`, {burst_stations:,} stations × 2 connectors (70 % 1.6, 30 % 2.0.1), no "
        f"sessions, a clock-aligned reading every 20 s on every connector, {burst_s} s, against "
        "the minimal responder; charger wake-ups a slice per loop iteration (as shipped) against "
        f"all at once (what fleet did before), side by side, median of {burst_rounds} "
        "(bench/clock_burst.py). MeterValues latency: whole run; longest burst: first to last "
        "wake-up of one mark.\n\n"
        + clock_burst.table(clock_burst.measure(burst_stations, burst_s, burst_rounds)),
    ))  # fmt: skip

    cpu_stations, short_s, long_s, cpu_rounds = (1000, 5, 15, 1) if quick else (2000, 8, 28, 3)
    parts.append(section(
        "15. CPU per message in a whole fleet run",
        f"`fleet run`, {cpu_stations:,} stations (one connector each) against the minimal "
        "responder, each sending one message a second: everything a run does per message "
        "included (the loop waking for each timer, the station's decisions, timers, ordered "
        "delivery and session reports). CPU of the whole process for a "
        f"{short_s} s and a {long_s} s run; the difference over the difference in messages, "
        f"median of {cpu_rounds} (bench/fleet_cpu.py). Each reading is taken against its own "
        "version's Heartbeat, as in section 1.\n\n"
        + fleet_cpu.table(fleet_cpu.measure(cpu_stations, short_s, long_s, cpu_rounds)),
    ))  # fmt: skip

    if instructions.valgrind() is None:
        counted = "valgrind is not installed on this machine: no instruction counts."
    else:
        counted = instructions.table(instructions.measure(quick=quick))
        if not quick:  # the same messages with callgrind's cache model: what misses add
            cached = instructions.cache_table(instructions.measure_caches())
            counted += (
                "\n\nWith callgrind's cache model (this machine's 32 KiB L1 caches, its 512 KiB "
                "per-core L2 as the last level; `bench/instructions.py --caches`): misses per "
                "message and callgrind's cycle estimate (instructions + 10 per L1 miss + 100 per "
                "L2 miss).\n\n" + cached
            )
    parts.append(section(
        "16. Instructions per message (valgrind)",
        "Executed instructions per message, counted by callgrind: the same from run to run "
        "within ~1 %, where every CPU time above moves with this shared VM. Stations on the "
        "in-memory transport, in one process: lockstep as section 13 (each message sent as "
        "the last is answered) and scheduled as section 15 (40 stations, one message a second "
        "each, through fleet run's timers, wake-ups, sessions and ordered delivery). Lockstep: "
        "a short and a long run, the difference over the difference in messages; scheduled: "
        "a 15 s window counted, over the messages answered in it (bench/instructions.py). "
        "What time sees of caches and the kernel is not in them.\n\n"
        + counted,
    ))  # fmt: skip

    print(f"\n(suite took {time.monotonic() - started:.0f} s)")
    if not quick:
        header = "# Benchmark results\n\nGenerated by `make bench` (bench/run.py).\n\n"
        notes = (BENCH / "NOTES.md").read_text()  # the hand-written analysis of the bounds
        (BENCH / "RESULTS.md").write_text(header + "\n".join(parts) + "\n" + notes)
        print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
