"""Benchmark 13: what fleet's OCPP layer costs per round trip, without sockets.

Section 1 takes its ratios over real sockets, where the kernel's share and this VM's noise
(one variant's rounds spread 17-34 µs) hide a change of 1 µs. Here the same stations run on the
in-memory transport (fleet/station/memory.py) against a peer answering in its delivery callback,
as the minimal responder does (millisecond timestamps), all in one process:

    floor   the transport alone: send a Heartbeat frame, await the answer, decode it
    fleet   fleet stations as shipped: ``station.call("Heartbeat", {})``, every answer validated
    novalid the same, validation off
    meter   fleet stations in a charging session: MeterValues, a reading of the five default
            measurands made for each (the 1.6 shape), as section 1's (e)
    fixed   the same, one reading made beforehand and sent every time, as section 1's (e')
    fleet2  as fleet, OCPP 2.0.1 stations
    event2  2.0.1 stations in a charging session: TransactionEvent(Updated), a reading made for
            each (numbers, unitOfMeasure, seqNo), as section 1's (e2)

The peer's own work (the message id and action cut from the frame, a timestamp, the answer
encoded: the same whatever the CALL's size) is in every row, so fleet - floor is what the OCPP
layer adds: message id, pending slot, deadline bucket, sample recording, validation.
Reported: the lowest of the rounds (noise only adds), µs of CPU per round trip.

    python bench/layer_cost.py [--stations 50] [--round-trips 1000] [--rounds 7]

``--side-by-side 20,200,2000``: a fleet per message (the two Heartbeats and the two readings),
all four booted in one loop, batches of 1,000 messages alternating between them (``--turns``
each): the readings' ratios timed with every fleet in the same seconds, at each station count,
with a CALL in flight on every station of a batch at once and with one station at a time.

    python bench/layer_cost.py --side-by-side 20,200,2000 [--turns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu_per_rtt import action_of, round_trips_of
from bench.responder import answer, now_ms
from fleet.station.memory import MemoryTransport

ROWS = {
    "floor": "the transport alone (in-memory, no OCPP)",
    "fleet": "fleet stations as shipped, every answer validated",
    "novalid": "fleet stations, validation off",
    "meter": "fleet stations, MeterValues with a reading made (5 measurands)",
    "fixed": "fleet stations, MeterValues with one reading sent every time",
    "fleet2": "2.0.1 stations, Heartbeat, every answer validated",
    "event2": "2.0.1 stations, TransactionEvent(Updated) with a reading made",
}


class _Peer(MemoryTransport):
    """The CSMS end: answers each CALL as it is delivered, as bench/responder.py does."""

    def _deliver(self, frame: bytes) -> None:
        # The message id and the action, cut from the frame's head: every action sent here is
        # answered from its name alone. Decoding the whole frame cost the peer 1.8 µs for a
        # 700-byte MeterValues (2.4 for a TransactionEvent) against 0.2 for a Heartbeat, charged
        # to the station's row; a CSMS's work is not the station's (section 1's peer runs in
        # another process).
        _, message_id, _, action, _ = frame.split(b'"', 4)
        reply = answer([2, message_id.decode(), action.decode(), {}], now_ms, 300)
        if reply is not None:
            self.send(reply)


def _pair() -> MemoryTransport:
    loop = asyncio.get_running_loop()
    station, peer = MemoryTransport(loop), _Peer(loop)
    station.peer, peer.peer = peer, station
    return station


async def _floor(stations: int, round_trips: int) -> float:
    ends = [_pair() for _ in range(stations)]

    async def one(end: MemoryTransport) -> None:
        for k in range(round_trips):
            end.send(orjson.dumps([2, str(k), "Heartbeat", {}]))
            orjson.loads(await end.recv())

    started = time.process_time()
    await asyncio.gather(*(one(end) for end in ends))
    return time.process_time() - started


async def _booted(
    stations: int, validate: bool = True, version: str = "1.6"
) -> tuple[list[Any], list[asyncio.Task[Any]], Any]:
    """(stations, their run tasks, their Summary): booted on in-memory pairs, status sent."""
    from fleet.metrics.summary import Summary
    from fleet.scenario import Scenario
    from fleet.station.session import make_station
    from fleet.station.state import State

    scenario = Scenario.model_validate(
        {"stations": {"count": stations, "ocpp": version}, "csms": {"check_schemas": validate}}
    )
    summary = Summary()
    fleet = [make_station(scenario, index, summary) for index in range(1, stations + 1)]
    loop = asyncio.get_running_loop()
    runs = [loop.create_task(station.run(_pair())) for station in fleet]
    while not all(station.state is State.ACCEPTED for station in fleet):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # StatusNotifications answered
    return fleet, runs, summary


async def _fleet(
    stations: int, round_trips: int, validate: bool, meter: str = "", version: str = "1.6"
) -> float:
    fleet, runs, summary = await _booted(stations, validate, version)
    traffic = round_trips_of(fleet, round_trips, meter)
    started = time.process_time()
    await asyncio.gather(*(traffic(station) for station in fleet))
    spent = time.process_time() - started
    action = action_of(fleet[0], meter)
    assert summary.rows[action].count == stations * round_trips
    assert summary.failure_count == 0
    await _shut(fleet, runs)
    return spent


async def _shut(fleet: list[Any], runs: list[asyncio.Task[Any]]) -> None:
    for station in fleet:
        await station.stop()
    await asyncio.wait(runs, timeout=10)


# --side-by-side: a fleet per message, all in one loop, batches interleaved ----------------------

SIDE = {  # fleet -> (meter, version): Heartbeats, or readings made
    "1.6 Heartbeat": ("", "1.6"),
    "MeterValues": ("made", "1.6"),
    "2.0.1 Heartbeat": ("", "2.0.1"),
    "TransactionEvent(Updated)": ("made", "2.0.1"),
}
SIDE_BATCH = 1000  # messages per batch, over all a fleet's stations


async def _side_by_side(stations: int, turns: int, alone: bool = False) -> dict[str, float]:
    """µs of CPU per message of each fleet, ``stations`` each, batches of SIDE_BATCH
    alternating between the fleets ``turns`` times: a slower spell of this VM (they last
    seconds) hits every fleet alike. A batch runs its stations at once (a CALL in flight on
    each), or with ``alone`` one station after the other (one CALL in flight in the process):
    the same messages, as many CALLs out at once as sections 1 and 13 have, or one."""
    per_station = max(1, SIDE_BATCH // stations)
    fleets = {}
    for name, (meter, version) in SIDE.items():
        fleet, runs, summary = await _booted(stations, True, version)
        fleets[name] = (fleet, runs, summary, round_trips_of(fleet, per_station, meter))
    spent = dict.fromkeys(SIDE, 0.0)
    for _ in range(turns):
        for name, (fleet, _, _, traffic) in fleets.items():
            started = time.process_time()
            if alone:
                for station in fleet:
                    await traffic(station)
            else:
                await asyncio.gather(*(traffic(station) for station in fleet))
            spent[name] += time.process_time() - started
    for name, (fleet, runs, summary, _) in fleets.items():
        meter = SIDE[name][0]
        assert summary.rows[action_of(fleet[0], meter)].count == stations * per_station * turns
        assert summary.failure_count == 0  # failures are not timed round trips
        await _shut(fleet, runs)
    return {name: spent[name] / (stations * per_station * turns) * 1e6 for name in SIDE}


def side_by_side_table(station_counts: list[int], turns: int) -> str:
    from fleet.process import tune_gc

    tune_gc()
    lines = [
        "| stations per fleet | CALLs in flight | 1.6 Heartbeat µs | MeterValues µs | × "
        "| 2.0.1 Heartbeat µs | TransactionEvent(Updated) µs | × |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for stations in station_counts:
        for alone in (False, True):
            us = uvloop.run(_side_by_side(stations, turns, alone))
            hb, mv = us["1.6 Heartbeat"], us["MeterValues"]
            hb2, te = us["2.0.1 Heartbeat"], us["TransactionEvent(Updated)"]
            lines.append(
                f"| {stations:,} | {'one' if alone else 'one per station'} | {hb:.2f} "
                f"| {mv:.2f} | {mv / hb:.2f} | {hb2:.2f} | {te:.2f} | {te / hb2:.2f} |"
            )
    return "\n".join(lines)


def measure(stations: int, round_trips: int, rounds: int) -> dict[str, float]:
    """Lowest µs of CPU per round trip for each row, rounds interleaved."""
    from fleet.process import tune_gc

    tune_gc()
    samples: dict[str, list[float]] = {row: [] for row in ROWS}
    for _ in range(rounds):
        for row in ROWS:
            if row == "floor":
                spent = uvloop.run(_floor(stations, round_trips))
            else:
                meter = {"meter": "made", "fixed": "fixed", "event2": "made"}.get(row, "")
                version = "2.0.1" if row.endswith("2") else "1.6"
                spent = uvloop.run(_fleet(stations, round_trips, row != "novalid", meter, version))
            samples[row].append(spent / (stations * round_trips) * 1e6)
    return {row: min(values) for row, values in samples.items()}


def table(results: dict[str, float]) -> str:
    floor = results["floor"]
    lines = ["| round trip | CPU µs | over the floor, µs |", "|---|---:|---:|"]
    for row, label in ROWS.items():
        lines.append(f"| {label} | {results[row]:.2f} | {results[row] - floor:+.2f} |")
    heartbeat = results["fleet"]
    lines += [
        "",
        f"MeterValues / Heartbeat: {results['meter'] / heartbeat:.2f} with the reading made, "
        f"{results['fixed'] / heartbeat:.2f} without; making the reading: "
        f"{results['meter'] - results['fixed']:.2f} µs. 2.0.1: TransactionEvent / Heartbeat: "
        f"{results['event2'] / results['fleet2']:.2f}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--side-by-side",
        metavar="COUNTS",
        help="instead: fleets of each message side by side, e.g. 20,200,2000 stations each",
    )
    parser.add_argument("--turns", type=int, default=100, help="batches each, --side-by-side")
    args = parser.parse_args()
    if args.side_by_side:
        counts = [int(count) for count in args.side_by_side.split(",")]
        print(side_by_side_table(counts, args.turns))
        return
    print(table(measure(args.stations, args.round_trips, args.rounds)))


if __name__ == "__main__":
    main()
