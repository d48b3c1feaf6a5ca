"""A CSMS that sends every command a station answers, with random payloads valid against the ocpp
package's schemas (``payloads.Payloads``), some several at once, and answers the station's own
calls with random valid answers, to a whole station in memory with sessions running and its link
dropping now and then. Whatever it sends, the station answers each command with a CALLRESULT its
response schema accepts, sends only valid calls, fleet's own code never fails (no "station error"
or "session error", nothing logged at ERROR), every transaction message reaches the CSMS, and
the station goes on: dropped or rebooted, it connects again; at the end a TriggerMessage still
brings a Heartbeat. A failing run names its seed, the command and its payload."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from fleet import wire
from fleet.metrics.summary import Summary
from fleet.station.behaviour import format_time
from fleet.station.channel import TransportClosed
from fleet.station.core import Station
from fleet.station.memory import MemoryTransport, memory_pair
from fleet.station.state import Ending, State
from fleet.station.transaction import Counts
from fleet.station.v16 import StationV16
from fleet.station.v201 import StationV201
from tests.conftest import make_scenario, wait_until
from tests.station.payloads import Payloads

SEEDS = range(4)
DROP_SEEDS = range(1)  # ~5 s a seed per version
COMMANDS = 80
BOOT = {"interval": 300, "status": "Accepted"}
SESSIONS = {"arrivals_per_hour": 3600, "plug_in_min": {"min": 0.05, "max": 0.3}}
OWN_FAILURES = ("station error", "session error")
STARTS = ("badge_first", "plug_first", "plug_then_remote")


class Csms:
    """The CSMS's end: answers the station's calls at random (a boot is accepted), sends
    commands and waits for their answers, and checks every frame the station sends."""

    def __init__(self, version: str, seed: int, accepting: float = 0.5, slow: bool = False) -> None:
        self.version = version
        self.slow = random.Random(f"{version}:{seed}:slow") if slow else None
        # Its own draws: how many calls the station makes depends on timing, the commands not.
        # ``accepting``: how often an answer's status is its first value (mostly Accepted).
        rnd = random.Random(f"{version}:{seed}:answers")
        self.answers = Payloads(version, rnd, accepting)
        self.transport: MemoryTransport | None = None
        # Commands awaiting their answer: the link each went on, and the answer to come.
        self.waiting: dict[str, tuple[MemoryTransport, asyncio.Future[list[Any] | None]]] = {}
        self.ids = (f"csms-{n}" for n in itertools.count(1))
        self.received: Counter[str] = Counter()
        self.problems: list[str] = []
        self.known: dict[str, list[Any]] = {"transactionId": [], "reservationId": []}
        # What reached the CSMS of each transaction, to check nothing was lost: 1.6 starts by
        # (connector, timestamp) (a start sent again after a drop is the same start) and
        # stops by (transactionId, timestamp); 2.0.1 seqNos and eventTypes by transactionId.
        self.starts: set[tuple[int, str]] = set()
        self.stops: set[tuple[int, str]] = set()
        self.events: dict[str, dict[int, str]] = {}
        self.tx_ids = itertools.count(1000)

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
            answer["transactionId"] = next(self.tx_ids)  # unique, as a CSMS's are
            self.known["transactionId"].append(answer["transactionId"])
            self.starts.add((payload["connectorId"], payload["timestamp"]))
        elif action == "StopTransaction":
            self.stops.add((payload["transactionId"], payload["timestamp"]))
        elif action == "TransactionEvent":
            tx_id = payload["transactionInfo"]["transactionId"]
            self.known["transactionId"].append(tx_id)
            self.events.setdefault(tx_id, {})[payload["seqNo"]] = payload["eventType"]

    def nothing_lost(self, counts: Counts) -> None:
        """Every transaction the station started and ended reached the CSMS whole: 1.6 a start
        and a stop each; 2.0.1 every seqNo from 0, Started first, Ended last."""
        if self.version == "1.6":
            assert len(self.starts) == counts.started, (self.starts, counts)
            assert len(self.stops) == counts.completed, (self.stops, counts)
            return
        ended = 0
        for tx_id, events in self.events.items():
            assert sorted(events) == list(range(len(events))), (tx_id, events)
            assert events[0] == "Started", (tx_id, events)
            if "Ended" in events.values():
                ended += 1
                assert events[max(events)] == "Ended", (tx_id, events)
        assert (len(self.events), ended) == (counts.started, counts.completed), counts

    async def serve(self, transport: MemoryTransport) -> None:
        self.transport = transport
        while True:
            try:
                message = orjson.loads(await transport.recv())
            except TransportClosed:  # what was asked on this link gets no answer
                for unique_id, (link, future) in list(self.waiting.items()):
                    if link is transport:
                        del self.waiting[unique_id]
                        future.set_result(None)
                return
            if message[0] != 2:
                asked = self.waiting.pop(message[1], None)
                if asked is not None and not asked[1].done():
                    asked[1].set_result(message)
                continue
            action, payload = message[2], message[3]
            self.received[action] += 1
            try:
                wire.validate(self.version, action, "request", payload)
            except wire.SchemaViolation as exc:
                self.problems.append(f"the station sent {action} {payload}: {exc}")
            if action == "BootNotification":  # accepted, with the time now (as a CSMS says)
                answer = {**BOOT, "currentTime": format_time(time.time())}
            else:
                answer = self.answers.response(action)
            self._learn(action, payload, answer)
            frame = orjson.dumps([3, message[1], answer])
            if self.slow:  # late, now and then: a drop may catch a message in flight
                delay = self.slow.choice((0.0, 0.0, 0.02, 0.1))
                asyncio.get_running_loop().call_later(delay, _send, transport, frame)
            else:
                _send(transport, frame)

    async def command(self, action: str, payload: dict[str, Any]) -> list[Any] | None:
        """Send a command; the station's answer (None: the connection ended first)."""
        transport = self.transport
        assert transport is not None
        unique_id = next(self.ids)
        future: asyncio.Future[list[Any] | None] = asyncio.get_running_loop().create_future()
        self.waiting[unique_id] = (transport, future)
        try:
            transport.send(orjson.dumps([2, unique_id, action, payload]))
        except TransportClosed:
            return None
        done, _ = await asyncio.wait([future], timeout=3)
        if not done:
            return None if transport.close_code is not None else [0, unique_id, "no answer"]
        return future.result()


def _send(transport: MemoryTransport, frame: bytes) -> None:
    with contextlib.suppress(TransportClosed):  # the link dropped meanwhile
        transport.send(frame)


class Link:
    """A station and the CSMS's end of its link, connected again as often as a test asks."""

    def __init__(self, station: Station, csms: Csms) -> None:
        self.station = station
        self.csms = csms
        self.serving: list[asyncio.Task[None]] = []
        self.life: asyncio.Task[Ending] | None = None

    async def connect(self) -> None:
        mine, theirs = memory_pair()
        self.serving.append(asyncio.create_task(self.csms.serve(theirs)))
        life = self.life = asyncio.create_task(self.station.run(mine))
        await wait_until(lambda: self.station.state is State.ACCEPTED or life.done(), 3)

    @property
    def down(self) -> bool:
        return self.life is None or self.life.done()

    async def drop(self) -> Ending:
        """The link drops now (a reboot may be on its way already: then it says so)."""
        end = self.station._transport
        assert isinstance(end, MemoryTransport) and self.life is not None
        end.cut("fuzz: the link dropped")
        return await asyncio.wait_for(self.life, 3)

    def delivered(self) -> bool:
        """Nothing waits in the station's queue of transaction messages."""
        outbound = self.station.outbound
        return outbound is None or outbound.pending == 0

    def counts(self) -> Counts:
        """The station's sessions started and ended, over its connectors."""
        total, charging = Counts(), self.station.charging
        for charger in charging.chargers if charging is not None else []:
            total.started += charger.counts.started
            total.completed += charger.counts.completed
        return total

    async def close(self) -> None:
        assert self.csms.transport is not None and self.life is not None
        await self.csms.transport.close()
        await asyncio.wait_for(self.life, 3)
        await asyncio.wait_for(asyncio.gather(*self.serving), 3)


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
    link = Link(station, csms)
    await link.connect()
    for _ in range(COMMANDS):
        if links.random() < 0.03 and not link.down:  # the link drops (the queue holds on)
            assert await link.drop() in (Ending.LOST, Ending.REBOOT)
            sent["dropped"] += 1
            await link.connect()
        if link.down:  # rebooted (Reset, a firmware update): it connects and boots again
            assert link.life is not None and link.life.result() is Ending.REBOOT
            sent["reconnected"] += 1
            await link.connect()
        burst = []  # now and then several at once, as a CSMS may send before an answer
        for _ in range(1 if links.random() < 0.8 else links.choice((2, 3))):
            action = rnd.choice(actions)
            payload = csms.aimed(commands.request(action), rnd)
            if action == "ReserveNow":
                held = payload.get("id", payload.get("reservationId"))
                csms.known["reservationId"].append(held)
            burst.append((action, payload))
        answers = await asyncio.gather(*(csms.command(a, p) for a, p in burst))
        for (action, payload), answer in zip(burst, answers, strict=True):
            if answer is None:
                continue  # the connection ended under it (a reboot)
            assert answer[0] == 3, f"seed {seed}: {action} {payload} -> {answer}"
            wire.validate(version, action, "response", answer[2])
            sent[action] += 1
            sent["at once"] += len(burst) > 1
        await asyncio.sleep(rnd.choice((0, 0, 0.01, 0.05)))
    beats, answer = csms.received["Heartbeat"], None
    for _ in range(3):  # a reboot may be under way
        if link.down:
            await link.connect()
        answer = await csms.command("TriggerMessage", {"requestedMessage": "Heartbeat"})
        if answer is not None:
            break
        await asyncio.sleep(0.1)
    assert answer is not None and answer[2] == {"status": "Accepted"}, answer
    await wait_until(lambda: csms.received["Heartbeat"] > beats, 3)
    assert not csms.problems, csms.problems[:3]
    await wait_until(link.delivered, 5)
    csms.nothing_lost(link.counts())
    own = [r for r in summary.failure_reasons if r.startswith(OWN_FAILURES)]
    assert not own, (seed, own, dict(summary.failure_reasons))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, (seed, errors[:3])
    await link.close()
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
    assert seen[tx] >= 1 and seen["reconnected"] >= 1 and seen["dropped"] >= 1, seen
    assert seen["at once"] >= 10, seen


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_station_whose_link_drops_at_random_loses_no_transaction_message(
    version: str,
) -> None:
    """Sessions every second or so on two connectors while the link drops at random moments
    (a message in flight or not, the station offline for a while or back at once, resuming or
    booting again): once the link holds, every transaction the station started and ended has
    reached the CSMS whole (``Csms.nothing_lost``)."""
    for seed in DROP_SEEDS:
        rnd = random.Random(f"drops:{version}:{seed}")
        scenario = make_scenario(
            stations={"count": 1, "ocpp": {version: 1}, "connectors": 2},
            sessions={**SESSIONS, "plug_in_min": {"min": 0.01, "max": 0.03}, "seed": seed}
            | {"meter_interval_s": 0.2, "arrivals_per_hour": 3600},
            reconnect={"resume_within_s": rnd.choice((0, 60))},
        )
        station = (StationV16 if version == "1.6" else StationV201)("CP-1", scenario, Summary())
        csms = Csms(version, seed, accepting=1.0, slow=True)  # drivers charge: what to lose
        link, drops = Link(station, csms), 0
        await link.connect()
        for _ in range(40):
            await asyncio.sleep(rnd.uniform(0.02, 0.15))
            if rnd.random() < 0.3 or link.down:
                if not link.down:
                    await link.drop()
                    drops += 1
                await asyncio.sleep(rnd.choice((0, 0, 0.1, 0.4)))  # offline, charging on
                await link.connect()
        await wait_until(link.delivered, 5)
        counts = link.counts()
        assert drops >= 5 and counts.completed >= 1, (drops, counts)
        csms.nothing_lost(counts)
        await link.close()
