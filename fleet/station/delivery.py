"""A station's transaction messages on the loop: the thin layer that runs ``offline.TxQueue``.

Chargers hand every transaction message here instead of to the outbox. The head of the queue
goes out through the outbox (one CALL in flight, as OCPP-J wants) when the station is accepted
and no retry is pending; its answer decides what happens next. What happens to the messages is
counted in fleet's statistics (``Sink.delivery``): queued offline, replayed, retried, given up,
dropped at the queue's limit.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from fleet.errors import CallErrorReceived, CallFailed, CallTimeout, ConnectionLost, OutboxFull
from fleet.metrics.sample import (
    DELIVERY_DELIVERED,
    DELIVERY_DROPPED,
    DELIVERY_GAVE_UP,
    DELIVERY_LEFT,
    DELIVERY_QUEUED,
    DELIVERY_REPLAYED,
    DELIVERY_RESENT,
    DELIVERY_RETRIED,
)
from fleet.station.calls import Answer, Outgoing
from fleet.station.offline import Pending, TxQueue
from fleet.station.transaction import Tx

if TYPE_CHECKING:
    from fleet.station.life import Life

Done = Callable[[Answer], None]
# Failures that mean the CSMS did not process the message: it is sent again.
RETRIED: Final = (CallTimeout, CallErrorReceived, OutboxFull)


class Delivery:
    __slots__ = ("left", "out", "queue", "station", "timer")

    def __init__(self, station: Life) -> None:
        self.station = station
        offline = station.scenario.offline
        self.queue = TxQueue(offline.queue_limit, offline.when_full)
        self.out = False  # the head is on the wire
        self.timer: asyncio.TimerHandle | None = None  # a retry waiting for its time
        self.left: Counter[str] | None = None  # reported still queued when the station stopped

    def put(
        self, action: str, payload: dict[str, Any], row: str, tx: Tx, done: Done | None
    ) -> None:
        """Deliver a transaction message after those before it (at once when none waits);
        ``done`` is given the CSMS's answer, or the failure once it is given up or dropped."""
        offline = not self.station.tx_open
        entry = Pending(action, payload, row, tx, done, offline)
        dropped = self.queue.put(entry, self.out)
        if offline and entry not in dropped:
            self._count(row, DELIVERY_QUEUED)
        if dropped:
            self._drop(dropped, DELIVERY_DROPPED, "offline queue full")
        self.pump()

    def online(self) -> None:
        """Accepted again: replay what waited, in order."""
        self.pump()

    def offline(self) -> None:
        """The connection is gone: nothing leaves until the next acceptance; a retry waiting
        goes at once then (its wait counts only while online)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def pump(self) -> None:
        head = self.queue.head
        if head is None or self.out or not self.station.tx_open or self.timer is not None:
            return
        self.out = True
        if head.cut:
            head.cut = False
            self._count(head.row, DELIVERY_RESENT)
        elif head.attempts:
            self._count(head.row, DELIVERY_RETRIED)
        message = Outgoing(head.action, head.payload, self._answered, row=head.row)
        self.station.send(message)

    def _answered(self, answer: Answer) -> None:
        self.out = False
        if not isinstance(answer, CallFailed):  # the common case first, written out: one a reading
            entry = self.queue.delivered(answer)
            station = self.station
            station.sink.delivery(station.id, entry.row, DELIVERY_DELIVERED)
            if entry.offline:
                self._count(entry.row, DELIVERY_REPLAYED)
            if entry.done is not None:
                entry.done(answer)
            if self.queue.entries:  # the next one waited behind it
                self.pump()
            return
        if isinstance(answer, ConnectionLost):  # it stays at the head: sent again after the boot
            head = self.queue.head
            if head is not None:
                head.cut = True
            return
        if isinstance(answer, RETRIED):
            self._failed(answer)
            return
        # Answered, though not usably: the CSMS has it. A 1.6 start answered so has no
        # transactionId, so the rest of its transaction goes with it (given up).
        entry, *orphans = self.queue.give_up()
        self._count(entry.row, DELIVERY_DELIVERED)
        _tell(entry, answer)
        self._drop(orphans, DELIVERY_GAVE_UP, answer)
        self.pump()

    def _failed(self, failure: CallFailed) -> None:
        attempts, interval_s = self.station.message_attempts()
        loop = asyncio.get_running_loop()
        again_at = self.queue.failed(attempts, interval_s, loop.time())
        if again_at is None:
            self._drop(self.queue.give_up(), DELIVERY_GAVE_UP, failure)
            self.pump()
            return
        self.timer = loop.call_at(again_at, self._retry)

    def _retry(self) -> None:
        self.timer = None
        self.pump()

    def _drop(self, entries: list[Pending], event: str, why: str | CallFailed) -> None:
        failure = why if isinstance(why, CallFailed) else ConnectionLost(why)
        for entry in entries:
            self._count(entry.row, event)
            _tell(entry, failure)

    def _count(self, row: str, event: str, count: int = 1) -> None:
        station = self.station
        station.sink.delivery(station.id, row, event, count)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def stopped(self) -> None:
        """The station stopped: what still waits is reported (a run's end says what never
        reached the CSMS)."""
        left = self.left = Counter(entry.row for entry in self.queue.entries)
        for row, count in left.items():
            self._count(row, DELIVERY_LEFT, count)

    def returned(self) -> None:
        """The stopped station came back: what it reported as left is on its way again."""
        left, self.left = self.left, None
        for row, count in (left or Counter()).items():
            self._count(row, DELIVERY_LEFT, -count)


def _tell(entry: Pending, answer: Answer) -> None:
    if entry.done is not None:
        entry.done(answer)
