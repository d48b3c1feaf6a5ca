"""A station's heartbeats by intended time, across its connections. Pure: told the loop time
and what happened (accepted, the beat's timer fired, its answer came, the interval changed, the
connection ended), it answers with intents (``Send``, ``WakeAt``, ``Missed``).

A beat that cannot leave on schedule is counted as missed, with why: the loop fired its timer
too late (a stall), the previous CALL was still out (busy), or the station was offline (counted
once it is accepted again, or when it stops for good).
"""

from __future__ import annotations

from fleet.metrics.sample import MISSED_BUSY, MISSED_OFFLINE, MISSED_STALL
from fleet.station.intents import Missed, Send, WakeAt
from fleet.station.schedule import Periodic

HEARTBEAT = "Heartbeat"
Intent = Send | WakeAt | Missed


class Beats:
    """Heartbeat decisions. ``out`` is True from the beat's timer until its answer (or failure):
    the next beat is planned when that one is settled, never while it is out."""

    __slots__ = ("_lost", "_replanned", "out", "schedule")

    def __init__(self) -> None:
        self.schedule: Periodic | None = None  # this connection's (None: not beating)
        self._lost: Periodic | None = None  # the schedule a lost connection left behind
        self._replanned = False  # the interval changed while a beat was out
        self.out = False

    def start(self, now_s: float, every_s: float) -> list[Intent]:
        """Accepted on a connection: the first beat is one interval from now. Beats that fell
        due while the station was offline are missed."""
        intents: list[Intent] = self._offline(now_s)
        self.schedule = Periodic.starting(now_s, every_s)
        self._replanned = self.out = False
        intents.append(WakeAt(self.schedule.due_s))
        return intents

    def due(self, now_s: float) -> list[Intent]:
        """The beat's timer fired: send it. Due times the loop let pass are missed (a stall)."""
        schedule = self.schedule
        if schedule is None or self.out:
            return []
        intents: list[Intent] = _missed(MISSED_STALL, schedule.catch_up(now_s))
        self.out = True
        intents.append(Send(HEARTBEAT, {}, due_s=schedule.due_s))
        return intents

    def answered(self, now_s: float) -> list[Intent]:
        """The beat was answered (or failed): plan the next. Due times that passed while it was
        out are missed (busy), unless the interval changed meanwhile: the new one counts from
        when it was set."""
        schedule = self.schedule
        if schedule is None or not self.out:
            return []
        self.out = False
        if self._replanned:
            self._replanned = False
            return [WakeAt(schedule.due_s)]
        intents: list[Intent] = _missed(MISSED_BUSY, schedule.sent(now_s))
        intents.append(WakeAt(schedule.due_s))
        return intents

    def replan(self, now_s: float, every_s: float) -> list[Intent]:
        """HeartbeatInterval changed: the next beat is one new interval from now (once the beat
        that is out, if any, is settled)."""
        schedule = self.schedule
        if schedule is None:
            return []
        schedule.replan(now_s, every_s)
        if self.out:
            self._replanned = True
            return []
        return [WakeAt(schedule.due_s)]

    def disconnected(self, lost: bool) -> None:
        """The connection ended. If it was lost, the beats due from now on are missed (counted
        at the next ``start`` or at ``ended``); a clean stop or a reboot misses nothing. A beat
        out when the connection went was sent (its failure is counted as one), not missed."""
        if self.schedule is not None and self.out:
            self.schedule.due_s += self.schedule.every_s
        self._lost = self.schedule if lost else None
        self.schedule = None
        self.out = self._replanned = False

    def ended(self, now_s: float) -> list[Intent]:
        """The station stopped for good while offline: the beats missed since are counted now,
        as no new connection will."""
        return self._offline(now_s)

    def _offline(self, now_s: float) -> list[Intent]:
        lost, self._lost = self._lost, None
        return [] if lost is None else _missed(MISSED_OFFLINE, lost.missed_until(now_s))


def _missed(cause: str, count: int) -> list[Intent]:
    return [Missed(HEARTBEAT, cause, count)] if count else []
