"""A station's websocket pings (WebSocketPingInterval, 1.6 and 2.0.1's OCPPCommCtrlr). Pure:
told the loop time and what happened (connected, the timer fired, a pong came, the interval
changed), it answers with what to do: send a ping, wake at a time, give up the connection.

Real chargers ping so that a dead link (a NAT or load balancer that forgot the connection, a
CSMS that stopped reading) is found in seconds, not at the next Heartbeat: a ping unanswered
for ``timeout_s`` ends the connection, and the station reconnects. One ping is out at a time;
a ping that falls due while one is out is not sent (the one out is still being waited for).
The payload is a counter, so a pong answering an older ping is not taken for the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NO_PONG: Final = "no pong within {:g} s"


@dataclass(slots=True, frozen=True)
class Ping:
    payload: bytes


@dataclass(slots=True, frozen=True)
class GiveUp:
    reason: str  # the connection is dead: end it (the station reconnects)


@dataclass(slots=True, frozen=True)
class Wake:
    at_s: float  # loop time of the next decision


Intent = Ping | GiveUp | Wake


class Pings:
    """Ping decisions for one connection (loop time in seconds)."""

    __slots__ = ("_count", "every_s", "next_s", "out", "sent_s", "timeout_s")

    def __init__(self, every_s: float, timeout_s: float, now_s: float) -> None:
        self.every_s = every_s  # 0: no pings
        self.timeout_s = timeout_s
        self.next_s = now_s + every_s  # when the next ping is due
        self.out: bytes | None = None  # the payload of the ping waiting for its pong
        self.sent_s = 0.0  # when it was sent
        self._count = 0

    @property
    def active(self) -> bool:
        return self.every_s > 0

    def first(self) -> list[Intent]:
        """Connected: the first ping is one interval from now."""
        return [Wake(self.next_s)] if self.active else []

    def due(self, now_s: float) -> list[Intent]:
        """The timer fired: give up on a ping unanswered too long, send one that is due."""
        if not self.active:
            return []
        if self.out is not None and now_s >= self.sent_s + self.timeout_s:
            return [GiveUp(NO_PONG.format(self.timeout_s))]
        intents: list[Intent] = []
        if now_s >= self.next_s:
            if self.out is None:
                self._count += 1
                self.out, self.sent_s = str(self._count).encode(), now_s
                intents.append(Ping(self.out))
            while self.next_s <= now_s:  # due times passed while one was out: not sent
                self.next_s += self.every_s
        intents.append(Wake(self._next_decision()))
        return intents

    def pong(self, payload: bytes) -> bool:
        """A pong came: True when it answers the ping out (the caller times it: the loop's
        clock is too coarse for a round trip), False for an unsolicited pong or one for an
        older ping (RFC 6455 allows both)."""
        if self.out is None or payload != self.out:
            return False
        self.out = None
        return True

    def replan(self, every_s: float, now_s: float) -> list[Intent]:
        """WebSocketPingInterval changed: the next ping is one new interval from now; 0 stops
        pinging (a ping out is forgotten)."""
        self.every_s = every_s
        if not self.active:
            self.out = None
            return []
        self.next_s = now_s + every_s
        return [Wake(self._next_decision())]

    def _next_decision(self) -> float:
        if self.out is None:
            return self.next_s
        return min(self.next_s, self.sent_s + self.timeout_s)
