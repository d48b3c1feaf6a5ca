"""Connector states and their transitions (OCPP 1.6 §4.9 ChargePointStatus; 2.0.1 reports the
coarser ConnectorStatusEnumType). Pure: a move returns the status to report, or None."""

from __future__ import annotations

import enum
from typing import Any, Final


class Status(enum.Enum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


S = Status
_IN_SESSION: Final = frozenset({S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE})
# 1.6 §4.9: the transitions a connector may make (Faulted may be entered from anywhere).
ALLOWED: Final[dict[Status, frozenset[Status]]] = {
    S.AVAILABLE: frozenset({S.PREPARING, *_IN_SESSION, S.RESERVED, S.UNAVAILABLE}),
    S.PREPARING: frozenset({S.AVAILABLE, *_IN_SESSION, S.FINISHING, S.UNAVAILABLE}),
    # C8/D8/E8: the session ends and a scheduled ChangeAvailability(Inoperative) applies.
    S.CHARGING: frozenset(
        {S.AVAILABLE, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE}
    ),
    S.SUSPENDED_EV: frozenset(
        {S.AVAILABLE, S.CHARGING, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE}
    ),
    S.SUSPENDED_EVSE: frozenset(
        {S.AVAILABLE, S.CHARGING, S.SUSPENDED_EV, S.FINISHING, S.UNAVAILABLE}
    ),
    S.FINISHING: frozenset({S.AVAILABLE, S.PREPARING, S.UNAVAILABLE}),
    S.RESERVED: frozenset({S.AVAILABLE, S.PREPARING, *_IN_SESSION, S.UNAVAILABLE}),
    S.UNAVAILABLE: frozenset({S.AVAILABLE, S.PREPARING, *_IN_SESSION}),
    S.FAULTED: frozenset({S.AVAILABLE, S.PREPARING, *_IN_SESSION, S.FINISHING, S.UNAVAILABLE}),
}

# 2.0.1 ConnectorStatusEnumType: a connector with a cable in is Occupied, whatever it does.
V201: Final[dict[Status, str]] = {
    S.AVAILABLE: "Available",
    S.PREPARING: "Occupied",
    S.CHARGING: "Occupied",
    S.SUSPENDED_EV: "Occupied",
    S.SUSPENDED_EVSE: "Occupied",
    S.FINISHING: "Occupied",
    S.RESERVED: "Reserved",
    S.UNAVAILABLE: "Unavailable",
    S.FAULTED: "Faulted",
}


class Connector:
    """One connector (2.0.1: one EVSE with one connector). ``inoperative_after`` marks a
    ChangeAvailability(Inoperative) answered Scheduled: applied when the session ends."""

    __slots__ = ("error_code", "id", "inoperative_after", "reservation", "status")

    def __init__(self, connector_id: int, status: Status = Status.AVAILABLE) -> None:
        self.id = connector_id
        self.status = status
        self.error_code = "NoError"  # 1.6 ChargePointErrorCode: a fault's while Faulted
        self.inoperative_after = False
        self.reservation: Any = None  # the reservations.Reservation it is held for

    def move(self, to: Status) -> Status | None:
        """Go to ``to``; the status to report (None: no change). A move the spec does not
        allow is a bug in the caller, not the CSMS's: ValueError."""
        if to is self.status:
            return None
        if to is not Status.FAULTED and to not in ALLOWED[self.status]:
            raise ValueError(f"connector {self.id}: {self.status.value} -> {to.value}")
        self.status = to
        return to

    @property
    def busy(self) -> bool:
        """A cable is in or a session is under way: not free for a new session."""
        return self.status not in (Status.AVAILABLE, Status.RESERVED)
