"""A station's life on the engine, shared by OCPP 1.6 and 2.0.1: boot until accepted (the pure
``behaviour`` rules), report connectors, heartbeat by intended time (``schedule``), start the
chargers. A station lives across connections (its id, configuration and counters persist);
``run()`` is one connection's life, until the transport closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
from fleet.station.behaviour import BootAgain, Heartbeats
from fleet.station.charging import Chargers
from fleet.station.engine import Answer, Ending, Engine, Outgoing
from fleet.station.schedule import Periodic
from fleet.station.state import State
from fleet.station.transaction import Shapes
from fleet.station.transport import Transport

logger = logging.getLogger("fleet.station")


class Life(Engine):
    """A station's life on its connections, common to both versions: clocks, boot until
    accepted, connector reports, heartbeats by intended time, and its chargers started once
    accepted. ``Station`` adds the answers to the CSMS's commands."""

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


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _judge_boot(payload: dict[str, Any]) -> str | None:
    return "boot Rejected by the CSMS" if payload.get("status") == "Rejected" else None
