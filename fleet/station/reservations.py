"""Reservations (1.6 §5.13 ReserveNow / §5.3 CancelReservation, 2.0.1 H01-H04): which connector
may be reserved, for whom, until when. Pure: the connector's status is given, the answer and
what changes come back; ``charging.py`` reports the connector Reserved and arms the expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.station.connectors import Connector, Status


@dataclass(slots=True, frozen=True)
class Reservation:
    id: int
    connector: int
    tag: str
    expires_s: float  # the station's wall clock


def answer(connector: Connector | None, reservation: Reservation, now_s: float) -> str:
    """ReserveNow's status for this connector (None: it does not exist or is connector 0)."""
    if connector is None or reservation.expires_s <= now_s:
        return "Rejected"
    status = connector.status
    if status is Status.FAULTED:
        return "Faulted"
    if status is Status.UNAVAILABLE:
        return "Unavailable"
    held = connector.reservation
    if status is Status.RESERVED and held is not None and held.id != reservation.id:
        return "Occupied"  # reserved for someone else
    if status not in (Status.AVAILABLE, Status.RESERVED):
        return "Occupied"  # a cable is in, a session runs
    return "Accepted"
