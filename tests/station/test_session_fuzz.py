"""One charger driven at random, without sockets or sleeps: its own sessions and faults, the
CSMS's answers (accepted, refused, failed, late), its commands (remote start and stop, unlock,
ReserveNow, ChangeAvailability, TriggerMessage, new sample intervals), the console's verbs and
outages, interleaved as no hand-written test does. Whatever happens, what a CSMS relies on holds:
every message valid, 1.6's errorCode set only while Faulted, a status reported only when it
changes, each transaction whole and in order, the meter never going back, time never going
back, nothing started on a connector the CSMS set Inoperative, and no decision failing."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from fleet import wire
from fleet.scenario_charging import Evse, Sessions
from fleet.scenario_faults import Faults
from fleet.station.charging import Chargers
from fleet.station.connectors import Connector, Status
from fleet.station.faults import FaultPlan
from fleet.station.generator import SessionGenerator
from fleet.station.intents import Send
from fleet.station.meter import Meter
from fleet.station.reservations import Reservation
from fleet.station.sessions import FaultyCharger, Phase
from fleet.station.transaction import RESET, UNLOCKED, TxSettings
from fleet.station.v16_tx import TxShapes as Shapes16
from fleet.station.v201_tx import TxShapes as Shapes201
from tests.station.test_sessions import FAST, T0

SEEDS = range(60)
STEPS = 400
TAGS = ("TAG-1", "TAG-2", "HELD")
# What the CSMS may do between two of the charger's own steps, and how often (weights).
COMMANDS = {
    "remote start": 3,
    "remote stop": 2,
    "unlock": 1,
    "reset": 1,
    "plug": 2,
    "stop": 2,
    "unplug": 2,
    "fault": 2,
    "clear": 2,
    "reserve": 2,
    "cancel": 1,
    "inoperative": 1,
    "operative": 2,
    "trigger": 1,
    "intervals": 1,
    "offline": 1,
    "online": 2,
}


@dataclass
class Run:
    """The charger, the wire between it and a CSMS (in order, one CALL in flight, transaction
    messages queued through an outage, others failing), and what was seen."""

    version: str
    rnd: random.Random
    charger: FaultyCharger
    now: float = T0
    online: bool = True
    outbox: list[Send] = field(default_factory=list)
    in_flight: tuple[float, Send] | None = None
    emitted: list[Send] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    inoperative: bool = False  # ChangeAvailability Inoperative, since it was reported
    asked_inoperative: bool = False  # the last ChangeAvailability was Inoperative
    tx_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    waits: list[tuple[float, Any]] = field(default_factory=list)  # (when, what): a CallError
    history: list[str] = field(default_factory=list)  # what happened, told when a check fails

    @classmethod
    def of(cls, version: str, seed: int) -> Run:
        """A charger of its own seed: sessions, faults and the station's settings drawn."""
        rnd = random.Random(f"{version}:{seed}")
        start = rnd.choice(("badge_first", "plug_first", "plug_then_remote"))
        config = Sessions.model_validate(
            {**FAST.model_dump(), "seed": seed, "plug_in_min": {"min": 0.5, "max": 30}}
            | {"start": start}
        )
        gen = SessionGenerator.for_connector(config, f"CP-{seed}", 1)
        shapes = Shapes16() if version == "1.6" else Shapes201()
        settings = TxSettings.of(config)
        settings.stop_on_invalid_id = rnd.random() < 0.5
        settings.authorize_remote = rnd.random() < 0.3
        settings.offline_unknown = rnd.random() < 0.5
        settings.start_on_plug = version == "2.0.1" and rnd.random() < 0.5
        faults = Faults(per_day=86_400 / 600, duration_s={"min": 5, "max": 60})
        plan = FaultPlan.for_connector(faults, seed, f"CP-{seed}", 1, T0)
        ids = (f"tx-{n}" for n in itertools.count(1))
        parts = (Connector(1), Meter(Evse(), gen.rng), gen, shapes, lambda: next(ids), settings)
        return cls(version, rnd, FaultyCharger(*parts, faults=plan))

    def play(self) -> None:
        self.take(self.charger.begin(T0))
        for _ in range(STEPS):
            self.step()
            self.check_state()

    def check_state(self) -> None:
        """After each step: a fault has unplugged the EV (1.6 may still await the stop's
        answer); the connector is Unavailable exactly when the CSMS asked and no session or
        fault holds it; offline, nothing waits on the CSMS."""
        c = self.charger
        status, phase = c.connector.status, c.phase
        if status is Status.FAULTED:
            assert phase in (Phase.IDLE, Phase.STOPPING), f"Faulted while {phase.value}"
        elif self.asked_inoperative and phase is Phase.IDLE:
            assert status is Status.UNAVAILABLE, f"{status.value} though set Inoperative"
        if not self.asked_inoperative:
            assert status is not Status.UNAVAILABLE, "Unavailable though set Operative"
        if not self.online:  # nobody to wait for: offline, the station decides by itself
            assert not c.waiting, f"{phase.value} while offline"

    def take(self, sends: list[Send]) -> None:
        """What the charger decided: checked as made, then sent (or queued)."""
        for send in sends:
            self.emitted.append(send)
            self.history.append(f"  {send.action} {_brief(send.payload)}")
            if send.action == "StatusNotification":
                status = send.payload.get("status", send.payload.get("connectorStatus"))
                if status == "Unavailable":
                    self.inoperative = self.inoperative or self.asked_inoperative
                elif self.inoperative:
                    assert status == "Faulted", f"{status} on an Inoperative connector"
            if send.tx is not None and not self.online:
                self.charger.shapes.mark_offline(send)
            if send.tx is not None or self.online:
                self.outbox.append(send)
            elif self.charger.heeds(send.action, None) and send.tx is None:
                self.later(lambda s=send: self.answer(s, None))
        self.pump()

    def later(self, then: Any) -> None:
        self.waits.append((self.now + self.rnd.uniform(0.0, 0.5), then))

    def pump(self) -> None:
        """Put the next CALL on the wire when none is in flight (and the link is up)."""
        if self.in_flight is not None or not self.outbox or not self.online:
            return
        send = self.outbox.pop(0)
        tx = send.tx
        if tx is not None and "transactionId" in send.payload and send.action != "TransactionEvent":
            send.payload["transactionId"] = tx.tx_id  # a start answered since it was queued
        wire.validate(self.version, send.action, "request", send.payload)
        self.in_flight = (self.now + self.rnd.choice((0.001, 0.05, 0.4, 3.0, 30.0)), send)

    def answered(self) -> None:
        assert self.in_flight is not None
        send = self.in_flight[1]
        self.in_flight = None
        self.answer(send, self.csms_answer(send))
        self.pump()

    def csms_answer(self, send: Send) -> dict[str, Any] | None:
        rnd, action = self.rnd, send.action
        if send.tx is None and rnd.random() < 0.05:
            self.seen["failed answer"] += 1
            return None  # a CallError or no answer in time
        verdict = {"status": "Accepted" if rnd.random() < 0.85 else "Invalid"}
        if action == "Authorize":
            return {"idTagInfo": verdict} if self.version == "1.6" else {"idTokenInfo": verdict}
        if action == "StartTransaction":
            tx_id = next(self.tx_ids)
            send.tx.tx_id = tx_id
            return {"transactionId": tx_id, "idTagInfo": verdict}
        if action == "TransactionEvent" and "idToken" in send.payload:
            return {"idTokenInfo": verdict}
        return {}

    def answer(self, send: Send, answer: dict[str, Any] | None) -> None:
        charger = self.charger
        if send.tx is not None and not charger.heeds_answer_to(send):
            return
        if charger.heeds(send.action, answer):
            self.take(charger.on_answer(send.action, answer, self.now))

    def step(self) -> None:
        """Go to whatever is due first: the charger's wake-up, an answer, or a command."""
        charger, rnd = self.charger, self.rnd
        command_at = self.now + rnd.expovariate(1 / 20)
        dues = [(command_at, "command")]
        if charger.next_wake is not None:
            dues.append((charger.next_wake, "wake"))
        if self.in_flight is not None and self.online:
            dues.append((self.in_flight[0], "answer"))
        if self.waits:
            dues.append((min(at for at, _ in self.waits), "later"))
        at, what = min(dues, key=lambda due: due[0])
        assert at >= self.now - 1e-9 or what == "wake", (what, at - self.now)
        self.now = max(self.now, at)
        if what != "command":
            self.history.append(f"{self.now - T0:.3f} {what} in {charger.phase.value}")
        if what == "wake":
            self.take(charger.on_wake(self.now))
        elif what == "answer":
            self.answered()
        elif what == "later":
            due = [item for item in self.waits if item[0] <= self.now]
            self.waits = [item for item in self.waits if item[0] > self.now]
            for _, then in due:
                then()
        else:
            names = list(COMMANDS)
            self.command(rnd.choices(names, weights=[COMMANDS[n] for n in names])[0])

    def command(self, name: str) -> None:
        c, now, rnd = self.charger, self.now, self.rnd
        connector = c.connector
        held = connector.reservation
        tag = rnd.choice(TAGS)
        free = c.free and (held is None or held.tag == tag)
        plugged = c.phase in (Phase.CHARGING, Phase.PARKED)
        faulted = connector.status is Status.FAULTED
        was = c.phase.value
        done: list[Send] | None = None
        if name == "remote start" and (free or c.awaits_remote_start):
            done = c.remote_start(tag, now, rnd.randrange(1, 1000))
        elif name == "remote stop" and c.phase is Phase.CHARGING:
            done = c.remote_stop(now)
        elif name in ("unlock", "reset"):
            done = c.end(UNLOCKED if name == "unlock" else RESET, now)
            # Whatever the phase: a transaction that began (1.6 unconfirmed, 2.0.1 by the
            # cable, awaiting authorisation) ends with it.
            assert c.tx is None or c.phase is Phase.STOPPING, f"{name}: {c.phase.value}"
        elif name == "plug" and free:
            done = c.plug_in(tag, now)
        elif name == "stop" and c.phase is Phase.CHARGING:
            done = c.stop_by_driver(now)
        elif name == "unplug" and plugged:
            done = c.unplug(now)
        elif name == "fault" and not faulted and not c.waiting:
            done = c.fail(rnd.choice(("GroundFailure", "HighTemperature")), now)
        elif name == "clear" and faulted:
            done = c.clear_fault(now)
        elif name == "reserve" and c.free and held is None and connector.status is Status.AVAILABLE:
            connector.reservation = Reservation(rnd.randrange(1, 99), 1, "HELD", now + 900)
            done = c.mark(Status.RESERVED, now)
        elif name == "cancel" and held is not None:
            connector.reservation = None
            done = c.mark(Status.AVAILABLE, now) if connector.status is Status.RESERVED else []
        elif name in ("inoperative", "operative"):
            done = self.availability(name == "operative")
        elif name == "trigger":
            done = c.triggered(now, self.version == "2.0.1" and rnd.random() < 0.5)
        elif name == "intervals":
            c.settings.meter_interval_s = rnd.choice((10.0, 60.0))
            c.settings.clock_aligned_s = rnd.choice((0.0, 300.0))
            c.reconfigure(now)
            done = []
        elif name == "offline" and self.online:
            self.online = False
            if self.in_flight is not None:  # lost with the link: sent again, or failed
                send, self.in_flight = self.in_flight[1], None
                if send.tx is not None:
                    self.outbox.insert(0, send)
                else:
                    self.later(lambda: self.answer(send, None))
            self.outbox = [s for s in self.outbox if s.tx is not None]  # the rest fail
            done = c.went_offline(now)
        elif name == "online" and not self.online:
            self.online, c.offline = True, False
            self.pump()
            done = []
        if done is not None:
            self.history.append(f"{now - T0:.3f} {name} in {was}")
            self.seen[f"{name} in {was}" if name != "intervals" else name] += 1
            self.take(done)

    def availability(self, operative: bool) -> list[Send]:
        """ChangeAvailability as the station carries it out (``Chargers.set_availability``):
        a connector in a session takes an Inoperative when the session ends."""
        c = self.charger
        self.asked_inoperative = not operative
        if operative:
            self.inoperative = False
        old = c.connector.status
        Chargers.set_availability(SimpleNamespace(chargers=[c]), [1], operative)  # type: ignore[arg-type]
        new = c.connector.status
        report = c.shapes.status(1, old, new, self.now, c.connector.error_code)
        return [] if new is old or report is None else [report]


def _brief(payload: dict[str, Any]) -> str:
    keys = ("status", "connectorStatus", "errorCode", "eventType", "triggerReason", "reason")
    return " ".join(str(payload[k]) for k in keys if k in payload)


def statuses(sends: list[Send]) -> list[tuple[str, str | None]]:
    return [
        (s.payload.get("status", s.payload.get("connectorStatus")), s.payload.get("errorCode"))
        for s in sends
        if s.action == "StatusNotification"
    ]


def check(r: Run) -> None:
    reported = statuses(r.emitted)
    if r.version == "1.6":  # the fault's code while Faulted, NoError otherwise
        assert all((status == "Faulted") == (code != "NoError") for status, code in reported)
    assert all(a != b for a, b in itertools.pairwise(reported))  # a status only when it changes
    stamps = [s.payload["timestamp"] for s in r.emitted if "timestamp" in s.payload]
    assert stamps == sorted(stamps)
    by_tx: dict[int, list[Send]] = {}
    for send in r.emitted:
        if send.tx is not None:
            by_tx.setdefault(id(send.tx), []).append(send)
    meter = -1.0
    for sends in by_tx.values():
        if r.version == "1.6":
            actions = [s.action for s in sends]
            assert actions[0] == "StartTransaction" and actions.count("StartTransaction") == 1
            assert actions.count("StopTransaction") <= 1
            assert "StopTransaction" not in actions[:-1]
            start = sends[0].payload["meterStart"]
            assert start >= meter
            meter = start
            if actions[-1] == "StopTransaction":
                assert sends[-1].payload["meterStop"] >= start
                meter = sends[-1].payload["meterStop"]
        else:
            events = [s.payload for s in sends if s.action == "TransactionEvent"]
            assert events[0]["eventType"] == "Started"
            assert [e["seqNo"] for e in events] == list(range(len(events)))
            assert [e["eventType"] for e in events[1:-1]].count("Ended") == 0
    counts = r.charger.counts
    assert counts.started == len(by_tx)
    assert counts.completed <= counts.started


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_charger_driven_at_random_keeps_what_a_csms_relies_on(version: str) -> None:
    seen: Counter[str] = Counter()
    for seed in SEEDS:
        r = Run.of(version, seed)
        try:
            r.play()
            check(r)
        except AssertionError as e:
            story = "\n".join(r.history[-25:])
            raise AssertionError(f"seed {seed}: {e}\n{story}") from e
        seen += r.seen
        seen["transactions"] += r.charger.counts.started
        seen["faults"] += r.charger.counts.faults
    # The runs went where the invariants matter: every command, in the phases that count.
    for name in COMMANDS:
        assert any(key.startswith(name) for key in seen), name
    wanted = ["fault in charging", "fault in parked", "unplug in charging", "reset in charging"]
    wanted += ["inoperative in charging", "offline in charging", "offline in authorizing"]
    wanted += ["remote start in idle", "remote start in plugged", "failed answer"]
    if version == "1.6":  # waiting on the CSMS for its transactionId, or the stop's answer
        wanted += ["offline in starting", "offline in stopping", "clear in stopping"]
    for name in wanted:
        assert seen[name] >= 3, (name, seen)
    assert seen["transactions"] >= 8 * len(SEEDS) and seen["faults"] >= 8 * len(SEEDS), seen
