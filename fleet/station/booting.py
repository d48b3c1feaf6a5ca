"""Booting until accepted, and what acceptance starts. Pure: told the loop time, the wall time
and the CSMS's answer to a BootNotification (None when none came), it answers with intents.

1.6 §4.2 and 2.0.1 B01-B03: Pending and Rejected mean boot again after the interval (the
station's own wait when that is 0 or absurd); while Rejected the station answers nothing.
Accepted sets the clock and the heartbeat interval; on a connection's first acceptance the
station reports its connectors, starts heartbeating and starts its chargers, in that order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.scenario import Heartbeat
from fleet.station import behaviour
from fleet.station.behaviour import Heartbeats
from fleet.station.intents import WakeAt
from fleet.station.state import State


@dataclass(slots=True, frozen=True)
class Become:
    """The station's state changes (Pending, Rejected)."""

    state: State


@dataclass(slots=True, frozen=True)
class SyncClock:
    """Add ``offset_s`` to the local clock from now on: the CSMS's time."""

    offset_s: float


@dataclass(slots=True, frozen=True)
class Accepted:
    """Accepted: heartbeat every ``every_s``. ``waited_s`` is how long the boot took, from the
    connection's first BootNotification (None when the station was accepted already)."""

    every_s: float
    waited_s: float | None


@dataclass(slots=True, frozen=True)
class ReportConnectors:
    """StatusNotification for every connector (1.6: connector 0 too); ``changed_only``: only
    for those whose status changed while the station was offline."""

    changed_only: bool = False


@dataclass(slots=True, frozen=True)
class StartBeats:
    every_s: float


@dataclass(slots=True, frozen=True)
class StartChargers:
    """The chargers plan (or resume) their sessions."""


Intent = Become | SyncClock | Accepted | ReportConnectors | StartBeats | StartChargers | WakeAt


class Booting:
    """Boot decisions for one station, across its connections."""

    __slots__ = ("accepted", "first_s", "retry_s", "rules", "started")

    def __init__(self, rules: Heartbeat, retry_s: float) -> None:
        self.rules = rules
        self.retry_s = retry_s  # the wait when no usable answer came
        self.first_s: float | None = None  # this connection's first BootNotification
        self.accepted = False  # the station is Accepted now
        self.started = False  # acceptance started this connection's reports and schedules

    def connected(self) -> None:
        """A new connection: boot from scratch."""
        self.first_s = None
        self.accepted = self.started = False

    def resumed(
        self, lost_for_s: float | None, within_s: float, every_s: float, threshold_s: float
    ) -> list[Intent]:
        """A new connection after a loss of ``lost_for_s`` (None: not after a loss of an
        accepted connection). A real station does not always boot again after a short network
        drop: within ``within_s`` (the scenario's ``reconnect.resume_within_s``; 0: never) it
        goes on as Accepted without a BootNotification. It then reports the connectors whose
        status changed while it was offline (1.6 §4.9; 2.0.1 B04.FR.02), or every connector
        when it was offline for ``threshold_s`` or longer (2.0.1 OfflineThreshold, B04.FR.01;
        0: always every one). Empty: boot as ever."""
        if lost_for_s is None or lost_for_s >= within_s:
            return []
        self.accepted = self.started = True
        report = ReportConnectors(changed_only=lost_for_s < threshold_s)
        return [Accepted(every_s, None), report, StartBeats(every_s), StartChargers()]

    def sending(self, now_s: float) -> None:
        """A BootNotification leaves: the boot time counts from this connection's first."""
        if self.first_s is None:
            self.first_s = now_s

    def answered(
        self, answer: Mapping[str, Any] | None, now_s: float, wall_s: float
    ) -> list[Intent]:
        """What the answer means (None: failed, timed out or a CallError): boot again after
        the wait, or accepted and what that starts."""
        if answer is None:
            return [WakeAt(now_s + self.retry_s)]
        status, interval = answer["status"], answer["interval"]
        decision = behaviour.after_boot(status, interval, self.rules, self.retry_s)
        if not isinstance(decision, Heartbeats):
            self.accepted = False
            state = State.PENDING if decision.answer_csms else State.REJECTED
            return [Become(state), WakeAt(now_s + decision.after_s)]
        intents: list[Intent] = []
        offset = behaviour.clock_offset_s(answer["currentTime"], wall_s)
        if offset is not None:
            intents.append(SyncClock(offset))
        first = self.first_s if self.first_s is not None else now_s
        waited_s = None if self.accepted else now_s - first
        self.accepted = True
        intents.append(Accepted(decision.every_s, waited_s))
        if not self.started:
            self.started = True
            intents += [ReportConnectors(), StartBeats(decision.every_s), StartChargers()]
        return intents
