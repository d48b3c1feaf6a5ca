"""The asyncio shell of a station: one connection's life and the CSMS's calls.

With ``CallSlot`` (outgoing CALLs) this is the only station code that touches the loop. What to
send and when is decided elsewhere (boot rules, heartbeat schedules, sessions); the engine runs
a connection until it closes, routes each frame the fast path did not take, and answers the
CSMS's CALLs with the ``@on`` handlers (sync or async), timing how long each took.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Final

from ocpp.exceptions import OCPPError

from fleet import wire
from fleet.metrics.sample import (
    ANSWERED,
    CALL,
    DROPPED,
    EXAMPLE_CHARS,
    FRAME,
    LATE_ANSWER,
    STATION_ERROR,
    UNANSWERED,
    Sink,
    Violation,
    call_error_outcome,
    handling_row,
)
from fleet.routing import to_payload
from fleet.scenario import Scenario
from fleet.station.calls import Answer, CallSlot, Outgoing
from fleet.station.channel import Transport, TransportClosed
from fleet.station.deadlines import Deadlines
from fleet.station.keepalive import Keepalive
from fleet.station.rare import Rare
from fleet.station.responder import NOW, Reply, Responder
from fleet.station.state import Ending, State

__all__ = ["Answer", "Ending", "Engine", "Outgoing"]

logger = logging.getLogger("fleet.station")

STOP_GRACE_S: Final = 5.0
MALFORMED: Final = "(malformed)"  # the action label of a frame that is not OCPP-J RPC
UNEXPECTED_REPLY: Final = "(unexpected reply)"
_closing: set[asyncio.Task[None]] = set()  # closes requested from sync code, until done


class Engine(CallSlot):
    """One station's connection machinery, shared by both versions. ``Station`` adds the
    behaviour; version modules add message shapes and ``@on`` handlers."""

    __slots__ = ("close_reason", "responder")
    rpc_error_code: ClassVar[str]  # CallError code for a frame that is not valid RPC
    _tasks: Rare[set[asyncio.Task[Any]] | None] = Rare(None)  # follow-ups
    _followup: Rare[Callable[[], Coroutine[Any, Any, None]] | None] = Rare(None)
    # Answers the policy holds back: their timers, and the action each answers.
    _delayed: Rare[dict[asyncio.TimerHandle, str] | None] = Rare(None)
    offline_until: Rare[float] = Rare(0.0)  # loop time: a storm keeps it offline until then
    _keepalive: Rare[Keepalive | None] = Rare(None)  # this connection's pings, when it pings

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.responder = Responder.for_station(scenario, station_id, self.version)
        self.close_reason = ""  # why the last connection ended, for the session's report

    def status_for(self, action: str) -> str:
        """The status to answer ``action`` with (the scenario's responder policy draws it)."""
        return self.responder.status(action)

    # --- hooks for the behaviour -----------------------------------------------------------------

    async def _life(self) -> None:
        """What the station does once connected (boot, then its schedules)."""

    def _disconnected(self, ending: Ending) -> None:
        """The connection ended: stop what runs on it (timers, schedules)."""

    def ping_every_s(self) -> float:
        """WebSocketPingInterval in seconds, 0: no pings (the settings are the station's)."""
        return 0.0

    def replan_pings(self, every_s: float) -> None:
        """WebSocketPingInterval changed: applied to the connection at once."""
        if self._keepalive is not None:
            self._keepalive.replan(every_s)
        elif every_s > 0 and self._transport is not None:
            self._start_pings(self._transport, every_s)

    def _start_pings(self, transport: Transport, every_s: float) -> None:
        assert self._loop is not None
        timeout_s = self.scenario.heartbeat.ws_pong_timeout_s
        self._keepalive = Keepalive(self.id, self.sink, transport, self._loop, every_s, timeout_s)

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
        self.storm_cut = False
        self.set_state(State.BOOTING)
        transport.intercept = self._take_reply
        every_s = self.ping_every_s()
        if every_s > 0:
            self._start_pings(transport, every_s)
        life = self._loop.create_task(self._life())
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
            if self._keepalive is not None:
                self._keepalive.stop()
                self._keepalive = None
            if self._ending is None:
                self._ending = Ending.LOST
            self._disconnected(self._ending)
            self._drop_delayed()
            self._abort_inflight(reason)
            self._drop_outbox()
            followups = [life, *(self._tasks or ())]
            for task in followups:
                task.cancel()
            await asyncio.gather(*followups, return_exceptions=True)
            self.set_state(State.OFFLINE)
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

    def drop(self, down_s: float, silent: bool) -> None:
        """A storm's drop: the connection ends without a close frame (or goes silent, a
        half-open link), and the station stays off the network for ``down_s``."""
        loop = self._loop or asyncio.get_running_loop()
        self.offline_until = loop.time() + down_s
        if self._transport is not None and self._ending is None:
            self.storm_cut = True
            how = "silent" if silent else "dropped"
            self._transport.cut(f"storm: network {how}", down_s if silent else 0.0)

    def offline_left(self) -> float:
        """Seconds a storm still keeps the station off the network."""
        if not self.offline_until:
            return 0.0
        loop = self._loop or asyncio.get_running_loop()
        return max(self.offline_until - loop.time(), 0.0)

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
        tasks = self._tasks
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                self._tasks = None  # an empty set is 216 bytes kept for the next rare follow-up
        if not task.cancelled() and (exc := task.exception()) is not None:  # fleet's own bug
            reason = f"{type(exc).__name__}: {exc}"  # counted, one line (as in session.py)
            logger.error("%s: station error: %s", self.id, reason)
            logger.debug("station error", exc_info=exc)
            self.sink.timing(self.id, STATION_ERROR, None, 0.0, reason)

    # --- incoming frames -------------------------------------------------------------------------

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
            self._on_call(frame, received_at)
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

    def _on_call(self, frame: wire.Frame, received_at: float) -> None:
        action = frame.action or ""
        if self.state is State.REJECTED:
            return  # 1.6 §4.2: "While Rejected, the Charge Point SHALL NOT respond"
        reply = self.responder.reply(action)
        if reply is None:  # the scenario's policy: this call is never answered
            self.sink.answered(self.id, action, UNANSWERED)
            return
        try:
            if reply.error_code is not None:  # the policy's CallError: the handler does not run
                self._answer_error(frame, received_at, reply.error_code, "by policy", False, reply)
                return
            result = self.dispatch(action, frame.payload, self.scenario.csms.check_schemas)
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
        except Exception as exc:
            self._handler_failed(frame, received_at, exc)
            return
        if inspect.isawaitable(result):  # an async @on handler: answered when it returns
            self._spawn(self._answer_later(frame, received_at, result, reply))
            return
        self._answer(frame, received_at, result, reply)

    async def _answer_later(
        self, frame: wire.Frame, received_at: float, pending: Any, reply: Reply
    ) -> None:
        try:
            result = await pending
        except Exception as exc:
            self._handler_failed(frame, received_at, exc)
            return
        self._answer(frame, received_at, result, reply)

    def _handler_failed(self, frame: wire.Frame, received_at: float, exc: Exception) -> None:
        if isinstance(exc, OCPPError):
            self._answer_error(frame, received_at, exc.code, exc.description)
            return
        logger.error("%s: handler for %s failed", self.id, frame.action, exc_info=exc)
        self._answer_error(frame, received_at, "InternalError", type(exc).__name__)

    def _answer(
        self, frame: wire.Frame, received_at: float, result: Any, reply: Reply = NOW
    ) -> None:
        action = frame.action or ""
        try:
            payload = to_payload(result)
            wire.validate(self.version, action, "response", payload)
        except (wire.SchemaViolation, TypeError) as exc:  # our answer is wrong: not the CSMS's
            logger.error("%s: our %s answer is not a valid one: %s", self.id, action, exc)
            self._answer_error(frame, received_at, "InternalError", "invalid answer")
            return
        followup = self._followup
        self._forget_followup()
        out = wire.encode_result(frame.unique_id, payload)
        status = payload.get("status")
        outcome = status if isinstance(status, str) else ANSWERED
        self._reply(frame, received_at, out, outcome, None, reply, followup)

    def _answer_error(
        self,
        frame: wire.Frame,
        received_at: float,
        code: str,
        description: str,
        failed: bool = True,
        reply: Reply = NOW,
    ) -> None:
        self._forget_followup()  # what the handler meant to do after a success does not happen
        reason = f"{code}: {description}" if failed else None
        frame_out = wire.encode_error(frame.unique_id, code, description)
        self._reply(frame, received_at, frame_out, call_error_outcome(code), reason, reply)

    def _reply(
        self,
        frame: wire.Frame,
        received_at: float,
        out: bytes,
        outcome: str,
        reason: str | None,
        reply: Reply,
        followup: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Send an answer, now or after the policy's delay (a timer: the station's own CALLs
        go on meanwhile), record how long the station took, then run what follows it."""
        if reply.delay_s and self._loop is not None:
            self._hold(reply.delay_s, frame, received_at, out, outcome, reason, followup)
            return
        self._send_frame(out)
        handled_ms = (time.perf_counter() - received_at) * 1000
        action = frame.action or "?"
        self.sink.timing(self.id, handling_row(action), received_at, handled_ms, reason)
        self.sink.answered(self.id, action, outcome)
        if followup is not None:
            self._spawn(followup())

    def _hold(
        self,
        delay_s: float,
        frame: wire.Frame,
        received_at: float,
        out: bytes,
        outcome: str,
        reason: str | None,
        followup: Callable[[], Coroutine[Any, Any, None]] | None,
    ) -> None:
        """Held-back answers die with the connection: the CSMS sees them unanswered (counted
        so), and nothing is kept."""
        assert self._loop is not None
        delayed = self._delayed
        if delayed is None:
            delayed = self._delayed = {}
        handle: asyncio.TimerHandle

        def fire() -> None:
            delayed.pop(handle, None)
            if self._transport is not None:
                self._reply(frame, received_at, out, outcome, reason, NOW, followup)

        handle = self._loop.call_later(delay_s, fire)
        delayed[handle] = frame.action or "?"

    def _drop_delayed(self) -> None:
        if self._delayed:
            for handle, action in self._delayed.items():
                handle.cancel()
                self.sink.answered(self.id, action, DROPPED)
            self._delayed.clear()

    def _send_frame(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.send(frame)

    def _forget_followup(self) -> None:
        # Not written when already None: a name first set on a station after several exist
        # gives it a dict table of its own (Life's class-level defaults), and every answer to a
        # CSMS call wrote this one.
        if self._followup is not None:
            self._followup = None

    def then(self, followup: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``followup`` once the answer to the current CSMS call has been sent (a triggered
        message must follow its TriggerMessage answer on the wire, not precede it)."""
        self._followup = followup
