"""A station's reservations at work: ReserveNow and CancelReservation answered, the connector
reported Reserved, and the reservation ended when it expires (2.0.1: ReservationStatusUpdate
Expired), is cancelled, or is used by its driver's session (whose start carries its id).
The rules are ``reservations``'; the connector holds the reservation it is under.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fleet.station import reservations
from fleet.station.connectors import Status
from fleet.station.reservations import Reservation

if TYPE_CHECKING:
    from fleet.station.charging import Chargers


class Reserving:
    __slots__ = ("chargers", "timers")

    def __init__(self, chargers: Chargers) -> None:
        self.chargers = chargers
        self.timers: dict[int, asyncio.TimerHandle] = {}  # reservation id -> its expiry

    def reserve(self, reservation: Reservation) -> str:
        """ReserveNow for one connector (0 or unknown: Rejected)."""
        chargers = self.chargers
        index = reservation.connector - 1
        known = 0 <= index < len(chargers.chargers)
        connector = chargers.chargers[index].connector if known else None
        now = chargers.station.now()
        status = reservations.answer(connector, reservation, now)
        if status != "Accepted" or connector is None:
            return status
        self.cancel(reservation.id)  # the same id again replaces it
        connector.reservation = reservation
        chargers.decide(index, lambda charger, at: charger.mark(Status.RESERVED, at))
        loop = asyncio.get_running_loop()
        delay = max(reservation.expires_s - now, 0.0)
        self.timers[reservation.id] = loop.call_later(delay, self._expire, reservation.id)
        return status

    def held(self, reservation_id: int) -> int | None:
        """The index of the charger whose connector holds the reservation."""
        return next(
            (
                i
                for i, c in enumerate(self.chargers.chargers)
                if c.connector.reservation is not None
                and c.connector.reservation.id == reservation_id
            ),
            None,
        )

    def cancel(self, reservation_id: int) -> bool:
        """CancelReservation: True if the reservation was held (the connector is free again)."""
        timer = self.timers.pop(reservation_id, None)
        if timer is not None:
            timer.cancel()
        index = self.held(reservation_id)
        if index is None:
            return False
        self._free(index)
        return True

    def _expire(self, reservation_id: int) -> None:
        self.timers.pop(reservation_id, None)
        index = self.held(reservation_id)
        if index is None:
            return  # used by its driver, or cancelled
        self._free(index)
        station = self.chargers.station
        if station.version == "2.0.1":
            payload = {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"}
            station.then_send("ReservationStatusUpdate", payload)

    def _free(self, index: int) -> None:
        charger = self.chargers.chargers[index]
        charger.connector.reservation = None
        if charger.connector.status is Status.RESERVED:
            self.chargers.decide(index, lambda c, at: c.mark(Status.AVAILABLE, at))

    def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
