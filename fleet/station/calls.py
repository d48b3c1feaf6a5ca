"""Outgoing CALLs: the pending slot, the outbox behind it, and one sample per CALL.

OCPP-J allows one CALL in flight per station. It sits in a visible slot (``_inflight``) with a
bounded outbox behind it, not behind a lock nobody can see into, so a round trip is timed from
the moment the frame is handed to the socket, not from when the station first wanted to send.

* ``send()`` takes a callback, not a task: a scheduled message (a heartbeat, a meter value) is
  a timer callback that queues a CALL, and its answer is handed to another callback. ``call()``
  (for code that reads better awaiting) is built on the same path.
* The answer a CALL waits for is taken straight from the socket's data callback
  (``_take_reply``, the transport's ``intercept``): no task is woken just to hand it over.
* One deadline sweep per loop (``Deadlines``), not a timer per CALL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Final

import orjson

from fleet import wire
from fleet.errors import (
    CallErrorReceived,
    CallFailed,
    CallTimeout,
    ConnectionLost,
    InvalidResponse,
    OutboxFull,
)
from fleet.fastcheck import Predicate
from fleet.metrics.sample import ANSWER, EXAMPLE_CHARS, Sink, Violation, drift_row
from fleet.routing import Routed
from fleet.scenario import Scenario
from fleet.station import behaviour
from fleet.station.channel import Transport, TransportClosed
from fleet.station.deadlines import Deadlines
from fleet.station.ids import uuid4_text
from fleet.station.rare import Rare
from fleet.station.state import Ending, State

OUTBOX_LIMIT: Final = 32
TIMEOUTS_KEPT: Final = 4  # timed-out CALLs whose late answers are recognised as such

# (message type, CALLRESULT payload or CALLERROR frame, bytes received, perf_counter at arrival)
_Reply = tuple[int, Any, int, float]
Answer = dict[str, Any] | CallFailed  # what a CALL's callback is given
Judge = Callable[[dict[str, Any]], str | None]


@dataclass(slots=True)
class Outgoing:
    """A CALL the station wants sent; ``done`` is given the answer's payload or the failure."""

    action: str
    payload: dict[str, Any]
    done: Callable[[Answer], None] | None  # None: the caller awaits the reply itself
    due_s: float | None = None  # loop time it was scheduled for: its lateness is drift
    judge: Judge | None = None  # may turn a well-formed answer into a counted failure
    row: str | None = None  # the statistics row, when not the action ("TransactionEvent(Ended)")


@dataclass(slots=True)
class _InFlight:
    unique_id: str
    message: Outgoing
    sent_at: float
    reply: asyncio.Future[_Reply]
    slot: int  # its deadline's bucket (``Deadlines``)


class CallSlot(Routed):
    """A station's outgoing CALLs, shared by both versions (``Engine`` adds the connection
    and the CSMS's calls, ``Station`` the behaviour)."""

    # Every class of a station declares its attributes in __slots__ (see ``Life``'s), or as
    # ``Rare`` when only rare events set them (kept in ``_rare``).
    __slots__ = (
        "_deadlines",
        "_ending",
        "_inflight",
        "_loop",
        "_next_id",
        "_ocpp_version",
        "_outbox",
        "_rare",
        "_transport",
        "id",
        "scenario",
        "sink",
        "state",
        "storm_cut",
    )
    version: ClassVar[str]
    kind: ClassVar[str]  # request_type in reports: "OCPP1.6" / "OCPP2.0.1"
    # Per action, shared by a version's stations: is an answer certainly valid (wire.quick_check)
    answer_checks: ClassVar[dict[str, Predicate]]
    _timed_out: Rare[list[tuple[str, str, float]] | None] = Rare(None)  # (id, action, sent_at)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.answer_checks = {}

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        self.id = station_id
        self._ocpp_version = self.version
        self.scenario = scenario
        self.sink = sink
        self.state = State.OFFLINE
        self._transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ending: Ending | None = None
        self._inflight: _InFlight | None = None
        self._deadlines: Deadlines | None = None  # the loop's, from the first connection
        # CALLs waiting for the one in flight; tiny and usually empty (a list costs 56 bytes
        # where a deque costs 600: it matters at 10,000 stations).
        self._outbox: list[Outgoing] = []
        # The connection was cut by a storm's fault: what it cut off is not the CSMS's failure.
        self.storm_cut = False
        self._next_id = 0  # the last counter message id (csms.message_ids "counter")
        self._rare: dict[str, Any] | None = None  # the ``Rare`` attributes set

    # --- outgoing CALLs --------------------------------------------------------------------------

    def send(self, message: Outgoing) -> None:
        """Queue a CALL: it leaves when the slot is free (at once if it is), and exactly one
        sample is recorded for it (the wire round trip, or the failure). ``message.done`` is
        called with the CALLRESULT payload or the CallFailed, always from a loop callback."""
        if self._transport is None or self._ending is Ending.STOPPED:
            why = "not connected" if self._transport is None else "station stopping"
            self._later(message.done, ConnectionLost(why))
        elif self._inflight is None and not self._outbox:
            self._launch(message)
        elif len(self._outbox) >= OUTBOX_LIMIT:
            reason = "outbox full: the CSMS is not answering"
            self._record(message.row or message.action, time.perf_counter(), 0.0, 0, reason)
            self._later(message.done, OutboxFull(f"{len(self._outbox)} CALLs already waiting"))
        else:
            self._outbox.append(message)

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        judge: Judge | None = None,
        due_s: float | None = None,
        row: str | None = None,
    ) -> dict[str, Any]:
        """``send()`` awaited: the CALLRESULT payload, or raise CallFailed (``row``: the
        statistics row, when not the action's)."""
        free = self._inflight is None and not self._outbox and self._transport is not None
        if free and self._ending is not Ending.STOPPED:
            # The slot is free: await the reply itself, one future and one wake-up fewer.
            inflight = self._launch(Outgoing(action, payload, None, due_s, judge, row))
            if inflight is None:
                raise ConnectionLost("connection closing")
            try:
                await inflight.reply
            except TimeoutError:
                pass  # the deadline passed: _settle records it
            except asyncio.CancelledError:
                self._release(inflight)
                raise
            return self._settle(inflight, inflight.reply)
        loop = self._loop or asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self.send(Outgoing(action, payload, partial(_resolve, answer), due_s, judge, row))
        result = await answer
        if isinstance(result, CallFailed):
            raise result
        return result

    async def drained(self, timeout_s: float) -> None:
        """Wait until nothing is queued or in flight (at most ``timeout_s``)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        while self._busy() and loop.time() < until:
            await asyncio.sleep(0.01)

    @property
    def connected(self) -> bool:
        """A connection is up (it may not be accepted yet)."""
        return self._transport is not None

    def pending(self) -> tuple[str | None, int]:
        """The action of the CALL in flight (None: none) and how many CALLs wait behind it."""
        inflight = self._inflight
        return (None if inflight is None else inflight.message.action), len(self._outbox)

    def _busy(self) -> bool:
        """Something is queued or in flight."""
        return self._inflight is not None or bool(self._outbox)

    def _later(self, done: Callable[[Answer], None] | None, result: Answer) -> None:
        if done is not None:
            (self._loop or asyncio.get_running_loop()).call_soon(done, result)

    def _launch(self, message: Outgoing) -> _InFlight | None:
        """Put a CALL on the wire now; the slot must be free. Returns it (None: the connection
        is closing). Without ``done`` the caller awaits the reply itself."""
        transport, loop = self._transport, self._loop
        assert transport is not None and loop is not None
        if self.scenario.csms.message_ids == "uuid":
            unique_id = uuid4_text()
        else:
            self._next_id += 1
            unique_id = str(self._next_id)
        reply: asyncio.Future[_Reply] = loop.create_future()
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = Deadlines.of(loop)
        slot = deadlines.add(self.scenario.csms.call_timeout_s, reply)
        action = message.action
        if message.due_s is not None:
            late_ms = max(loop.time() - message.due_s, 0.0) * 1000
            self.sink.timing(self.id, drift_row(action), None, late_ms, None)
        sent_at = time.perf_counter()
        inflight = self._inflight = _InFlight(unique_id, message, sent_at, reply, slot)
        if message.done is not None:
            reply.add_done_callback(partial(self._answered, inflight))
        try:
            transport.send(wire.encode_call(unique_id, action, message.payload))
        except TransportClosed as exc:
            if (self._ending is None or self._ending is Ending.LOST) and not self.storm_cut:
                # A CALL cut off by our own stop, reboot or storm is not the CSMS's failure.
                self._record(message.row or action, sent_at, 0.0, 0, exc.reason)
            # Not _release(): the connection is going, nothing more is launched on it.
            self._inflight = None
            deadlines.discard(slot, reply)
            reply.cancel()
            if message.done is None:
                return None
        return inflight

    def _answered(self, inflight: _InFlight, reply: asyncio.Future[_Reply]) -> None:
        if reply.cancelled():  # the connection ended with it out (recorded already)
            self._release(inflight)
            done = inflight.message.done
            if done is not None:
                done(ConnectionLost("the connection ended"))
            return
        message = inflight.message
        try:
            result: Answer = self._settle(inflight, reply)
        except CallFailed as exc:
            result = exc
        if message.done is not None:
            message.done(result)

    def _release(self, inflight: _InFlight) -> None:
        """The CALL is over: free the slot and send the next one waiting."""
        if self._inflight is inflight:
            self._inflight = None
            if self._deadlines is not None:
                self._deadlines.discard(inflight.slot, inflight.reply)
            if self._outbox and self._transport is not None:
                self._launch(self._outbox.pop(0))

    def _settle(self, inflight: _InFlight, reply: asyncio.Future[_Reply]) -> dict[str, Any]:
        """The end of a CALL whose answer came (or whose deadline passed): record exactly one
        sample and return the CALLRESULT payload, or raise CallFailed."""
        self._release(inflight)
        message, sent_at = inflight.message, inflight.sent_at
        action = message.action
        row = message.row or action
        if reply.exception() is not None:  # the deadline (Deadlines sets TimeoutError)
            timeout_s = self.scenario.csms.call_timeout_s
            reason = f"no answer within {timeout_s:g} s"
            self._record(row, sent_at, (time.perf_counter() - sent_at) * 1000, 0, reason)
            self._remember_timeout(inflight.unique_id, action, sent_at)
            raise CallTimeout(reason)
        message_type, body, size, received_at = reply.result()
        rtt_ms = (received_at - sent_at) * 1000
        if message_type == wire.CALLERROR:
            error = CallErrorReceived(body.error_code or "", body.description or "")
            self._record(row, sent_at, rtt_ms, size, error.reason)
            raise error
        if self.scenario.csms.check_schemas:
            valid = self.answer_checks.get(action)
            if valid is None:
                valid = wire.quick_check(self.version, action, "response")
                self.answer_checks[action] = valid
            if not valid(body):
                try:
                    wire.checker(self.version, action, "response")(body)
                except wire.SchemaViolation as exc:
                    failure = self._violated_answer(action, inflight.unique_id, body, exc)
                    if failure is not None:
                        self._record(row, sent_at, rtt_ms, size, failure)
                        raise InvalidResponse(failure) from None
        judge = message.judge
        verdict = judge(body) if judge else None
        # The sink called directly (not through _record): every answer comes here.
        self.sink.exchange(self.id, self.kind, row, sent_at, rtt_ms, size, verdict)
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

    def _abort_inflight(self, reason: str) -> None:
        """The connection ended with a CALL outstanding: the failure is recorded here (its
        callback learns of it through the cancelled reply); a CALL cut off by our own stop or
        reboot is not a failure."""
        inflight = self._inflight
        if inflight is None or inflight.reply.done():
            return
        if self._ending is Ending.LOST and not self.storm_cut:
            elapsed_ms = (time.perf_counter() - inflight.sent_at) * 1000
            reason = f"connection lost: {reason or 'closed'}"
            message = inflight.message
            self._record(message.row or message.action, inflight.sent_at, elapsed_ms, 0, reason)
        inflight.reply.cancel()

    def _drop_outbox(self) -> None:
        """CALLs still queued when the connection ends never left: each is told so (a schedule
        counts its own missed messages: it knows which due times passed)."""
        queued, self._outbox = self._outbox, []
        for message in queued:
            self._later(message.done, ConnectionLost("the connection ended before it was sent"))

    def _record(
        self, action: str, sent_at: float, rtt_ms: float, size: int, error: str | None
    ) -> None:
        self.sink.exchange(self.id, self.kind, action, sent_at, rtt_ms, size, error)

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


def _resolve(answer: asyncio.Future[Answer], result: Answer) -> None:
    if not answer.done():
        answer.set_result(result)
