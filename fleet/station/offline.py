"""Transaction messages that must reach the CSMS whatever the connection does. Pure: no loop,
no socket; ``delivery.Delivery`` carries its decisions out.

A station's transaction-related messages (1.6 StartTransaction, MeterValues of a transaction,
StopTransaction; 2.0.1 TransactionEvent) go through one queue, in the order they were made, one
at a time: the next leaves when the CSMS has answered the one before. While the station is
offline they wait here, bounded by ``offline.queue_limit``; once it is accepted again they are
replayed in order, before any new one. A message the CSMS does not answer, or answers with a
CallError, is sent again after ``interval x attempts so far`` until it has had its attempts
(1.6 §4.7 TransactionMessageAttempts / RetryInterval; 2.0.1 E13 MessageAttempts /
MessageAttemptInterval), then given up. A connection lost while a message was out is not an
attempt: it stays at the head and goes again after the next boot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fleet.station.transaction import Tx

DROP_OLDEST: Final = "drop_oldest"
DROP_NEWEST: Final = "drop_newest"
DROP_METER_VALUES: Final = "drop_meter_values"
# Rows of the messages drop_meter_values may drop: readings, not starts and stops.
READINGS: Final = frozenset({"MeterValues", "TransactionEvent(Updated)"})


@dataclass(slots=True)
class Pending:
    """One transaction message on its way to the CSMS."""

    action: str
    payload: dict[str, Any]
    row: str  # its statistics row ("TransactionEvent(Updated)")
    tx: Tx
    done: Callable[[Any], None] | None  # the sender's callback, given the final answer
    offline: bool  # made while the station was offline: delivering it is a replay
    attempts: int = 0  # sent this many times without an answer that counts
    cut: bool = False  # it was out when the connection dropped (the CSMS may have it already)


class TxQueue:
    """The queue and its rules; the head is the message being delivered."""

    __slots__ = ("entries", "limit", "when_full")

    def __init__(self, limit: int, when_full: str) -> None:
        self.entries: list[Pending] = []
        self.limit = limit
        self.when_full = when_full

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def head(self) -> Pending | None:
        return self.entries[0] if self.entries else None

    def put(self, entry: Pending, head_out: bool) -> list[Pending]:
        """Queue ``entry``; returns what the limit made the queue drop (the new entry itself
        when it is refused), with what went with them. ``head_out``: the head is on the wire,
        so it cannot be dropped."""
        if entry.tx.lost:  # a 1.6 transaction whose start never got through
            return [entry]
        if len(self.entries) < self.limit:
            self.entries.append(entry)
            return []
        first = 1 if head_out else 0
        victim: Pending | None = None
        if self.when_full == DROP_OLDEST:
            victim = self.entries[first] if len(self.entries) > first else None
        elif self.when_full == DROP_METER_VALUES:
            readings = (e for e in self.entries[first:] if e.row in READINGS)
            victim = next(readings, None)
        if victim is None:  # the new one is refused
            if entry.action == "StartTransaction":
                entry.tx.lost = True
            return [entry]
        dropped = self.remove(victim)
        if entry.tx.lost:
            return [*dropped, entry]
        self.entries.append(entry)
        return dropped

    def remove(self, entry: Pending) -> list[Pending]:
        """Take ``entry`` out; a 1.6 StartTransaction takes its whole transaction with it
        (without the CSMS's transactionId nothing of it can be delivered)."""
        self.entries.remove(entry)
        if entry.action != "StartTransaction":
            return [entry]
        entry.tx.lost = True
        orphans = [e for e in self.entries if e.tx is entry.tx]
        self.entries = [e for e in self.entries if e.tx is not entry.tx]
        return [entry, *orphans]

    def delivered(self, answer: dict[str, Any]) -> Pending:
        """The CSMS answered the head: it is done. A 1.6 start's transactionId goes into its
        transaction and every queued message of it."""
        entry = self.entries.pop(0)
        if entry.action == "StartTransaction":
            tx_id = answer.get("transactionId")
            entry.tx.tx_id = tx_id
            for queued in self.entries:
                if queued.tx is entry.tx:
                    queued.payload["transactionId"] = tx_id
        return entry

    def failed(self, attempts: int, interval_s: float, now_s: float) -> float | None:
        """The head went unanswered or got a CallError: when to send it again, or None when it
        has had its ``attempts`` (it is then to be given up: ``give_up``)."""
        head = self.entries[0]
        head.attempts += 1
        if head.attempts >= attempts:
            return None
        return now_s + interval_s * head.attempts

    def give_up(self) -> list[Pending]:
        """The head is given up (with the rest of its transaction, for a 1.6 start)."""
        return self.remove(self.entries[0])
