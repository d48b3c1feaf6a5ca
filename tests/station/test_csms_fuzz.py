"""A CSMS that sends every command a station answers, with random payloads valid against the ocpp
package's schemas (``payloads.Payloads``), and answers the station's own calls with random valid
answers, to a whole station in memory with sessions running and its link dropping now and then.
Whatever it sends, the station answers each command with a CALLRESULT its response schema
accepts, sends only valid calls, fleet's own code never fails (no "station error" or "session
error", nothing logged at ERROR), and the station goes on: dropped or rebooted, it connects
again; at the end a TriggerMessage still brings a Heartbeat. A failing run names its seed, the
command and its payload."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import Counter
from typing import Any

import orjson
import pytest

from fleet import wire
from fleet.metrics.summary import Summary
from fleet.station.channel import TransportClosed
from fleet.station.memory import MemoryTransport, memory_pair
from fleet.station.state import Ending, State
from fleet.station.v16 import StationV16
from fleet.station.v201 import StationV201
from tests.conftest import make_scenario, wait_until
from tests.station.payloads import Payloads

SEEDS = range(4)
COMMANDS = 80
BOOT = {"currentTime": "2030-01-01T00:00:00.000Z", "interval": 300, "status": "Accepted"}
SESSIONS = {"arrivals_per_hour": 3600, "plug_in_min": {"min": 0.05, "max": 0.3}}
OWN_FAILURES = ("station error", "session error")
STARTS = ("badge_first", "plug_first", "plug_then_remote")


class Csms:
    """The CSMS's end: answers the station's calls at random (a boot is accepted), sends
    commands and waits for their answers, and checks every frame the station sends."""

    def __init__(self, version: str, seed: int) -> None:
        self.version = version
        # Its own draws: how many calls the station makes depends on timing, the commands not.
        self.answers = Payloads(version, random.Random(f"{version}:{seed}:answers"))
        self.transport: MemoryTransport | None = None
        self.waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self.ids = (f"csms-{n}" for n in itertools.count(1))
        self.received: Counter[str] = Counter()
        self.problems: list[str] = []
        self.known: dict[str, list[Any]] = {"transactionId": [], "reservationId": []}

    def aimed(self, payload: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
        """Most of the time, a transaction or reservation the station has, not a random id."""
        for key, value in payload.items():
            if isinstance(value, dict):
                self.aimed(value, rnd)
            elif key in self.known and self.known[key] and rnd.random() < 0.7:
                payload[key] = rnd.choice(self.known[key])
        return payload

    def _learn(self, action: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if action == "StartTransaction":
            self.known["transactionId"].append(answer["transactionId"])
        elif action == "TransactionEvent":
            self.known["transactionId"].append(payload["transactionInfo"]["transactionId"])

    async def serve(self, transport: MemoryTransport) -> None:
        self.transport = transport
        while True:
            try:
                message = orjson.loads(await transport.recv())
            except TransportClosed:
                return
            if message[0] != 2:
                future = self.waiting.pop(message[1], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            action, payload = message[2], message[3]
            self.received[action] += 1
            try:
                wire.validate(self.version, action, "request", payload)
            except wire.SchemaViolation as exc:
                self.problems.append(f"the station sent {action} {payload}: {exc}")
            answer = BOOT if action == "BootNotification" else self.answers.response(action)
            self._learn(action, payload, answer)
            transport.send(orjson.dumps([3, message[1], answer]))

    async def command(self, action: str, payload: dict[str, Any]) -> list[Any] | None:
        """Send a command; the station's answer (None: the connection ended first)."""
        transport = self.transport
        assert transport is not None
        unique_id = next(self.ids)
        future = self.waiting[unique_id] = asyncio.get_running_loop().create_future()
        try:
            transport.send(orjson.dumps([2, unique_id, action, payload]))
        except TransportClosed:
            return None
        done, _ = await asyncio.wait([future], timeout=3)
        if not done:
            return None if transport.close_code is not None else [0, unique_id, "no answer"]
        return future.result()


async def _one_station(version: str, seed: int, caplog: pytest.LogCaptureFixture) -> Counter:
    rnd = random.Random(f"{version}:{seed}")
    commands = Payloads(version, rnd)
    links = random.Random(f"{version}:{seed}:links")  # drops, start mode: apart from commands
    scenario = make_scenario(
        stations={"count": 1, "ocpp": {version: 1}, "connectors": 2},
        sessions={**SESSIONS, "meter_interval_s": 1, "seed": seed, "start": links.choice(STARTS)},
        reconnect={"resume_within_s": links.choice((0, 60))},  # boot again, or go on Accepted
    )
    summary = Summary()
    station = (StationV16 if version == "1.6" else StationV201)("CP-1", scenario, summary)
    csms = Csms(version, seed)
    actions = sorted(str(action) for action in type(station).routes)
    sent: Counter[str] = Counter()

    serving: list[asyncio.Task[None]] = []

    async def connect() -> asyncio.Task[Ending]:
        mine, theirs = memory_pair()
        serving.append(asyncio.create_task(csms.serve(theirs)))
        life = asyncio.create_task(station.run(mine))
        await wait_until(lambda: station.state is State.ACCEPTED or life.done(), 3)
        return life

    life = await connect()
    for _ in range(COMMANDS):
        if links.random() < 0.03 and not life.done():  # the link drops (the queue holds on)
            station_end = station._transport
            assert isinstance(station_end, MemoryTransport)
            station_end.cut("fuzz: the link dropped")
            ending = await asyncio.wait_for(life, 3)
            assert ending in (Ending.LOST, Ending.REBOOT), ending  # a reboot may be on its way
            sent["dropped"] += 1
            life = await connect()
        if life.done():  # rebooted (Reset, a firmware update): it connects and boots again
            assert life.result() is Ending.REBOOT, life.result()
            sent["reconnected"] += 1
            life = await connect()
        action = rnd.choice(actions)
        payload = csms.aimed(commands.request(action), rnd)
        if action == "ReserveNow":
            csms.known["reservationId"].append(payload.get("id", payload.get("reservationId")))
        answer = await csms.command(action, payload)
        told = f"seed {seed}: {action} {payload} -> {answer}"
        if answer is None:
            continue  # the connection ended under it (a reboot)
        assert answer[0] == 3, told
        wire.validate(version, action, "response", answer[2])
        sent[action] += 1
        await asyncio.sleep(rnd.choice((0, 0, 0.01, 0.05)))
    beats, answer = csms.received["Heartbeat"], None
    for _ in range(3):  # a reboot may be under way
        if life.done():
            life = await connect()
        answer = await csms.command("TriggerMessage", {"requestedMessage": "Heartbeat"})
        if answer is not None:
            break
        await asyncio.sleep(0.1)
    assert answer is not None and answer[2] == {"status": "Accepted"}, answer
    await wait_until(lambda: csms.received["Heartbeat"] > beats, 3)
    assert not csms.problems, csms.problems[:3]
    own = [r for r in summary.failure_reasons if r.startswith(OWN_FAILURES)]
    assert not own, (seed, own, dict(summary.failure_reasons))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, (seed, errors[:3])
    assert csms.transport is not None
    await csms.transport.close()
    await asyncio.wait_for(life, 3)
    await asyncio.wait_for(asyncio.gather(*serving), 3)
    return sent + csms.received


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_station_answers_whatever_valid_commands_a_csms_sends(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: Counter[str] = Counter()
    with caplog.at_level(logging.ERROR):
        for seed in SEEDS:
            seen += await _one_station(version, seed, caplog)
    # The runs went where it matters: every command sent, sessions ran, a reboot came back.
    routed = StationV16.routes if version == "1.6" else StationV201.routes
    assert all(seen[str(action)] for action in routed), seen
    tx = "StartTransaction" if version == "1.6" else "TransactionEvent"
    assert seen[tx] >= 3 and seen["reconnected"] >= 1 and seen["dropped"] >= 1, seen
