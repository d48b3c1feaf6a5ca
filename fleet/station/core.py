"""One simulated charging station, shared by OCPP 1.6 and 2.0.1: what it does, on the engine.

``Engine`` moves frames; ``Station`` decides with the pure rule modules (``behaviour`` for boot
and configuration, ``schedule`` for heartbeats) and executes their answers: boot until
accepted, report connectors, heartbeat by intended time, answer the CSMS's commands with their
side effects. Version modules (``v16``, ``v201``) hold the message shapes and ``@on`` handlers.

A station lives across connections (its id, configuration and counters persist); ``run()`` is
one connection's life: boot, heartbeats, answers, until the transport closes.

The ``ocpp`` library's ChargePoint is not a base class: its ``start()``, ``route_message()`` and
``call()`` run on a connection object and a lock fleet does not have, so inheriting them would
leave callable methods that are wrong. What carries over is its authoring surface: ``@on(Action)``
handlers returning ``call_result`` dataclasses (or dicts), sync or async, routed once per class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, ClassVar

from fleet.errors import CallFailed, ConnectionLost
from fleet.metrics.sample import (
    BOOT_ACCEPTED,
    MISSED_BUSY,
    MISSED_OFFLINE,
    MISSED_STALL,
    Sink,
)
from fleet.scenario import Scenario
from fleet.station import behaviour
from fleet.station.behaviour import HEARTBEAT_INTERVAL, BootAgain, Heartbeats
from fleet.station.charging import Chargers
from fleet.station.connectors import Status
from fleet.station.engine import Answer, Ending, Engine, Outgoing
from fleet.station.schedule import Periodic
from fleet.station.sessions import RESET, UNLOCKED, Shapes
from fleet.station.state import State
from fleet.station.transport import Transport

logger = logging.getLogger("fleet.station")


class Station(Engine):
    """Behaviour common to both versions. Subclasses set the class attributes and supply message
    shapes through the ``*_payload`` methods, ``tx_shapes`` and ``@on`` handlers."""

    tx_shapes: ClassVar[Shapes]

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.clock_offset_s = 0.0
        self.heartbeat_s = scenario.heartbeat.fallback_s
        self.settings: dict[str, str] = {}  # only keys changed from behaviour.SETTINGS defaults
        self.unavailable: frozenset[int] = frozenset()  # connectors set Inoperative
        self.boot_reason = "PowerUp"
        self.source_address: str | None = None  # local address to connect from (None: any)
        self._wake: asyncio.Future[bool] | None = None
        self._boot_started: float | None = None
        self.accepted_on_connection = False  # the session resets its back-off only after this
        self.missed: dict[str, int] | None = None  # scheduled messages missed, per action
        self._beats: Periodic | None = None  # this connection's heartbeat schedule
        self._beat_timer: asyncio.TimerHandle | None = None  # armed while waiting for a beat
        self._replanned = False  # HeartbeatInterval changed while a beat was out
        self._beats_lost: Periodic | None = None  # the schedule a lost connection left behind
        self.charging: Chargers | None = None  # made when first needed

    def chargers(self) -> Chargers:
        """The station's chargers (sessions, meters), made on first use."""
        if self.charging is None:
            self.charging = Chargers(self)
        return self.charging

    # --- version-specific shapes (overridden) ----------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def status_payloads(self, connectors: list[int]) -> list[dict[str, Any]]:
        """StatusNotification payloads for these connectors (1.6: 0 = whole station)."""
        raise NotImplementedError

    def all_connectors(self) -> list[int]:
        raise NotImplementedError

    # --- clocks ----------------------------------------------------------------------------------

    def now(self) -> float:
        """The station's wall clock: local time corrected to the CSMS's (synced at boot)."""
        return time.time() + self.clock_offset_s

    def timestamp(self) -> str:
        return behaviour.format_time(self.now())

    def _sync_clock(self, current_time: Any) -> None:
        offset = behaviour.clock_offset_s(current_time, time.time())
        if offset is not None:
            self.clock_offset_s = offset

    # --- one connection --------------------------------------------------------------------------

    async def run(self, transport: Transport) -> Ending:
        self._boot_started = None
        self.accepted_on_connection = False
        return await super().run(transport)

    def _disconnected(self, ending: Ending) -> None:
        if self.charging is not None:
            self.charging.halt()
        if self._beat_timer is not None:
            self._beat_timer.cancel()
            self._beat_timer = None
        # Beats due while offline are missed: counted once the station is back (or stops).
        if ending is Ending.LOST:
            if self._beats is not None:
                self._beats_lost = self._beats
        else:
            self._beats_lost = None
        self._beats = None

    def ended(self) -> None:
        """The session is over (stopped while offline): beats missed since the connection was
        lost are counted now, as no new connection will."""
        lost, self._beats_lost = self._beats_lost, None
        if lost is not None:
            self._count_missed("Heartbeat", MISSED_OFFLINE, lost.missed_until(_loop_time()))
        if self.charging is not None:
            self.charging.close()

    # --- life: boot, then heartbeats -------------------------------------------------------------

    async def _life(self) -> None:
        while True:
            decision = await self.boot()
            if isinstance(decision, Heartbeats):
                break
            await self._sleep_until(asyncio.get_running_loop().time() + decision.after_s)
        await self.send_status(self.all_connectors())
        self._start_beats()
        sessions = self.scenario.sessions
        if (
            self.charging is not None
            or sessions.arrivals_per_hour
            or sessions.start == "remote_only"
        ):
            self.chargers().begin()

    async def boot(self) -> Heartbeats | BootAgain:
        """Send BootNotification and apply the answer (state, clock, heartbeat interval)."""
        rules = self.scenario.heartbeat
        retry_s = self.scenario.boot.retry_s
        if self._boot_started is None:
            self._boot_started = time.perf_counter()
        try:
            answer = await self.call("BootNotification", self.boot_payload(), judge=_judge_boot)
        except CallFailed:
            return BootAgain(retry_s, answer_csms=True)
        decision = behaviour.after_boot(answer["status"], answer["interval"], rules, retry_s)
        if isinstance(decision, Heartbeats):
            self._sync_clock(answer["currentTime"])
            self.heartbeat_s = decision.every_s
            if self.state is not State.ACCEPTED:
                waited_ms = (time.perf_counter() - self._boot_started) * 1000
                self.sink.timing(self.id, BOOT_ACCEPTED, self._boot_started, waited_ms, None)
                logger.info("%s accepted (heartbeat every %g s)", self.id, decision.every_s)
            self.set_state(State.ACCEPTED)
            self.accepted_on_connection = True
            self.boot_reason = "PowerUp"
        else:
            self.set_state(State.PENDING if decision.answer_csms else State.REJECTED)
            logger.info("%s %s, booting again in %g s", self.id, answer["status"], decision.after_s)
        return decision

    # Heartbeats are timer callbacks, not a coroutine: the frame leaves from the timer when the
    # CALL slot is free, and the answer is settled in a callback of its future. No task is
    # woken per beat (a beat used to cost two futures and two task wake-ups besides the round
    # trip: ~12 % of a busy Locust process).

    def _start_beats(self) -> None:
        """Accepted: heartbeat by intended time from now. A beat that cannot leave on schedule
        is counted as missed, with why: the loop fired the timer too late (a stall), the
        previous CALL was still out (busy), or the station was offline (counted now that it is
        back)."""
        loop = self._loop or asyncio.get_running_loop()
        lost, self._beats_lost = self._beats_lost, None
        if lost is not None:
            self._count_missed("Heartbeat", MISSED_OFFLINE, lost.missed_until(loop.time()))
        self._beats = Periodic.starting(loop.time(), self.heartbeat_s)
        self._arm_beat()

    def _arm_beat(self) -> None:
        if self._beats is not None and self._loop is not None:
            self._beat_timer = self._loop.call_at(self._beats.due_s, self._beat)

    def _beat(self) -> None:
        self._beat_timer = None
        beats, loop = self._beats, self._loop
        assert beats is not None and loop is not None
        self._count_missed("Heartbeat", MISSED_STALL, beats.catch_up(loop.time()))
        self.send(Outgoing("Heartbeat", {}, self._beat_answered, beats.due_s))

    def _beat_answered(self, answer: Answer) -> None:
        if isinstance(answer, ConnectionLost):
            return  # not connected any more, or stopping: nothing comes after
        if not isinstance(answer, CallFailed):
            self._sync_clock(answer.get("currentTime"))
        self._next_beat()

    def _next_beat(self) -> None:
        beats, loop = self._beats, self._loop
        if beats is None or loop is None or self._transport is None:
            return
        if self._replanned:
            self._replanned = False  # the new interval counts from when it was set
        else:
            self._count_missed("Heartbeat", MISSED_BUSY, beats.sent(loop.time()))
        self._arm_beat()

    def _replan_beats(self) -> None:
        """HeartbeatInterval changed: the next beat is one new interval from now."""
        beats, loop = self._beats, self._loop
        if beats is None or loop is None:
            return
        beats.replan(loop.time(), self.heartbeat_s)
        if self._beat_timer is not None:
            self._beat_timer.cancel()
            self._arm_beat()
        else:
            self._replanned = True  # a beat is out: its answer arms the next

    def _count_missed(self, action: str, cause: str, count: int) -> None:
        if count:
            if self.missed is None:
                self.missed = {}
            self.missed[action] = self.missed.get(action, 0) + count
            self.sink.missed(self.id, action, cause, count)

    async def _sleep_until(self, due: float) -> bool:
        """Sleep until ``due`` (loop time); True if ``wake()`` cut it short. No task is created."""
        loop = self._loop or asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_at(due, _resolve, wake, False)
        try:
            return await wake
        finally:
            timer.cancel()
            self._wake = None

    def wake(self) -> None:
        """Cut the current wait short: boot now (Pending) or re-plan heartbeats (Accepted)."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(True)
        self._replan_beats()

    async def send_status(self, connectors: list[int]) -> None:
        for payload in self.status_payloads(connectors):
            with contextlib.suppress(CallFailed):
                await self.call("StatusNotification", payload)

    # --- shared answers --------------------------------------------------------------------------

    def status_for(self, action: str) -> str:
        status = self.scenario.status_for(self.version, action)
        assert status is not None, action
        return status

    def get_setting(self, key: str) -> str | None:
        """A configuration value as the station reports it, or None for an unknown key."""
        if key == HEARTBEAT_INTERVAL:
            return str(round(self.heartbeat_s))
        if key == "NumberOfConnectors":
            return str(self.scenario.stations.connectors)
        setting = behaviour.SETTINGS.get(key)
        if setting is None or setting.version not in (None, self.version):
            return None
        if key in behaviour.TX_SETTINGS and key not in self.settings:
            return behaviour.tx_defaults(self.scenario.sessions)[key]
        return self.settings.get(key, setting.default)

    def change_setting(self, key: str, value: str, action: str) -> str:
        """Apply a configuration change if the scenario lets ``action`` accept it; the result."""
        chosen = self.status_for(action)
        if chosen != "Accepted":
            return chosen
        if self.get_setting(key) is None:
            return behaviour.ChangeResult.NOT_SUPPORTED
        result, normalised = behaviour.check_change(key, value)
        if normalised is None:
            return result
        if key == HEARTBEAT_INTERVAL:
            self.heartbeat_s = float(normalised)
            self.wake()
        else:
            self.settings[key] = normalised
            if key in behaviour.TX_SETTINGS and self.charging is not None:
                self.charging.configure()
        return result

    def trigger(self, requested: str, connectors: list[int] | None) -> str:
        """Answer a TriggerMessage for ``requested`` and schedule the triggered message."""
        chosen = self.status_for("TriggerMessage")
        if chosen != "Accepted":
            return chosen
        if requested == "BootNotification":
            if self.state is State.PENDING:
                self.boot_reason = "Triggered"
                self.then(_as_coroutine(self.wake))
            else:
                self.then(self._triggered_boot)
        elif requested == "Heartbeat":
            self.then(self._triggered_heartbeat)
        elif requested == "StatusNotification":
            targets = connectors if connectors is not None else self.all_connectors()
            self.then(lambda: self.send_status(targets))
        else:
            return "NotImplemented"
        return "Accepted"

    async def _triggered_boot(self) -> None:
        self.boot_reason = "Triggered"
        await self.boot()

    async def _triggered_heartbeat(self) -> None:
        try:
            answer = await self.call("Heartbeat", {})
        except CallFailed:
            return
        self._sync_clock(answer.get("currentTime"))

    def set_availability(self, connectors: list[int], operative: bool) -> str:
        """Answer ChangeAvailability and report the connectors' new status. Inoperative on a
        connector in a session is Scheduled: applied when the session ends."""
        chosen = self.status_for("ChangeAvailability")
        if chosen != "Accepted":
            return chosen
        if self.charging is not None:
            scheduled = self.charging.set_availability(connectors, operative)
            if scheduled:
                connectors = [c for c in connectors if c not in scheduled]
                chosen = "Scheduled"
        if operative:
            self.unavailable = self.unavailable.difference(connectors)
        else:
            self.unavailable = self.unavailable.union(connectors)
        self.then(lambda: self.send_status(connectors))
        return chosen

    def answer_reset(self) -> str:
        chosen = self.status_for("Reset")
        if chosen == "Accepted":
            self.boot_reason = "RemoteReset"
            self.then(self._reset)
        return chosen

    async def _reset(self) -> None:
        """Sessions running end first (their StopTransaction / Ended reach the CSMS), then
        the station reboots."""
        if self.charging is not None:
            self.charging.end_all(RESET)
            await self.drained(self.scenario.csms.call_timeout_s)
        await self.reboot()

    def remote_transaction_status(self, action: str) -> str:
        """Remote start/stop: refused unless Accepted (1.6 §4.2, 2.0.1 B02: a CSMS may not ask
        a Pending station to start or stop transactions), else the scenario's status."""
        return self.status_for(action) if self.state is State.ACCEPTED else "Rejected"

    def answer_remote_start(
        self, action: str, connector: int | None, tag: str, remote_start_id: int | None = None
    ) -> str:
        """Start a session on ``connector`` (or a free one): Rejected when none is free."""
        chosen = self.remote_transaction_status(action)
        if chosen != "Accepted":
            return chosen
        chargers = self.chargers()
        index = chargers.free_charger(connector)
        if index is None:
            return "Rejected"
        self.then(_as_coroutine(partial(chargers.remote_start, index, tag, remote_start_id)))
        return chosen

    def answer_remote_stop(self, action: str, tx_id: Any) -> str:
        """Stop the transaction ``tx_id``: Rejected when no connector runs it."""
        chosen = self.remote_transaction_status(action)
        if chosen != "Accepted":
            return chosen
        index = None if self.charging is None else self.charging.with_transaction(tx_id)
        if index is None or self.charging is None:
            return "Rejected"
        self.then(_as_coroutine(partial(self.charging.remote_stop, index)))
        return chosen

    def answer_unlock(self, connector: int) -> str:
        """Unlock: a session on the connector ends (the cable comes out)."""
        chosen = self.status_for("UnlockConnector")
        if self.charging is not None and chosen == "Unlocked":
            self.then(_as_coroutine(partial(self.charging.end, connector - 1, UNLOCKED)))
        return chosen

    def connector_state(self, connector: int) -> Status:
        """What a connector reports (1.6 connector 0: the station as a whole)."""
        if connector in self.unavailable:
            return Status.UNAVAILABLE
        if self.charging is not None and 0 < connector <= len(self.charging.chargers):
            return self.charging.chargers[connector - 1].connector.status
        return Status.AVAILABLE


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _as_coroutine(fn: Callable[[], None]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        fn()

    return run


def _judge_boot(payload: dict[str, Any]) -> str | None:
    return "boot Rejected by the CSMS" if payload.get("status") == "Rejected" else None
