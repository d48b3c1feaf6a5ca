"""Answering the CSMS's CALLs on the loop: the ``@on`` handler run (sync or async), its answer
checked and sent now or after the scenario's delay, the time the station took recorded, and
what the handler asked to follow the answer (``then``) run after it. What to answer is the
handlers' and the responder policy's (``responder``); this carries it out. The station's own
tasks (follow-ups, async handlers) are spawned and counted here too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ocpp.exceptions import OCPPError

from fleet import wire
from fleet.metrics.sample import (
    ANSWERED,
    CALL,
    DROPPED,
    EXAMPLE_CHARS,
    STATION_ERROR,
    UNANSWERED,
    Sink,
    Violation,
    call_error_outcome,
    handling_row,
)
from fleet.routing import to_payload
from fleet.scenario import Scenario
from fleet.station.calls import CallSlot
from fleet.station.rare import Rare
from fleet.station.responder import NOW, Reply, Responder
from fleet.station.state import State

logger = logging.getLogger("fleet.station")


class Answering(CallSlot):
    """The CSMS's CALLs answered, for ``Engine`` (its subclass) to route them here."""

    __slots__ = ("responder",)
    _tasks: Rare[set[asyncio.Task[Any]] | None] = Rare(None)  # follow-ups
    _followup: Rare[Callable[[], Coroutine[Any, Any, None]] | None] = Rare(None)
    # Answers the policy holds back: their timers, and the action each answers.
    _delayed: Rare[dict[asyncio.TimerHandle, str] | None] = Rare(None)

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.responder = Responder.for_station(scenario, station_id, self.version)

    def status_for(self, action: str) -> str:
        """The status to answer ``action`` with (the scenario's responder policy draws it)."""
        return self.responder.status(action)

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
            self.station_error(exc)

    def station_error(self, exc: BaseException) -> None:
        """fleet's own code failed for this station (a task it spawned, its connection or run:
        ``session``): a failure in fleet's row "station error" with its reason, one log line
        (the traceback at DEBUG), and the station goes on; a bug must not end a load test."""
        reason = f"{type(exc).__name__}: {exc}"
        logger.error("%s: station error: %s", self.id, reason)
        logger.debug("station error", exc_info=exc)
        self.sink.timing(self.id, STATION_ERROR, None, 0.0, reason)

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

    def _send_frame(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.send(frame)
