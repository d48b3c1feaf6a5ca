"""What a station's decisions answer with: intents, which the engine carries out.

Decision objects (``booting.Boot``, ``beats.Beats``, ``sessions.Charger``) know the rules and
nothing of the loop: they are given the time and what happened, and return these. Only the
engine (``life.py``, ``charging.py``) sends, arms timers and counts.

Intents are read, never changed, once made; they are not frozen dataclasses because one is made
per heartbeat and a frozen one costs twice as much to build (0.66 against 0.29 µs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Send:
    """Send a CALL (through the outbox: in order, one in flight)."""

    action: str
    payload: dict[str, Any]
    row: str | None = None  # its statistics row when not the action: "TransactionEvent(Ended)"
    due_s: float | None = None  # the loop time it was scheduled for: its lateness is drift
    # The transaction (``transaction.Tx``) a transaction-related message belongs to: such a
    # message is delivered in order, queued while offline and retried (``offline.TxQueue``).
    tx: Any = None
    judge: Any = None  # may turn a well-formed answer into a counted failure (``calls.Judge``)


@dataclass(slots=True)
class WakeAt:
    """Wake the decision that returned this at ``at_s`` (loop clock); replaces its earlier one."""

    at_s: float


@dataclass(slots=True)
class Missed:
    """``count`` scheduled ``action`` messages could not leave on time, for ``cause``."""

    action: str
    cause: str
    count: int
