"""A station's clock and its heartbeats on the loop, across its connections: ``beats.Beats``
decides when a beat is due, missed or re-planned; this arms the one timer, sends the beat,
counts what was missed. The clock lives here because the beats' answers keep it
(``currentTime``). ``life.Life`` (boot, connector reports, chargers) builds on it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fleet.errors import CallFailed, ConnectionLost
from fleet.metrics.sample import Sink
from fleet.scenario import Scenario
from fleet.station import behaviour
from fleet.station.beats import Beats
from fleet.station.beats import Intent as BeatIntent
from fleet.station.engine import Answer, Engine, Outgoing
from fleet.station.intents import Send, WakeAt
from fleet.station.rare import Rare


class Beating(Engine):
    """Heartbeats by intended time and the station's wall clock (see the module's text)."""

    __slots__ = ("_beat_timer", "beats", "clock_offset_s", "heartbeat_s")
    missed: Rare[dict[str, int] | None] = Rare(None)  # scheduled messages missed, per action

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.clock_offset_s = 0.0
        self.heartbeat_s = scenario.heartbeat.fallback_s
        self.beats = Beats()
        self._beat_timer: asyncio.TimerHandle | None = None  # armed while waiting for a beat

    # --- clocks ----------------------------------------------------------------------------------

    def _loop_time(self) -> float:
        """The loop's clock, which the beats are timed by. The station's loop when it has one:
        asyncio.get_running_loop() cost ~0.3 µs more, twice per beat."""
        return (self._loop or asyncio.get_running_loop()).time()

    def now(self) -> float:
        """The station's wall clock: local time corrected to the CSMS's (synced at boot)."""
        return time.time() + self.clock_offset_s

    def timestamp(self) -> str:
        return behaviour.format_time(self.now())

    def _sync_clock(self, current_time: Any) -> None:
        offset = behaviour.clock_offset_s(current_time, time.time())
        if offset is not None:
            self.clock_offset_s = offset

    # Heartbeats are timer callbacks, not a coroutine: the frame leaves from the timer when the
    # CALL slot is free, and the answer is settled in a callback of its future. No task is
    # woken per beat (a beat used to cost two futures and two task wake-ups besides the round
    # trip: ~12 % of a busy Locust process). ``beats.Beats`` decides; this carries it out.

    def _run_beats(self, intents: list[BeatIntent]) -> None:
        for intent in intents:
            if isinstance(intent, Send):
                done = self._beat_answered
                self.send(Outgoing(intent.action, intent.payload, done, intent.due_s))
            elif isinstance(intent, WakeAt):
                if self._beat_timer is not None:
                    self._beat_timer.cancel()
                    self._beat_timer = None
                if self._loop is not None and self._transport is not None:
                    self._beat_timer = self._loop.call_at(intent.at_s, self._beat)
            else:
                self._count_missed(intent.action, intent.cause, intent.count)

    def _beat(self) -> None:
        self._beat_timer = None
        self._run_beats(self.beats.due(self._loop_time()))

    def _beat_answered(self, answer: Answer) -> None:
        if isinstance(answer, ConnectionLost):
            return  # not connected any more, or stopping: nothing comes after
        if not isinstance(answer, CallFailed):
            self._sync_clock(answer.get("currentTime"))
        self._run_beats(self.beats.answered(self._loop_time()))

    def _replan_beats(self) -> None:
        """HeartbeatInterval changed: the next beat is one new interval from now."""
        if self._loop is not None:
            self._run_beats(self.beats.replan(self._loop.time(), self.heartbeat_s))

    def _count_missed(self, action: str, cause: str, count: int) -> None:
        if count:
            if self.missed is None:
                self.missed = {}
            self.missed[action] = self.missed.get(action, 0) + count
            self.sink.missed(self.id, action, cause, count)

    def _beats_disconnected(self, lost: bool) -> None:
        """The connection ended: no beat is armed on it any more."""
        if self._beat_timer is not None:
            self._beat_timer.cancel()
            self._beat_timer = None
        self.beats.disconnected(lost=lost)
