"""One simulated charging station, shared by OCPP 1.6 and 2.0.1.

``Station`` sits on the ``ocpp`` library's ChargePoint: handlers are ``@on(Action)`` methods in the
version modules, answers are ``ocpp`` call_result dataclasses, CallError codes are the library's.
What it replaces are the parts that do not scale to thousands of stations in one process:

* the route table is built once per class (``fleet.routing.Routed``), not by introspection for every
  instance;
* outgoing CALLs go through a visible pending slot and a bounded outbox (OCPP-J: one CALL in
  flight) instead of a lock and a queue per instance, so the round trip is timed from the moment
  the frame is handed to the socket, not from when the station first wanted to send;
* the answer a CALL waits for is taken straight from the socket's data callback
  (``_take_reply``, the transport's ``intercept``): no task is woken just to hand it over;
* frames are orjson, schemas are compiled once (``fleet.wire``), nothing is logged per frame.

A station lives across connections (its id, configuration and counters persist); ``run()`` is
one connection's life: boot, heartbeats, answers, until the transport closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Final

import orjson
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError

from fleet import wire
from fleet.errors import (
    CallErrorReceived,
    CallFailed,
    CallTimeout,
    ConnectionLost,
    InvalidResponse,
    OutboxFull,
)
from fleet.metrics.sample import (
    ANSWER,
    BOOT_ACCEPTED,
    CALL,
    EXAMPLE_CHARS,
    FRAME,
    LATE_ANSWER,
    MISSED_BUSY,
    MISSED_OFFLINE,
    MISSED_STALL,
    Sink,
    Violation,
    drift_row,
    handling_row,
)
from fleet.routing import Routed
from fleet.scenario import Scenario
from fleet.station import behaviour
from fleet.station.behaviour import HEARTBEAT_INTERVAL, BootAgain, Heartbeats
from fleet.station.deadlines import Deadlines
from fleet.station.ids import uuid4_text
from fleet.station.schedule import Periodic
from fleet.station.state import State
from fleet.station.transport import Transport, TransportClosed

logger = logging.getLogger("fleet.station")

OUTBOX_LIMIT: Final = 32
STOP_GRACE_S: Final = 5.0
TIMEOUTS_KEPT: Final = 4  # timed-out CALLs whose late answers are recognised as such
MALFORMED: Final = "(malformed)"  # the action label of a frame that is not OCPP-J RPC
UNEXPECTED_REPLY: Final = "(unexpected reply)"
_closing: set[asyncio.Task[None]] = set()  # closes requested from sync code, until done


class Ending(enum.Enum):
    """Why ``Station.run`` returned: decides whether the session reconnects, and how fast."""

    LOST = "lost"  # the CSMS or the network ended the connection: back off, reconnect
    REBOOT = "reboot"  # the station reboots (Reset): reconnect at once and boot again
    STOPPED = "stopped"  # we were asked to stop: do not reconnect


# (message type, CALLRESULT payload or CALLERROR frame, bytes received, perf_counter at arrival)
_Reply = tuple[int, Any, int, float]


@dataclass(slots=True)
class _InFlight:
    unique_id: str
    action: str
    sent_at: float
    reply: asyncio.Future[_Reply]
    slot: int  # its deadline's bucket (``Deadlines``)


class Station(Routed, ChargePoint):
    """Behaviour common to both versions. Subclasses set the class attributes and supply message
    shapes through the ``*_payload`` methods and ``@on`` handlers."""

    version: ClassVar[str]
    kind: ClassVar[str]  # request_type in reports: "OCPP1.6" / "OCPP2.0.1"
    rpc_error_code: ClassVar[str]  # CallError code for a frame that is not valid RPC
    answer_checks: ClassVar[dict[str, wire.Check]]  # per action, shared by a version's stations

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.answer_checks = {}

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        # ChargePoint.__init__ is not called on purpose: it builds a route map, a lock and a
        # queue per instance. Its attributes that the library's helpers read are set here.
        self.id = station_id
        self._ocpp_version = self.version
        self.logger = logger
        self.scenario = scenario
        self.sink = sink
        self.state = State.OFFLINE
        self.clock_offset_s = 0.0
        self.heartbeat_s = scenario.heartbeat.fallback_s
        self.settings: dict[str, str] = {}  # only keys changed from behaviour.SETTINGS defaults
        self.unavailable: frozenset[int] = frozenset()  # connectors set Inoperative
        self.boot_reason = "PowerUp"
        self.source_address: str | None = None  # local address to connect from (None: any)
        self._transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: _InFlight | None = None
        self._deadlines: Deadlines | None = None  # the loop's, from the first connection
        # CALLs waiting for the one in flight; tiny and usually empty (a list costs 56 bytes
        # where a deque costs 600: it matters at 10,000 stations).
        self._outbox: list[tuple[str, asyncio.Future[None]]] = []
        self._next_id = 0
        self._wake: asyncio.Future[bool] | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None  # follow-ups (made when first needed)
        self._followup: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._boot_started: float | None = None
        self._ending: Ending | None = None
        self.close_reason = ""  # why the last connection ended, for the session's report
        self.accepted_on_connection = False  # the session resets its back-off only after this
        self.missed: dict[str, int] | None = None  # scheduled messages missed, per action
        self._beats: Periodic | None = None  # this connection's heartbeat schedule
        self._beat_timer: asyncio.TimerHandle | None = None  # armed while waiting for a beat
        self._replanned = False  # HeartbeatInterval changed while a beat was out
        self._beats_lost: Periodic | None = None  # the schedule a lost connection left behind
        self._timed_out: list[tuple[str, str, float]] | None = None  # (id, action, sent_at)

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

    # --- state -----------------------------------------------------------------------------------

    def set_state(self, new: State) -> None:
        old, self.state = self.state, new
        if old is not new:
            self.sink.state(self.id, self.version, old, new)

    # --- one connection --------------------------------------------------------------------------

    async def run(self, transport: Transport) -> Ending:
        """Boot and serve on ``transport`` until it closes; say why it ended."""
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._deadlines = Deadlines.of(self._loop)
        self._ending = None
        self._boot_started = None
        self.accepted_on_connection = False
        self.set_state(State.BOOTING)
        transport.intercept = self._take_reply
        life = asyncio.get_running_loop().create_task(self._life())
        life.add_done_callback(self._task_done)
        reason = ""
        try:
            while True:
                raw = await transport.recv()
                self._on_frame(raw)
        except TransportClosed as exc:
            reason = exc.reason
        finally:
            transport.intercept = None
            self._transport = None
            if self._beat_timer is not None:
                self._beat_timer.cancel()
                self._beat_timer = None
            if self._ending is None:
                self._ending = Ending.LOST
            self._abort_inflight(reason)
            followups = [life, *(self._tasks or ())]
            for task in followups:
                task.cancel()
            await asyncio.gather(*followups, return_exceptions=True)
            self.set_state(State.OFFLINE)
            # Beats due while offline are missed: counted once the station is back (or stops).
            if self._ending is Ending.LOST:
                if self._beats is not None:
                    self._beats_lost = self._beats
            else:
                self._beats_lost = None
            self._beats = None
        self.close_reason = reason
        if self._ending is Ending.LOST:
            logger.info("%s connection lost: %s", self.id, reason)
        return self._ending

    async def stop(self) -> None:
        """End the connection cleanly (close code 1000) and tell the session not to reconnect.
        A CALL in flight gets its answer first (within STOP_GRACE_S): what the CSMS received is
        what the station reports."""
        self._ending = Ending.STOPPED
        inflight = self._inflight
        if inflight is not None and not inflight.reply.done():
            grace_s = min(self.scenario.csms.call_timeout_s, STOP_GRACE_S)
            await asyncio.wait([inflight.reply], timeout=grace_s)
            await asyncio.sleep(0)  # let the caller record its sample before the socket closes
        if self._transport is not None:
            await self._transport.close(1000, "station stopped")

    def request_stop(self) -> None:
        """``stop()`` from synchronous code: the close runs as a task of its own."""
        if self._transport is not None:
            task = asyncio.get_running_loop().create_task(self.stop())
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        else:
            self._ending = Ending.STOPPED

    def ended(self) -> None:
        """The session is over (stopped while offline): beats missed since the connection was
        lost are counted now, as no new connection will."""
        lost, self._beats_lost = self._beats_lost, None
        if lost is not None:
            self._count_missed("Heartbeat", MISSED_OFFLINE, lost.missed_until(_loop_time()))

    async def reboot(self) -> None:
        """Close and reconnect at once, booting again (what a Reset does to a real station)."""
        self._ending = Ending.REBOOT
        if self._transport is not None:
            await self._transport.close(1000, "rebooting")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: internal error", self.id, exc_info=task.exception())

    # --- life: boot, then heartbeats -------------------------------------------------------------

    async def _life(self) -> None:
        while True:
            decision = await self.boot()
            if isinstance(decision, Heartbeats):
                break
            await self._sleep_until(asyncio.get_running_loop().time() + decision.after_s)
        await self.send_status(self.all_connectors())
        self._start_beats()

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
        if self._inflight is not None or self._outbox:
            self._spawn(self._queued_beat())  # it waits its turn in the outbox like any CALL
            return
        try:
            inflight = self._send_call("Heartbeat", {}, beats.due_s, loop)
        except CallFailed:
            return  # not connected any more, or stopping: nothing comes after
        inflight.reply.add_done_callback(partial(self._beat_answered, inflight))

    def _beat_answered(self, inflight: _InFlight, reply: asyncio.Future[_Reply]) -> None:
        if reply.cancelled():  # the connection ended with the beat out (already recorded)
            self._release(inflight)
            return
        try:
            answer = self._settle(inflight, reply)
        except CallFailed:
            pass
        else:
            self._sync_clock(answer.get("currentTime"))
        self._next_beat()

    async def _queued_beat(self) -> None:
        beats = self._beats
        assert beats is not None
        try:
            answer = await self.call("Heartbeat", {}, due_s=beats.due_s)
        except CallFailed:
            pass
        else:
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

    # --- outgoing CALLs --------------------------------------------------------------------------

    async def call(  # type: ignore[override]
        self,
        action: str,
        payload: dict[str, Any],
        judge: Callable[[dict[str, Any]], str | None] | None = None,
        due_s: float | None = None,
    ) -> dict[str, Any]:
        """Send a CALL, wait for its answer and return the CALLRESULT payload.

        Exactly one sample is recorded per call: the wire round trip, or the failure. ``judge``
        may turn a well-formed answer into a counted failure (a Rejected boot). ``due_s`` (loop
        time) marks a scheduled message: how late it left is recorded as its drift. Raises
        CallFailed.
        """
        loop = self._loop or asyncio.get_running_loop()
        if self._inflight is not None or self._outbox:
            await self._wait_turn(action, loop)
        inflight = self._send_call(action, payload, due_s, loop)
        try:
            await inflight.reply
        except TimeoutError:
            pass  # the deadline passed: _settle records it
        except asyncio.CancelledError:
            self._release(inflight)
            raise
        return self._settle(inflight, inflight.reply, judge)

    def _send_call(
        self, action: str, payload: dict[str, Any], due_s: float | None, loop: Any
    ) -> _InFlight:
        """Put a CALL on the wire now; the slot (one CALL in flight) must be free. Raises
        ConnectionLost when not connected or stopping (a stopping station starts nothing)."""
        transport = self._transport
        if transport is None or self._ending is Ending.STOPPED:
            self._pass_turn()
            raise ConnectionLost("not connected" if transport is None else "station stopping")
        if self.scenario.csms.message_ids == "uuid":
            unique_id = uuid4_text()
        else:
            self._next_id += 1
            unique_id = str(self._next_id)
        reply: asyncio.Future[_Reply] = loop.create_future()
        # Not a timer handle per CALL (nor asyncio.timeout()): one sweep per loop.
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = Deadlines.of(loop)
        slot = deadlines.add(self.scenario.csms.call_timeout_s, reply)
        if due_s is not None:
            late_ms = max(loop.time() - due_s, 0.0) * 1000
            self.sink.timing(self.id, drift_row(action), None, late_ms, None)
        sent_at = time.perf_counter()
        inflight = self._inflight = _InFlight(unique_id, action, sent_at, reply, slot)
        try:
            transport.send(wire.encode_call(unique_id, action, payload))
        except TransportClosed as exc:
            self._release(inflight)
            if self._ending is None or self._ending is Ending.LOST:
                # A CALL cut off by our own stop or reboot is not a failure of the CSMS.
                self._record(action, sent_at, 0.0, 0, exc.reason)
            raise ConnectionLost(exc.reason) from None
        return inflight

    def _release(self, inflight: _InFlight) -> None:
        """The CALL is over: free the slot for the next one waiting."""
        if self._inflight is inflight:
            self._inflight = None
            if self._deadlines is not None:
                self._deadlines.discard(inflight.slot, inflight.reply)
            if self._outbox:
                self._pass_turn()

    def _settle(
        self,
        inflight: _InFlight,
        reply: asyncio.Future[_Reply],
        judge: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> dict[str, Any]:
        """The end of a CALL whose answer came (or whose deadline passed): record exactly one
        sample and return the CALLRESULT payload, or raise CallFailed."""
        self._release(inflight)
        action, sent_at = inflight.action, inflight.sent_at
        if reply.exception() is not None:  # the deadline (Deadlines sets TimeoutError)
            timeout_s = self.scenario.csms.call_timeout_s
            reason = f"no answer within {timeout_s:g} s"
            self._record(action, sent_at, (time.perf_counter() - sent_at) * 1000, 0, reason)
            self._remember_timeout(inflight.unique_id, action, sent_at)
            raise CallTimeout(reason)
        message_type, body, size, received_at = reply.result()
        rtt_ms = (received_at - sent_at) * 1000
        if message_type == wire.CALLERROR:
            error = CallErrorReceived(body.error_code or "", body.description or "")
            self._record(action, sent_at, rtt_ms, size, error.reason)
            raise error
        if self.scenario.csms.check_schemas:
            check = self.answer_checks.get(action)
            if check is None:
                check = self.answer_checks[action] = wire.checker(self.version, action, "response")
            try:
                check(body)
            except wire.SchemaViolation as exc:
                failure = self._violated_answer(action, inflight.unique_id, body, exc)
                if failure is not None:
                    self._record(action, sent_at, rtt_ms, size, failure)
                    raise InvalidResponse(failure) from None
        self._record(action, sent_at, rtt_ms, size, judge(body) if judge else None)
        result: dict[str, Any] = body
        return result

    def _violated_answer(
        self,
        action: str,
        unique_id: str,
        body: dict[str, Any],
        exc: wire.SchemaViolation,
    ) -> str | None:
        """Report an answer that breaks its schema; return the failure reason when the station
        cannot go on with it (always, with csms.on_violation "fail")."""
        example = wire.encode_result(unique_id, body)[:EXAMPLE_CHARS].decode(errors="replace")
        self.sink.violation(
            self.id, Violation(ANSWER, action, exc.field, exc.rule, exc.wanted, example)
        )
        if self.scenario.csms.on_violation == "fail":
            return f"invalid {action} response: {exc.description}"
        problem = behaviour.unusable(action, body)
        return None if problem is None else f"invalid {action} response: {problem}"

    def _remember_timeout(self, unique_id: str, action: str, sent_at: float) -> None:
        """Keep the last few timed-out CALLs, so an answer arriving after its timeout is
        reported as late (with its real round trip), not as a reply to an unknown id."""
        if self._timed_out is None:
            self._timed_out = []
        self._timed_out.append((unique_id, action, sent_at))
        del self._timed_out[:-TIMEOUTS_KEPT]

    def _late(self, unique_id: str) -> float | None:
        """When the timed-out CALL ``unique_id`` was sent, if it is one (forgotten once found)."""
        for entry in self._timed_out or ():
            if entry[0] == unique_id:
                assert self._timed_out is not None
                self._timed_out.remove(entry)
                return entry[2]
        return None

    async def _wait_turn(self, action: str, loop: asyncio.AbstractEventLoop) -> None:
        """Queue behind the CALL in flight (OCPP-J: one at a time), in a bounded outbox."""
        if len(self._outbox) >= OUTBOX_LIMIT:
            reason = "outbox full: the CSMS is not answering"
            self._record(action, time.perf_counter(), 0.0, 0, reason)
            raise OutboxFull(f"{len(self._outbox)} CALLs already waiting")
        turn: asyncio.Future[None] = loop.create_future()
        entry = (action, turn)
        self._outbox.append(entry)
        try:
            await turn
        except asyncio.CancelledError:
            if entry in self._outbox:
                self._outbox.remove(entry)
            elif turn.done() and not turn.cancelled():
                self._pass_turn()  # the turn was ours but we are leaving: hand it on
            raise

    def _pass_turn(self) -> None:
        while self._outbox:
            _, turn = self._outbox.pop(0)
            if not turn.done():
                turn.set_result(None)
                return

    def _abort_inflight(self, reason: str) -> None:
        """The connection ended with a CALL outstanding. Whoever waits for it (a task, or a
        heartbeat's callback) is cancelled, so the failure is recorded here; a CALL cut off by
        our own stop or reboot is not a failure."""
        inflight = self._inflight
        if inflight is None or inflight.reply.done():
            return
        if self._ending is Ending.LOST:
            elapsed_ms = (time.perf_counter() - inflight.sent_at) * 1000
            reason = f"connection lost: {reason or 'closed'}"
            self._record(inflight.action, inflight.sent_at, elapsed_ms, 0, reason)
        inflight.reply.cancel()
        self._release(inflight)

    def _record(
        self, action: str, sent_at: float, rtt_ms: float, size: int, error: str | None
    ) -> None:
        self.sink.exchange(self.id, self.kind, action, sent_at, rtt_ms, size, error)

    # --- incoming frames -------------------------------------------------------------------------

    def _take_reply(self, raw: bytes) -> bool:
        """The fast path, called from the socket's data callback: if ``raw`` is the CALLRESULT
        the CALL in flight waits for, hand it over and return True. Anything else (CSMS calls,
        errors, strays) goes the slow way, through ``_on_frame``."""
        inflight = self._inflight
        if inflight is None or inflight.reply.done():
            return False
        received_at = time.perf_counter()
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
        if (
            type(message) is list
            and len(message) == 3
            and message[0] == wire.CALLRESULT
            and message[1] == inflight.unique_id
            and type(message[2]) is dict
        ):
            inflight.reply.set_result((wire.CALLRESULT, message[2], len(raw), received_at))
            return True
        return False

    def _on_frame(self, raw: bytes) -> None:
        """A frame the fast path did not take (it has seen every frame before it is queued)."""
        received_at = time.perf_counter()
        inflight = self._inflight
        try:
            frame = wire.decode(raw, self.rpc_error_code)
        except wire.FrameError as exc:
            self._bad_frame(raw, MALFORMED, "rpc", exc.description, exc.description)
            if exc.unique_id is not None and self.state is not State.REJECTED:
                self._send_frame(wire.encode_error(exc.unique_id, exc.code, exc.description))
            return
        if frame.message_type == wire.CALL:
            self._on_call(frame, received_at, len(raw))
            return
        if inflight is None or inflight.unique_id != frame.unique_id or inflight.reply.done():
            sent_at = self._late(frame.unique_id)
            if sent_at is not None:  # its timeout was the failure; this is how late it came
                self.sink.timing(self.id, LATE_ANSWER, None, (received_at - sent_at) * 1000, None)
                return
            reason = f"reply to unknown message id {frame.unique_id!r}"
            self._bad_frame(raw, UNEXPECTED_REPLY, "unique id", "the id of a CALL sent", reason)
            return
        body = frame if frame.message_type == wire.CALLERROR else frame.payload
        inflight.reply.set_result((frame.message_type, body, len(raw), received_at))

    def _bad_frame(self, raw: bytes, label: str, rule: str, wanted: str, reason: str) -> None:
        """A frame that is not OCPP-J RPC (or answers no CALL): a violation, and with
        csms.on_violation "fail" also a failure."""
        example = raw[:EXAMPLE_CHARS].decode(errors="replace")
        self.sink.violation(self.id, Violation(FRAME, label, "", rule, wanted, example))
        if self.scenario.csms.on_violation == "fail":
            self.sink.timing(self.id, handling_row(label), None, 0.0, reason)

    def _on_call(self, frame: wire.Frame, received_at: float, size: int) -> None:
        action = frame.action or ""
        if self.state is State.REJECTED:
            return  # 1.6 §4.2: "While Rejected, the Charge Point SHALL NOT respond"
        try:
            payload = self.answer_call(action, frame.payload, self.scenario.csms.check_schemas)
        except wire.SchemaViolation as exc:
            # The CSMS's call breaks its schema: answered per spec with the violation's code.
            text = wire.encode_call(frame.unique_id, action, frame.payload).decode()
            example = text[:EXAMPLE_CHARS]
            self.sink.violation(
                self.id, Violation(CALL, action, exc.field, exc.rule, exc.wanted, example)
            )
            failed = self.scenario.csms.on_violation == "fail"
            self._answer_error(frame, received_at, exc.code, exc.description, failed)
            return
        except OCPPError as exc:
            self._answer_error(frame, received_at, exc.code, exc.description)
            return
        except Exception as exc:
            logger.exception("%s: handler for %s failed", self.id, action)
            self._answer_error(frame, received_at, "InternalError", type(exc).__name__)
            return
        try:
            wire.validate(self.version, action, "response", payload)
        except wire.SchemaViolation as exc:  # our own answer is wrong: a bug, not the CSMS's
            logger.error("%s: our %s answer breaks its schema: %s", self.id, action, exc)
            self._answer_error(frame, received_at, "InternalError", "invalid answer")
            return
        self._send_frame(wire.encode_result(frame.unique_id, payload))
        handled_ms = (time.perf_counter() - received_at) * 1000
        self.sink.timing(self.id, handling_row(action), received_at, handled_ms, None)
        followup, self._followup = self._followup, None
        if followup is not None:
            self._spawn(followup())

    def _answer_error(
        self,
        frame: wire.Frame,
        received_at: float,
        code: str,
        description: str,
        failed: bool = True,
    ) -> None:
        self._send_frame(wire.encode_error(frame.unique_id, code, description))
        handled_ms = (time.perf_counter() - received_at) * 1000
        reason = f"{code}: {description}" if failed else None
        self.sink.timing(
            self.id, handling_row(frame.action or "?"), received_at, handled_ms, reason
        )

    def _send_frame(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.send(frame)

    def then(self, followup: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``followup`` once the answer to the current CSMS call has been sent (a triggered
        message must follow its TriggerMessage answer on the wire, not precede it)."""
        self._followup = followup

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
        if setting is None:
            return None
        return self.settings.get(key, setting.default)

    def change_setting(self, key: str, value: str, action: str) -> str:
        """Apply a configuration change if the scenario lets ``action`` accept it; the result."""
        chosen = self.status_for(action)
        if chosen != "Accepted":
            return chosen
        result, normalised = behaviour.check_change(key, value)
        if normalised is None:
            return result
        if key == HEARTBEAT_INTERVAL:
            self.heartbeat_s = float(normalised)
            self.wake()
        else:
            self.settings[key] = normalised
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
        """Answer ChangeAvailability and report the connectors' new status."""
        chosen = self.status_for("ChangeAvailability")
        if chosen != "Accepted":
            return chosen
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
            self.then(self.reboot)
        return chosen

    def remote_transaction_status(self, action: str) -> str:
        """Remote start/stop: refused unless Accepted (1.6 §4.2, 2.0.1 B02: a CSMS may not ask
        a Pending station to start or stop transactions), else the scenario's status."""
        return self.status_for(action) if self.state is State.ACCEPTED else "Rejected"

    def connector_status(self, connector: int) -> str:
        return "Unavailable" if connector in self.unavailable else "Available"


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
