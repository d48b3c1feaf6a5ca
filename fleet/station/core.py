"""One simulated charging station, shared by OCPP 1.6 and 2.0.1: its answers to the CSMS.

``Engine`` moves frames; ``Life`` (``life.py``) boots, reports connectors and heartbeats;
``Configured`` (``configured.py``) keeps its configuration; ``Station`` answers the CSMS's
commands with their side effects (triggers, availability, resets, remote starts and stops,
unlocking, firmware and logs), executing what the pure modules decide (the chargers for
sessions, ``maintenance`` for firmware). Version modules
(``v16``, ``v201``) hold the message shapes and ``@on`` handlers.

The ``ocpp`` library's ChargePoint is not a base class: its ``start()``, ``route_message()`` and
``call()`` run on a connection object and a lock fleet does not have, so inheriting them would
leave callable methods that are wrong. What carries over is its authoring surface: ``@on(Action)``
handlers returning ``call_result`` dataclasses (or dicts), sync or async, routed once per class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from fleet.errors import CallFailed, ConnectionFailed
from fleet.station.behaviour import parse_csms_time
from fleet.station.configured import Configured
from fleet.station.connectors import Status
from fleet.station.jobs import DIAGNOSTICS, FIRMWARE, LOG, NOTIFICATIONS, Jobs
from fleet.station.local_list import LocalList
from fleet.station.rare import Rare
from fleet.station.reservations import Reservation
from fleet.station.smart_charging import Profile
from fleet.station.state import State
from fleet.station.transaction import (
    FIRMWARE_REBOOT,
    HARD_RESET,
    LOCAL_REBOOT,
    RESET,
    UNLOCKED,
    StopReason,
)

logger = logging.getLogger("fleet.station")


class Station(Configured):
    """Behaviour common to both versions. Subclasses set the class attributes and supply message
    shapes through the ``*_payload`` methods, ``tx_shapes`` and ``@on`` handlers.

    Its attributes are slots (see ``Life``). A subclass of one's own may set attributes freely
    (it gets a ``__dict__``, made when it first sets one); declaring ``__slots__`` keeps its
    stations as small as fleet's."""

    __slots__ = ()
    jobs_made: Rare[Jobs | None] = Rare(None)  # firmware and log jobs, made on first use

    # --- shared answers --------------------------------------------------------------------------

    def trigger(
        self, requested: str, connectors: list[int] | None, action: str = "TriggerMessage"
    ) -> str:
        """Answer a TriggerMessage (1.6 also ExtendedTriggerMessage) for ``requested`` and
        schedule the triggered message."""
        chosen = self.status_for(action)
        if chosen != "Accepted":
            return chosen
        if requested == "BootNotification":
            if self.state is State.PENDING:
                self.boot_reason = "Triggered"
                self.then(_as_coroutine(self.wake))
            else:
                self.then(self._triggered_boot)
        elif requested == "Heartbeat":
            self.then(self._triggered_heartbeat)
        elif requested == "StatusNotification":
            targets = connectors if connectors is not None else self.all_connectors()
            self.then(lambda: self.send_status(targets))
        elif requested in NOTIFICATIONS:
            jobs = self.jobs()
            self.then(lambda: jobs.notify(requested, jobs.status(requested)))
        elif requested in ("MeterValues", "TransactionEvent"):
            event = requested == "TransactionEvent"
            chargers = self.chargers()
            if not chargers.can_trigger(connectors, event):
                return "Rejected"
            self.then(_as_coroutine(partial(chargers.trigger, connectors, event)))
        else:
            return "NotImplemented"
        return "Accepted"

    async def _triggered_boot(self) -> None:
        self.boot_reason = "Triggered"
        await self.boot()

    async def _triggered_heartbeat(self) -> None:
        try:
            answer = await self.call("Heartbeat", {})
        except CallFailed:
            return
        self._sync_clock(answer.get("currentTime"))

    def set_availability(self, connectors: list[int], operative: bool) -> str:
        """Answer ChangeAvailability and report the connectors' new status. Inoperative on a
        connector in a session is Scheduled: applied when the session ends."""
        chosen = self.status_for("ChangeAvailability")
        if chosen != "Accepted":
            return chosen
        if self.charging is not None:
            scheduled = self.charging.set_availability(connectors, operative)
            if scheduled:
                connectors = [c for c in connectors if c not in scheduled]
                chosen = "Scheduled"
        if operative:
            self.unavailable = self.unavailable.difference(connectors)
        else:
            self.unavailable = self.unavailable.union(connectors)
        self.then(lambda: self.send_status(connectors))
        return chosen

    def answer_reset(self, hard: bool = False, on_idle: bool = False) -> str:
        """Reset: sessions running end first, then the station reboots. 2.0.1 OnIdle with a
        transaction running is Scheduled: the reboot waits until none runs."""
        chosen = self.status_for("Reset")
        if chosen != "Accepted":
            return chosen
        self.boot_reason = "RemoteReset"
        if on_idle and self.charging is not None and self.charging.busy:
            self.charging.when_idle = self._reset_when_idle
            return "Scheduled"
        self.then(partial(self._reset, HARD_RESET if hard else RESET))
        return chosen

    def _reset_when_idle(self) -> None:
        self._spawn(self._reset(RESET))

    async def _reset(self, reason: StopReason) -> None:
        """Sessions running end first (their StopTransaction / Ended reach the CSMS), then
        the station reboots."""
        if self.charging is not None:
            self.charging.end_all(reason)
            await self.drained(self.scenario.csms.call_timeout_s)
        await self.reboot()

    def answer_reserve(self, reservation: Reservation) -> str:
        """ReserveNow, when the scenario lets the station take reservations."""
        status = self.status_for("ReserveNow")
        if status != "Accepted":
            return status
        return self.chargers().reservations().reserve(reservation)

    def answer_cancel_reservation(self, reservation_id: int) -> str:
        status = self.status_for("CancelReservation")
        if status != "Accepted":
            return status
        held = self.charging is not None and self.charging.reservations().cancel(reservation_id)
        return "Accepted" if held else "Rejected"

    # --- local authorisation list ----------------------------------------------------------------

    def update_local_list(
        self, version: int, full: bool, items: list[tuple[str, str | None]]
    ) -> str:
        """SendLocalList: the list changed, and the chargers authorise from it from now."""
        if self.get_setting("LocalAuthListEnabled") != "true":
            return "NotSupported" if self.version == "1.6" else "Failed"
        if self.local_list is None:
            self.local_list = LocalList()
        status = self.local_list.update(version, full, items)
        if self.charging is not None:
            self.charging.configure()
        return status

    def local_list_version(self) -> int:
        """GetLocalListVersion: 0 without a list; 1.6: -1 while the list is disabled."""
        if self.version == "1.6" and self.get_setting("LocalAuthListEnabled") != "true":
            return -1
        return self.local_list.version if self.local_list is not None else 0

    # --- firmware and logs -----------------------------------------------------------------------

    def jobs(self) -> Jobs:
        """The station's firmware and log jobs, made on first use."""
        if self.jobs_made is None:
            self.jobs_made = Jobs(self)
        return self.jobs_made

    def answer_firmware(
        self,
        location: str,
        retrieve: str,
        install: str | None = None,
        request_id: int | None = None,
        signed: bool = False,
        action: str = FIRMWARE,
    ) -> bool:
        """Start a firmware update reported by ``action`` once the answer is sent; True if it
        cancels one under way. Times are OCPP dateTimes (unreadable: now)."""
        jobs = self.jobs()
        running = jobs.busy(action)
        retrieve_at, install_at = self.moment(retrieve), None
        if install is not None:
            install_at = self.moment(install)
        start = partial(
            jobs.update_firmware, location, retrieve_at, install_at, request_id, signed, action
        )
        self.then(_as_coroutine(start))
        return running

    def answer_upload(self, action: str = DIAGNOSTICS, request_id: int | None = None) -> bool:
        """Start an upload reported by ``action`` once the answer is sent (1.6 GetDiagnostics
        by default); True if it cancels one under way."""
        jobs = self.jobs()
        running = jobs.busy(action)
        self.then(_as_coroutine(partial(jobs.upload, action, request_id)))
        return running

    def answer_get_log(self, log_type: str, request_id: int) -> tuple[str, str | None]:
        """GetLog (2.0.1 N01, and 1.6's security extension): the status and the file name to
        answer with; the upload starts once the answer is sent."""
        status = self.status_for("GetLog")
        if status != "Accepted":
            return status, None
        if self.answer_upload(LOG, request_id):
            status = "AcceptedCanceled"
        return status, f"{self.id}-{log_type}.log"

    def moment(self, text: str) -> float:
        """An OCPP dateTime on the station's clock (epoch s); unreadable: now."""
        moment = parse_csms_time(text)
        return self.now() if moment is None else moment.timestamp()

    async def reboot_for_firmware(self) -> None:
        """The new firmware is installed: sessions end, the station reboots with it."""
        assert self.jobs_made is not None and self.jobs_made.installed is not None
        self.firmware = self.jobs_made.installed[2]
        self.boot_reason = "FirmwareUpdate"
        await self._reset(FIRMWARE_REBOOT)

    def storm_reboot(self) -> None:
        """A rolling restart's wave reached the station: as a firmware campaign's reboot,
        sessions end first; a station not accepted now is left alone."""
        if self.state is State.ACCEPTED and self._transport is not None:
            self.boot_reason = "FirmwareUpdate"
            self._spawn(self._reset(FIRMWARE_REBOOT))

    def local_reboot(self) -> None:
        """Rebooted at the station (fleet's console): sessions end (1.6 reason Reboot, 2.0.1
        stoppedReason Reboot), then it boots again, 2.0.1 reason LocalReset."""
        self.boot_reason = "LocalReset"
        self._spawn(self._reset(LOCAL_REBOOT))

    def refused(self, failure: ConnectionFailed) -> None:
        """A connect failed (a hook: security events)."""

    def renew_certificate(self) -> None:
        """A certificate renewal storm reached the station (a hook: ``secure.py``)."""

    async def booted(self) -> None:
        if self.jobs_made is not None:
            await self.jobs_made.booted()

    def ended(self) -> None:
        super().ended()
        if self.jobs_made is not None:
            self.jobs_made.close()

    def remote_transaction_status(self, action: str) -> str:
        """Remote start/stop: refused unless Accepted (1.6 §4.2, 2.0.1 B02: a CSMS may not ask
        a Pending station to start or stop transactions), else the scenario's status."""
        return self.status_for(action) if self.state is State.ACCEPTED else "Rejected"

    def answer_remote_start(
        self,
        action: str,
        connector: int | None,
        tag: str,
        remote_start_id: int | None = None,
        profile: Profile | None = None,
    ) -> tuple[str, Any]:
        """Start a session on ``connector`` (or a free one), under ``profile`` if the start
        brought one: Rejected when none is free. With the status, the transaction the start
        joins, when one runs already (2.0.1 F01: the cable started it; else None)."""
        chosen = self.remote_transaction_status(action)
        if chosen != "Accepted":
            return chosen, None
        chargers = self.running_chargers()
        index = chargers.free_charger(connector, tag)
        if index is None:
            return "Rejected", None
        tx = chargers.chargers[index].tx
        start = partial(chargers.remote_start, index, tag, remote_start_id, profile)
        self.then(_as_coroutine(start))
        return chosen, None if tx is None else tx.tx_id

    def answer_remote_stop(self, action: str, tx_id: Any) -> str:
        """Stop the transaction ``tx_id``: Rejected when no connector runs it."""
        chosen = self.remote_transaction_status(action)
        if chosen != "Accepted":
            return chosen
        index = None if self.charging is None else self.charging.with_transaction(tx_id)
        if index is None or self.charging is None:
            return "Rejected"
        self.then(_as_coroutine(partial(self.charging.remote_stop, index)))
        return chosen

    def answer_unlock(self, connector: int) -> str:
        """Unlock: a session on the connector ends (the cable comes out)."""
        chosen = self.status_for("UnlockConnector")
        if self.charging is not None and chosen == "Unlocked":
            self.then(_as_coroutine(partial(self.charging.end, connector - 1, UNLOCKED)))
        return chosen

    def connector_state(self, connector: int) -> Status:
        """What a connector reports (1.6 connector 0: the station as a whole): Faulted before
        an Inoperative the CSMS set (1.6 reported Unavailable with the fault's errorCode)."""
        charging = self.charging
        if charging is not None and 0 < connector <= len(charging.chargers):
            status = charging.chargers[connector - 1].connector.status
            if status is Status.FAULTED or connector not in self.unavailable:
                return status
        return Status.UNAVAILABLE if connector in self.unavailable else Status.AVAILABLE

    def error_code_of(self, connector: int) -> str:
        """1.6 ChargePointErrorCode a connector reports: its fault's while Faulted."""
        if self.charging is not None and 0 < connector <= len(self.charging.chargers):
            return self.charging.chargers[connector - 1].connector.error_code
        return "NoError"


def _as_coroutine(fn: Callable[[], object]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        fn()

    return run
