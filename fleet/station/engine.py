"""The asyncio shell of a station: one connection's life.

With ``CallSlot`` (outgoing CALLs) and ``Answering`` (the CSMS's CALLs answered, its base) this
is the station code that touches the loop. What to send and when is decided elsewhere (boot
rules, heartbeat schedules, sessions); the engine runs a connection until it closes and routes
each frame the fast path did not take: replies to the CALL in flight, CALLs to ``Answering``,
what is not OCPP-J RPC to the violations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar, Final

from fleet import wire
from fleet.metrics.sample import (
    EXAMPLE_CHARS,
    FRAME,
    LATE_ANSWER,
    Sink,
    Violation,
    handling_row,
)
from fleet.scenario import Scenario
from fleet.station.answering import Answering
from fleet.station.calls import Answer, Outgoing
from fleet.station.channel import Transport, TransportClosed
from fleet.station.deadlines import Deadlines
from fleet.station.keepalive import Keepalive
from fleet.station.rare import Rare
from fleet.station.state import Ending, State
from fleet.station.watch import Tracer, Watch, tracer

__all__ = ["Answer", "Ending", "Engine", "Outgoing"]

logger = logging.getLogger("fleet.station")

STOP_GRACE_S: Final = 5.0
MALFORMED: Final = "(malformed)"  # the action label of a frame that is not OCPP-J RPC
UNEXPECTED_REPLY: Final = "(unexpected reply)"
_closing: set[asyncio.Task[None]] = set()  # closes requested from sync code, until done


class Engine(Answering):
    """One station's connection machinery, shared by both versions. ``Station`` adds the
    behaviour; version modules add message shapes and ``@on`` handlers."""

    __slots__ = ("close_reason",)
    rpc_error_code: ClassVar[str]  # CallError code for a frame that is not valid RPC
    offline_until: Rare[float] = Rare(0.0)  # loop time: a storm keeps it offline until then
    _keepalive: Rare[Keepalive | None] = Rare(None)  # this connection's pings, when it pings
    watched: Rare[Watch | None] = Rare(None)  # its last frames, while watched at the console

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.close_reason = ""  # why the last connection ended, for the session's report

    # --- hooks for the behaviour -----------------------------------------------------------------

    async def _life(self) -> None:
        """What the station does once connected (boot, then its schedules)."""

    def _connected(self) -> None:
        """A connection is up, before anything is sent on it. A plain method, not an override
        of ``run``: each override of a coroutine is one more coroutine frame held for as
        long as the connection lasts (~0.3 KB a station)."""

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
        self._connected()
        self.set_state(State.BOOTING)
        transport.intercept = self._take_reply
        every_s = self.ping_every_s()
        if every_s > 0:
            self._start_pings(transport, every_s)
        # Boot as one of the station's tasks, not a local of this frame: held here, the ended
        # task (its coroutine, result and registry entry: ~0.7 KB) lived as long as the
        # connection, in every idle station.
        self._spawn(self._life())
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
            followups = list(self._tasks or ())
            for task in followups:
                task.cancel()
            if followups:
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

    def drop(self, down_s: float, silent: bool, cause: str = "storm") -> None:
        """A storm's drop (or one asked for at the console, ``cause``): the connection ends
        without a close frame (or goes silent, a half-open link), and the station stays off
        the network for ``down_s``."""
        loop = self._loop or asyncio.get_running_loop()
        self.offline_until = loop.time() + down_s
        if self._transport is not None and self._ending is None:
            self.storm_cut = True
            how = "silent" if silent else "dropped"
            self._transport.cut(f"{cause}: network {how}", down_s if silent else 0.0)

    def tracer(self) -> Tracer | None:
        """What a new connection tells each frame: the station traced (``run.trace``) or
        watched at the console (``watched``)."""
        return tracer(self.id, self.id in self.scenario.run.trace, self.watched)

    def watch(self, on: bool) -> None:
        """Keep the station's last frames for the console (from now, on this connection and
        the next ones), or stop."""
        if not on:
            self.watched = None
        elif self.watched is None:
            self.watched = Watch()
        transport = self._transport
        if transport is not None and hasattr(transport, "trace"):
            transport.trace = self.tracer()

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
