"""Benchmark 1: client-side CPU time per OCPP round trip (Heartbeat), clients side by side.

    (a') fleet's own transport (websockets' sans-I/O protocol + orjson), no OCPP: the floor
         the ratios are taken against
    (a)  websockets' asyncio client + orjson, no OCPP
    (b)  the stock ocpp ChargePoint as shipped (thread-pool schema validation)
    (c)  fleet stations as shipped: every answer validated against its schema. The responder
         answers with millisecond timestamps, as a real CSMS does: the headline figure
    (c'') as (c) against a responder repeating its answers byte for byte within each second.
         fleet once kept a memo of answers already found valid; measured here it saved nothing
         (a compiled check costs ~1 µs, about what the memo's own lookup did) and it was
         removed. This row shows that no cache of answers flatters (c) any more
    (d)  fleet stations, schema validation off
    (c') as (c) with message ids from a counter (``csms.message_ids: counter``): what the
         default random UUIDs cost
    (e)  fleet stations in a charging session: MeterValues round trips, each built as a
         charger builds it (a meter reading of the five default measurands, the 1.6 shape),
         every answer validated. The issue's target: (e) at most 1.3 times (c)
    (e') as (e), one reading made before the timed part and sent every time: what a 700-byte
         MeterValues costs on the wire and in the station, before any reading is made
    (e1) as (e) with the Energy register only (OCPP 1.6's default MeterValuesSampledData)
    (c2) as (c), OCPP 2.0.1 stations
    (e2) 2.0.1 stations in a charging session: TransactionEvent(Updated) round trips, each with
         a reading made (the five measurands, numbers and unitOfMeasure, seqNo counted). The
         issue's target for 2.0.1: (e2) at most 1.3 times (c2)
    (e2') as (e2), one reading made beforehand and sent every time, as (e') is to (e)

Each variant runs in its own process against a fresh minimal responder, rounds interleaved so
machine noise hits all of them alike, all with fleet's GC setting
(``fleet.process.tune_gc``). Reported: median µs of client CPU per round trip, and the
ratios to (a') and (a) measured in the same run.

    python bench/cpu_per_rtt.py [--stations 200] [--round-trips 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop
import websockets

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import median, responder, run_child
from fleet.scenario_charging import Evse, Sessions
from fleet.station.generator import SessionGenerator
from fleet.station.meter import Meter
from fleet.station.transaction import Tx

VARIANTS = {
    "transport": "(a') fleet's transport alone (websockets sans-I/O + orjson, no OCPP)",
    "raw": "(a) websockets' asyncio client + orjson, no OCPP",
    "ocpp": "(b) stock ocpp ChargePoint",
    "fleet": "(c) fleet as shipped: every answer validated (ms timestamps)",
    "fleet-repeat": "(c'') as (c), answers repeated byte for byte (nothing cached)",
    "fleet-novalidate": "(d) fleet, validation off",
    "fleet-counter": "(c') as (c), counter message ids",
    "fleet-meter": "(e) fleet, MeterValues in a session (5 measurands)",
    "fleet-meter-fixed": "(e') as (e), one reading sent every time (none made)",
    "fleet-meter-energy": "(e1) as (e), the Energy register only",
    "fleet-201": "(c2) as (c), OCPP 2.0.1 stations",
    "fleet-event": "(e2) 2.0.1, TransactionEvent(Updated) in a session (5 measurands)",
    "fleet-event-fixed": "(e2') as (e2), one reading sent every time (none made)",
}
# Every other fleet variant: 1.6.
VERSION = {"fleet-201": "2.0.1", "fleet-event": "2.0.1", "fleet-event-fixed": "2.0.1"}
MEASURANDS = {"fleet-meter-energy": ("Energy.Active.Import.Register",)}
RESPONDER = {"fleet-repeat": "repeat"}  # every other variant: millisecond timestamps
OPTIONS: dict[str, Any] = {"compression": None, "ping_interval": None}


async def _cpu_of(clients: list[Any], one: Callable[[Any], Awaitable[None]]) -> float:
    """CPU seconds this process spends while ``one(client)`` runs for every client at once."""
    started = time.process_time()
    await asyncio.gather(*(one(client) for client in clients))
    return time.process_time() - started


async def _raw(url: str, stations: int, round_trips: int) -> float:
    conns = [
        await websockets.connect(f"{url}/RAW-{i}", subprotocols=["ocpp1.6"], **OPTIONS)  # type: ignore[list-item]
        for i in range(stations)
    ]

    async def one(ws: Any) -> None:
        for k in range(round_trips):
            await ws.send(orjson.dumps([2, str(k), "Heartbeat", {}]), text=True)
            orjson.loads(await ws.recv(decode=False))

    spent = await _cpu_of(conns, one)
    for ws in conns:
        await ws.close()
    return spent


async def _transport(url: str, stations: int, round_trips: int) -> float:
    from fleet.station.connect import connect

    conns = [await connect(url, f"SANS-{i}", "1.6", 10) for i in range(stations)]

    async def one(ws: Any) -> None:
        for k in range(round_trips):
            ws.send(orjson.dumps([2, str(k), "Heartbeat", {}]))
            orjson.loads(await ws.recv())

    spent = await _cpu_of(conns, one)
    for ws in conns:
        await ws.close()
    return spent


async def _stock_ocpp(url: str, stations: int, round_trips: int) -> float:
    from ocpp.v16 import ChargePoint, call

    points = []
    for i in range(stations):
        ws = await websockets.connect(f"{url}/OCPP-{i}", subprotocols=["ocpp1.6"], **OPTIONS)  # type: ignore[list-item]
        cp = ChargePoint(f"OCPP-{i}", ws)
        asyncio.get_running_loop().create_task(cp.start())
        points.append((cp, ws))

    async def one(cp: Any) -> None:
        for _ in range(round_trips):
            await cp.call(call.Heartbeat())

    spent = await _cpu_of([cp for cp, _ in points], one)
    for _, ws in points:
        await ws.close()
    return spent


async def _fleet(
    url: str,
    stations: int,
    round_trips: int,
    validate: bool,
    ids: str,
    meter: str,
    measurands: tuple[str, ...] | None,
    version: str,
) -> float:
    """``meter``: "" (Heartbeat), "made" (a reading made per MeterValues or TransactionEvent),
    "fixed" (one reading made beforehand, sent every time); ``measurands`` for the reading."""
    from fleet import wire
    from fleet.metrics.summary import Summary
    from fleet.scenario import Scenario
    from fleet.station.connect import connect
    from fleet.station.session import make_station
    from fleet.station.state import State

    scenario = Scenario.model_validate(
        {
            "stations": {"count": stations, "id_pattern": "FLEET-{index}", "ocpp": version},
            "csms": {"check_schemas": validate, "message_ids": ids},
        }
    )
    summary = Summary()
    fleet = []
    sessions = []
    loop = asyncio.get_running_loop()
    for index in range(1, stations + 1):
        station = make_station(scenario, index, summary)
        transport = await connect(url, station.id, station.version, 10)
        sessions.append(loop.create_task(station.run(transport)))
        fleet.append(station)
    while not all(s.state is State.ACCEPTED for s in fleet):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # StatusNotifications done; heartbeats are 300 s away
    wire.checker(version, "Heartbeat", "response")  # compiled once per process, not per trip

    traffic = round_trips_of(fleet, round_trips, meter, measurands)
    spent = await _cpu_of(fleet, traffic)
    action = action_of(fleet[0], meter)
    assert summary.rows[action].count == stations * round_trips
    assert summary.failure_count == 0
    for station in fleet:
        await station.stop()
    await asyncio.wait(sessions, timeout=10)
    return spent


def action_of(station: Any, meter: str) -> str:
    """What a round trip sends: Heartbeat, or the reading (MeterValues in 1.6, TransactionEvent
    in 2.0.1)."""
    if not meter:
        return "Heartbeat"
    return "TransactionEvent" if station.tx_shapes.v201 else "MeterValues"


def round_trips_of(
    fleet: list[Any], round_trips: int, meter: str, measurands: tuple[str, ...] | None = None
) -> Callable[[Any], Awaitable[None]]:
    """One station's timed round trips: Heartbeats (``meter`` ""), or readings in a session
    (1.6 MeterValues, 2.0.1 TransactionEvent(Updated)) with one made for each ("made") or one
    made beforehand ("fixed")."""
    if not meter:

        async def beats(station: Any) -> None:
            for _ in range(round_trips):
                await station.call("Heartbeat", {})

        return beats
    sessions = {station.id: charging_session(station, measurands) for station in fleet}
    now = time.time()
    fixed = {
        station.id: station.tx_shapes.update(
            tx, in_session.read(now), "MeterValuePeriodic", now
        ).payload
        for station in fleet
        for in_session, tx in (sessions[station.id],)
    }

    async def readings(station: Any) -> None:
        in_session, tx = sessions[station.id]
        update = station.tx_shapes.update
        action = action_of(station, meter)
        for _ in range(round_trips):
            if meter == "fixed":
                payload = fixed[station.id]
            else:
                now = time.time()
                payload = update(tx, in_session.read(now), "MeterValuePeriodic", now).payload
            await station.call(action, payload)

    return readings


def charging_session(station: Any, measurands: tuple[str, ...] | None = None) -> tuple[Meter, Tx]:
    """A connector with an EV plugged in and a transaction running, as a charger has them: the
    CSMS's transactionId in 1.6, the station's own in 2.0.1."""
    config = Sessions()
    gen = SessionGenerator.for_connector(config, station.id, 1)
    meter = Meter(Evse(), gen.rng)
    meter.plug(gen.demand(), time.time())
    tx_id: str | int = f"{station.id}-tx-1" if station.tx_shapes.v201 else 1
    return meter, Tx(1, "TAG-00001", measurands or config.measurands, tx_id=tx_id)


def child(variant: str, url: str, stations: int, round_trips: int) -> None:
    from fleet.process import tune_gc

    # The same process setting for every client: fleet runs with it (runner, Locust bridge).
    tune_gc()
    if variant == "raw":
        spent = uvloop.run(_raw(url, stations, round_trips))
    elif variant == "transport":
        spent = uvloop.run(_transport(url, stations, round_trips))
    elif variant == "ocpp":
        spent = uvloop.run(_stock_ocpp(url, stations, round_trips))
    else:
        validate = variant != "fleet-novalidate"
        ids = "counter" if variant == "fleet-counter" else "uuid"
        meter = {
            "fleet-meter": "made",
            "fleet-meter-energy": "made",
            "fleet-meter-fixed": "fixed",
            "fleet-event": "made",
            "fleet-event-fixed": "fixed",
        }
        spent = uvloop.run(
            _fleet(
                url,
                stations,
                round_trips,
                validate,
                ids,
                meter.get(variant, ""),
                MEASURANDS.get(variant),
                VERSION.get(variant, "1.6"),
            )
        )
    total = stations * round_trips
    print(json.dumps({"variant": variant, "cpu_s": spent, "round_trips": total}))


def measure(stations: int, round_trips: int, rounds: int) -> dict[str, float]:
    """Median µs of CPU per round trip for each variant."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    # A fresh responder for every measurement: a shared one carried the previous client's
    # leftovers (the stock ocpp client's especially) into whoever ran next, by up to 50 %.
    for _ in range(rounds):
        for variant in VARIANTS:
            with responder(timestamps=RESPONDER.get(variant, "ms")) as url:
                time.sleep(0.3)
                result = run_child(
                    [__file__, "child", variant, url, str(stations), str(round_trips)]
                )
            samples[variant].append(result["cpu_s"] / result["round_trips"] * 1e6)
    return {variant: median(values) for variant, values in samples.items()}


def table(results: dict[str, float]) -> str:
    floor, websockets_client = results["transport"], results["raw"]
    lines = [
        "| client | CPU µs / round trip | × (a') floor | × (a) |",
        "|---|---:|---:|---:|",
    ]
    for variant, label in VARIANTS.items():
        value = results[variant]
        lines.append(
            f"| {label} | {value:.1f} | {value / floor:.2f} | {value / websockets_client:.2f} |"
        )
    heartbeat = results["fleet"]
    lines += [
        "",
        f"MeterValues in a session / Heartbeat, same run: (e) / (c) = "
        f"{results['fleet-meter'] / heartbeat:.2f} (target ≤ 1.3); "
        f"(e') / (c) = {results['fleet-meter-fixed'] / heartbeat:.2f} with no reading made, "
        f"(e1) / (c) = {results['fleet-meter-energy'] / heartbeat:.2f} with one measurand; "
        f"2.0.1: (e2) / (c2) = {results['fleet-event'] / results['fleet-201']:.2f} "
        f"(target ≤ 1.3), (e2') / (c2) = "
        f"{results['fleet-event-fixed'] / results['fleet-201']:.2f} with no reading made. "
        f"Random UUID message ids cost (c) - (c') = "
        f"{heartbeat - results['fleet-counter']:+.1f} µs per round trip.",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--round-trips", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(table(measure(args.stations, args.round_trips, args.rounds)))


if __name__ == "__main__":
    main()
