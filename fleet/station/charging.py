"""A station's chargers on the loop: the thin layer that runs ``sessions.Charger`` decisions.

Made for a station when it first needs one (sessions in the scenario, or a remote start), so an
idle fleet pays nothing for it. Each charger gets one timer for its ``next_wake``; every message it
decides on goes through the station's outbox (order kept, one CALL in flight) and its answer
comes back to the charger that sent it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from fleet.errors import CallFailed
from fleet.metrics.sample import MISSED_STALL, SESSION_ERROR, SessionDelta
from fleet.station.connectors import Connector, Status
from fleet.station.engine import Answer, Outgoing
from fleet.station.faults import FaultPlan
from fleet.station.generator import SessionGenerator
from fleet.station.ids import uuid4_text
from fleet.station.intents import Send
from fleet.station.limits import Limits
from fleet.station.meter import Meter
from fleet.station.reserving import Reserving
from fleet.station.sessions import Charger, FaultyCharger
from fleet.station.smart_charging import Profile
from fleet.station.transaction import Counts, StopReason, TxSettings
from fleet.station.wakes import Wakes

if TYPE_CHECKING:
    from fleet.station.life import Life

logger = logging.getLogger("fleet.station")

# A charger's timer runs on the loop's clock, which uvloop keeps in milliseconds and reads once
# per iteration, so it fires up to ~1.3 ms (measured) before the wall-clock instant the charger
# asked for. Told the wall clock, the charger found itself early and asked again for the rest,
# which fired at once, still early: ~6 wake-ups per reading (a decision, a timer and a report
# each), nearly doubling the CPU of a MeterValues. Woken this close to its instant, a charger
# is told the instant.
EARLY_S: Final = 0.005
# Every answer (one per reading) asks the charger for a decision and arms its timer again,
# mostly for the instant it is already set for: such a timer is kept, not cancelled and made
# anew.
KEPT_S: Final = 0.002
# Energy delivered reaches the sink at most this often per charger while nothing else changes:
# told after every reading, the report was ~8 % of the CPU a TransactionEvent costs in a whole
# run (bench 15). Sessions started or completed, and charging or not, are told at once; what
# is held back is told when the station stops.
ENERGY_EVERY_S: Final = 5.0

Decision = Callable[[Charger, float], list[Send]]


class Chargers:
    __slots__ = (
        "armed",
        "chargers",
        "counted",
        "kind",
        "latest",
        "limits",
        "report_at",
        "reported",
        "reserving",
        "running",
        "settings",
        "station",
        "timers",
        "wakes",
        "when_idle",
    )

    def __init__(self, station: Life) -> None:
        self.station = station
        scenario = station.scenario
        self.settings = self._settings()
        self.chargers: list[Charger] = []
        faults = scenario.faults
        # The chargers' class, whose methods ``decide`` calls unbound (no bound method made per
        # wake-up): connectors that fail now and then are FaultyChargers.
        self.kind: type[Charger] = FaultyCharger if faults.per_day else Charger
        for number in range(1, scenario.stations.connectors + 1):
            gen = SessionGenerator.for_connector(scenario.sessions, station.id, number)
            gen.surges = station.surges
            meter = Meter(scenario.stations.evse, gen.rng)
            # A connector the CSMS set Inoperative before chargers existed stays so.
            status = Status.UNAVAILABLE if number in station.unavailable else Status.AVAILABLE
            connector = Connector(number, status)
            parts = (connector, meter, gen, station.tx_shapes, uuid4_text, self.settings)
            if self.kind is FaultyCharger:
                seed, now = scenario.sessions.seed, station.now()
                plan = FaultPlan.for_connector(faults, seed, station.id, number, now)
                self.chargers.append(FaultyCharger(*parts, faults=plan))
            else:
                self.chargers.append(Charger(*parts))
        self.timers: list[asyncio.TimerHandle | None] = [None] * len(self.chargers)
        # Per charger, how many times its timer was set or cleared: a wake-up queued behind
        # others (``Wakes``) runs only if its timer is still the latest.
        self.armed = [0] * len(self.chargers)
        # What the sink has been told, per charger, and whether the station counts as charging.
        self.reported = [Counts() for _ in self.chargers]
        self.report_at = [0.0] * len(self.chargers)  # when energy alone may be told again
        self.counted = False
        self.when_idle: Callable[[], None] | None = None  # once no transaction runs (Reset)
        self.limits: Limits | None = None  # charging profiles (made when the CSMS sets one)
        self.reserving: Reserving | None = None  # reservations (made by the first ReserveNow)
        self.running = False  # begun and not halted: timers run (online or offline)
        self.wakes: Wakes | None = None  # the station loop's (kept: asked for on every reading)
        self.latest = 0.0  # the time the last decision was told

    def _settings(self) -> TxSettings:
        station = self.station
        scenario = station.scenario
        allow_unknown = scenario.offline.allow_unknown_tags
        v201 = station.version == "2.0.1"
        local = station.local()
        return TxSettings.of(scenario.sessions, station.settings, local, allow_unknown, v201)

    def reservations(self) -> Reserving:
        if self.reserving is None:
            self.reserving = Reserving(self)
        return self.reserving

    def profiles(self) -> Limits:
        """The station's charging profiles and the limits they put on the meters."""
        if self.limits is None:
            self.limits = Limits(self)
        return self.limits

    def begin(self) -> None:
        """Accepted (again): every charger plans (or resumes) its sessions; chargers that went
        on offline just go on, online."""
        for charger in self.chargers:
            charger.offline = False
        if self.running:
            return
        self.running = True
        for index in range(len(self.chargers)):
            self.decide(index, self.kind.begin)

    def surge(self, surges: tuple[tuple[float, float, float], ...]) -> None:
        """Peak hours (storms) for every connector's arrivals; planned arrivals are drawn
        again so a peak starting later is not missed."""
        now = self.station.now()
        for index, charger in enumerate(self.chargers):
            charger.gen.surges = surges
            if charger.free and charger.wake_at is not None:
                charger.begin(now)
                self._arm(index)

    def went_offline(self) -> None:
        """The connection was lost: the chargers go on without the CSMS."""
        for index in range(len(self.chargers)):
            self.decide(index, self.kind.went_offline)

    def halt(self) -> None:
        """The station stopped or reboots: no timer fires until it is accepted again. The
        energy held back is told now."""
        self.running = False
        for index in range(len(self.chargers)):
            self._report(index)
        for index, timer in enumerate(self.timers):
            self.armed[index] += 1
            if timer is not None:
                timer.cancel()
                self.timers[index] = None

    def configure(self) -> None:
        """The CSMS changed a transaction setting: every charger follows it from now."""
        fresh = self._settings()
        for name in TxSettings.__slots__:
            setattr(self.settings, name, getattr(fresh, name))
        now = self.station.now()
        for index, charger in enumerate(self.chargers):
            charger.reconfigure(now)
            self._arm(index)

    def close(self) -> None:
        """The station stopped for good: it no longer counts as charging."""
        self.halt()
        if self.reserving is not None:
            self.reserving.close()
        if self.counted:
            self.counted = False
            self._tell(SessionDelta(-1, 0, 0, 0.0))

    def run(self, index: int, sends: list[Send], now: float) -> None:
        """Send what a charger decided, then arm its timer for when it wants to be woken."""
        station, charger = self.station, self.chargers[index]
        for send in sends:
            action = send.action
            if send.tx is None:
                done = partial(self._answered, index, action)  # an Outgoing's is never None
                station.send(Outgoing(action, send.payload, done, judge=send.judge, row=send.row))
                continue
            if charger.offline:
                charger.shapes.mark_offline(send)
            # A reading's answer needs no callback: one partial and two calls fewer per reading.
            heeded = Charger.heeds_answer_to(send)
            answered = partial(self._answered, index, action) if heeded else None
            station.deliver(action, send.payload, send.row or action, send.tx, answered)
        self._arm(index)
        self._report(index, now)
        if self.when_idle is not None and not self.busy:
            idle, self.when_idle = self.when_idle, None
            idle()

    def _report(self, index: int, now: float | None = None) -> None:
        """Tell the sink how far this charger got since it last told it (``now``: energy alone
        only every ENERGY_EVERY_S; None: all of it)."""
        charger, seen = self.chargers[index], self.reported[index]
        counts = charger.counts
        started, completed = counts.started - seen.started, counts.completed - seen.completed
        faults = counts.faults - seen.faults
        # This charger in a transaction (a reading's common case) is the station charging:
        # ``busy`` walks every charger only otherwise.
        charging = charger.tx is not None or self.busy
        changed = started or completed or faults or charging != self.counted
        if not changed and now is not None and now < self.report_at[index]:
            return
        delivered = charger.delivered_wh
        energy_wh = delivered - seen.energy_wh
        if not (changed or energy_wh):
            return
        if now is not None:
            self.report_at[index] = now + ENERGY_EVERY_S
        seen.started, seen.completed, seen.energy_wh = counts.started, counts.completed, delivered
        seen.faults = counts.faults
        change = (1 if charging else -1) if charging != self.counted else 0
        self.counted = charging
        self._tell(SessionDelta(change, started, completed, energy_wh, faults))

    @property
    def busy(self) -> bool:
        """A transaction runs on one of the connectors."""
        # any() over a generator cost 2-3 times as much (twice per reading).
        for charger in self.chargers:  # noqa: SIM110
            if charger.in_transaction:
                return True
        return False

    def _picked(self, connectors: list[int] | None, transaction_event: bool) -> list[int]:
        chosen = range(len(self.chargers)) if connectors is None else [c - 1 for c in connectors]
        return [
            i
            for i in chosen
            if 0 <= i < len(self.chargers)
            and (self.chargers[i].in_transaction or not transaction_event)
        ]

    def can_trigger(self, connectors: list[int] | None, transaction_event: bool) -> bool:
        """Whether TriggerMessage MeterValues / TransactionEvent has something to send for
        these connectors (None: all): a TransactionEvent needs a running transaction."""
        return bool(self._picked(connectors, transaction_event))

    def trigger(self, connectors: list[int] | None, transaction_event: bool) -> None:
        """Send the current values of these connectors (after the TriggerMessage answer)."""
        for index in self._picked(connectors, transaction_event):
            self.decide(index, lambda charger, now: charger.triggered(now, transaction_event))

    def _tell(self, delta: SessionDelta) -> None:
        station = self.station
        station.sink.sessions(station.id, station.version, delta)

    def _arm(self, index: int) -> None:
        timer = self.timers[index]
        wake_at = self.chargers[index].next_wake
        loop = self.station._loop
        if wake_at is None or loop is None or not self.running:
            self.armed[index] += 1
            if timer is not None:
                timer.cancel()
                self.timers[index] = None
            return
        wait_s = wake_at - self.station.now()
        when = loop.time() + wait_s if wait_s > 0.0 else loop.time()
        if timer is not None:
            # uvloop makes a call due now a plain Handle, which has no when(): never kept.
            when_of = getattr(timer, "when", None)
            if when_of is not None and abs(when_of() - when) < KEPT_S:
                return  # already set for that instant: an answer that changed nothing
            timer.cancel()
        armed = self.armed[index] = self.armed[index] + 1
        wakes = self.wakes
        if wakes is None or wakes.loop is not loop:
            wakes = self.wakes = Wakes.of(loop)
        self.timers[index] = loop.call_at(when, wakes.fire, self._wake, index, armed)

    def decide(self, index: int, decision: Decision, due_s: float | None = None) -> None:
        """Ask a charger for a decision (with the time) and run it. Should fleet's own session
        code fail, the failure is counted (row "session error", with its reason), logged in
        one line, and the station goes on: a bug must not end a load test. ``due_s``: the
        instant its timer was set for (see EARLY_S). No decision is told a time before the
        last one's."""
        station, charger = self.station, self.chargers[index]
        now = station.now()
        if due_s is not None and now < due_s <= now + EARLY_S:
            now = due_s
        # After a wake-up told its instant, an answer or a command decided a moment later
        # would be told an earlier time: a StopTransaction stamped before the reading it
        # follows. Time goes on from the instant told (a clock set back further is followed).
        if now < self.latest <= now + EARLY_S:
            now = self.latest
        self.latest = now
        try:
            if self.limits is not None:
                self.limits.apply(now)  # readings follow the limit in force now
            sends = decision(charger, now)
            if self.limits is not None:
                self.limits.apply(now)  # and the one the decision's new state calls for
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logger.error("%s connector %d: %s", station.id, charger.connector.id, reason)
            logger.debug("session error", exc_info=True)
            station.sink.timing(station.id, SESSION_ERROR, None, 0.0, reason)
            sends = []
        self.run(index, sends, now)

    def _wake(self, index: int, armed: int) -> None:
        if armed != self.armed[index]:  # set again or halted while it waited in the queue
            return
        self.timers[index] = None
        charger = self.chargers[index]
        sampling = charger.sampling  # readings not taken on time: skipped, not sent late
        missed = sampling.missed
        self.decide(index, self.kind.on_wake, charger.next_wake)
        if sampling.missed > missed:
            action = "TransactionEvent" if charger.shapes.v201 else "MeterValues"
            count = sampling.missed - missed
            self.station.sink.missed(self.station.id, action, MISSED_STALL, count)

    def _answered(self, index: int, action: str, answer: Answer) -> None:
        payload = None if isinstance(answer, CallFailed) else answer
        if self.chargers[index].heeds(action, payload):  # most answers change nothing
            self.decide(index, lambda charger, now: charger.on_answer(action, payload, now))

    # --- the CSMS's commands ---------------------------------------------------------------------

    def free_charger(self, connector: int | None, tag: str) -> int | None:
        """The index of the charger a remote start for ``tag`` goes to: the one asked for if
        free (or its driver, plugged in, waits for this start), else one whose driver waits,
        else the one reserved for the tag, else the first free one; None when none is. A
        connector reserved for someone else is not free."""

        def free(index: int) -> bool:
            charger = self.chargers[index]
            held = charger.connector.reservation
            return charger.free and (held is None or held.tag == tag)

        def waits(index: int) -> bool:
            return self.chargers[index].awaits_remote_start

        if connector is not None:
            index = connector - 1
            known = 0 <= index < len(self.chargers)
            return index if known and (free(index) or waits(index)) else None
        waiting = [i for i in range(len(self.chargers)) if waits(i)]
        mine = [i for i, c in enumerate(self.chargers) if c.connector.reservation and free(i)]
        anyone = (i for i in range(len(self.chargers)) if free(i))
        return next(iter(waiting + mine), next(anyone, None))

    def remote_start(
        self, index: int, tag: str, remote_start_id: int | None, profile: Profile | None = None
    ) -> None:
        """Start a session from outside, governed by ``profile`` when the start brought one."""

        def start(charger: Charger, now: float) -> list[Send]:
            if profile is not None:
                self.profiles().expect(index + 1, profile)
            return charger.remote_start(tag, now, remote_start_id)

        self.decide(index, start)

    def with_transaction(self, tx_id: Any) -> int | None:
        return next((i for i, c in enumerate(self.chargers) if c.matches(tx_id)), None)

    def remote_stop(self, index: int) -> None:
        self.decide(index, self.kind.remote_stop)

    def end(self, index: int, reason: StopReason) -> None:
        """End the session on a connector, if one runs (UnlockConnector, Reset)."""
        self.decide(index, lambda charger, now: charger.end(reason, now))

    def end_all(self, reason: StopReason) -> None:
        for index in range(len(self.chargers)):
            self.end(index, reason)

    def set_availability(self, connectors: list[int], operative: bool) -> set[int]:
        """ChangeAvailability on these connectors: idle ones change now; an Inoperative on one
        in a session is applied when it ends. Returns those (the answer is Scheduled)."""
        scheduled = set()
        for charger in self.chargers:
            connector = charger.connector
            if connector.id not in connectors:
                continue
            if connector.busy and connector.status is not Status.UNAVAILABLE:
                connector.inoperative_after = not operative
                if not operative:
                    scheduled.add(connector.id)
                continue
            connector.move(Status.AVAILABLE if operative else Status.UNAVAILABLE)
        return scheduled
