"""The embedded CSMS's side of one connection, per OCPP version: the ``ocpp`` library's
central-system ChargePoint with fleet's router, and the ``@on`` handlers that answer stations.

Charging is handled as a billing backend would: Authorize and transaction starts are answered
by the CSMS's tag policy, transaction ids are allocated, and every transaction message goes to
the per-transaction ledger (``transactions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson
from ocpp.exceptions import InternalError, OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from fleet import wire
from fleet.csms import plug_and_charge
from fleet.csms.certificate_answers import CertificateAnswers
from fleet.csms.records import Captured
from fleet.routing import Routed, ocpp_error
from fleet.station.v2g_status import ROW as V2G_ROW

if TYPE_CHECKING:
    from fleet.csms.server import Csms

logger = logging.getLogger("fleet.csms")
APP_TAG = "APP"  # the idTag a --start-plugged remote start carries


class _Central(CertificateAnswers, Routed):
    """Behaviour shared by both versions' central-system classes.

    Incoming CALLs are answered here rather than by ``ChargePoint._handle_call``: the same
    ``@on`` handlers and call_result dataclasses, but the route table is built once per class
    (``routing``), payloads are checked by the compiled validators (``wire``; the test suite checks
    every frame with the ocpp library's reference validators) and the handler's signature is not
    inspected per message. In a boot storm this is what lets one CSMS process keep up.

    ``request`` is the CALL being answered as received (camelCase): the ledger keeps what the
    station sent, not the library's snake_case copy of it.
    """

    csms: Csms
    id: str
    _ocpp_version: str

    def __init__(self, station_id: str, connection: ServerConnection, csms: Csms) -> None:
        # ChargePoint.__init__ without its per-instance route map; what call() needs is kept.
        self.id = station_id
        self.csms = csms
        self.request: dict[str, Any] = {}
        self._connection = connection
        self._response_timeout = 30
        self._call_lock = asyncio.Lock()
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._unique_id_generator = uuid.uuid4
        self.logger = logging.getLogger("ocpp")
        self.after_answer: Callable[[], Coroutine[Any, Any, None]] | None = None

    async def _send(self, message: str) -> None:
        if self.csms.capture is not None:
            sent = orjson.loads(message)
            if sent[0] == 2:
                self.csms.calls_sent[sent[1]] = sent[2]
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str) -> None:
        if self.csms.capture is not None:
            self.csms.capture.append(
                Captured(time.monotonic(), self.id, self._ocpp_version, raw_msg)
            )
        await super().route_message(raw_msg)  # type: ignore[misc]

    async def _handle_call(self, msg: Any) -> None:
        action = msg.action
        record = self.csms.ledger[self.id]
        record.received[action] += 1
        if action in self.csms.silent_on:
            return  # received, never answered: the station's CALL times out
        delay_ms = self.csms.slow_on.get(action)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if action in self.csms.hang_up_on and (self.id, action) not in self.csms.hung_up:
            self.csms.hung_up.add((self.id, action))
            logger.warning("%s: %s received, hanging up without answering", self.id, action)
            await self._connection.close(1011, "hung up by fleet csms --hang-up-on")
            return
        try:
            if action in self.csms.error_on:
                raise InternalError(description=f"{action} refused by fleet csms --error-on")
            self.request = msg.payload
            try:
                payload = self.answer_call(action, msg.payload, check_request=True)
            except wire.SchemaViolation as violation:
                raise ocpp_error(violation.code, violation.description) from None
        except OCPPError as exc:
            # Answered here, in one log line: raised on, the library would log a traceback.
            record.errors[exc.code] += 1
            logger.warning("%s: %s answered with CallError %s", self.id, action, exc.code)
            await self._send(msg.create_call_error(exc).to_json())
            return
        await self._send(orjson.dumps([wire.CALLRESULT, msg.unique_id, payload]).decode())
        if self.after_answer is not None:  # a call of the CSMS's own that follows the answer
            followup, self.after_answer = self.after_answer, None
            task = asyncio.get_running_loop().create_task(followup())
            self.csms.tasks.add(task)
            task.add_done_callback(self.csms.tasks.discard)

    def boot_answer(self) -> tuple[str, int]:
        status, interval = self.csms.boot_decision(self.id)
        self.csms.ledger[self.id].boot_status = status
        logger.info("%s boot %s (interval %d s)", self.id, status, interval)
        return status, interval

    def progress(self, job: str, status: str) -> None:
        """A firmware, diagnostics or log status: the ledger keeps each station's latest."""
        self.csms.ledger[self.id].jobs[job] = status

    def tag_status(self, tag: str | None) -> str:
        return self.csms.tags.status(tag)

    def start_by_app(self, request: Any) -> None:
        """--start-plugged: the drivers' app starts the EV just plugged in, after the answer
        and the delay (a start the station refuses, its driver having badged, is left so)."""
        after_s = self.csms.start_plugged_after_s
        if after_s is None:
            return

        async def start() -> None:
            await asyncio.sleep(after_s)
            with contextlib.suppress(OCPPError, TimeoutError, KeyError, ConnectionClosed):
                await self.csms.call(self.id, request)

        self.after_answer = start


class Central16(_Central, ChargePoint16):
    known_actions = frozenset(a.value for a in Action16)

    @on(Action16.boot_notification)
    def on_boot(self, **_: Any) -> result16.BootNotification:
        status, interval = self.boot_answer()
        return result16.BootNotification(
            current_time=self.csms.now(), interval=interval, status=status
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=self.csms.now())

    @on(Action16.status_notification)
    def on_status(self, connector_id: int, status: str, **_: Any) -> result16.StatusNotification:
        if status == "Preparing" and connector_id > 0:
            start = call16.RemoteStartTransaction(id_tag=APP_TAG, connector_id=connector_id)
            self.start_by_app(start)
        return result16.StatusNotification()

    @on(Action16.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> result16.Authorize:
        return result16.Authorize(id_tag_info={"status": self.tag_status(id_tag)})

    @on(Action16.data_transfer)
    def on_data_transfer(self, **_: Any) -> result16.DataTransfer:
        answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "Authorize": functools.partial(plug_and_charge.authorize_answer, tags=self.csms.tags),
            V2G_ROW: self.certificate_status,
            "SignCertificate": self._sign_v2g16,
        }
        status, data = plug_and_charge.data_transfer_answer(self.request, answers)
        return result16.DataTransfer(status=status, data=data)

    @on(Action16.start_transaction)
    def on_start(self, id_tag: str, **_: Any) -> result16.StartTransaction:
        # A transaction id even for a refused tag: the station reports the start either way.
        # A start received again (its answer was lost) gets the id it got the first time.
        known = self.csms.transactions.known_start(self.id, self.request)
        tx_id = known if known is not None else self.csms.next_transaction_id()
        self.csms.record(self.id, "StartTransaction", self.request, tx_id)
        return result16.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": self.tag_status(id_tag)}
        )

    @on(Action16.stop_transaction)
    def on_stop(self, **_: Any) -> result16.StopTransaction:
        self.csms.record(self.id, "StopTransaction", self.request)
        return result16.StopTransaction()

    @on(Action16.meter_values)
    def on_meter_values(self, **_: Any) -> result16.MeterValues:
        if "transactionId" in self.request:
            self.csms.record(self.id, "MeterValues", self.request)
        return result16.MeterValues()

    @on(Action16.firmware_status_notification)
    def on_firmware_status(self, status: str, **_: Any) -> result16.FirmwareStatusNotification:
        self.progress("firmware", status)
        return result16.FirmwareStatusNotification()

    @on(Action16.sign_certificate)
    def on_sign_certificate(self, csr: str, **_: Any) -> result16.SignCertificate:
        return result16.SignCertificate(status=self.sign_answer(csr))

    @on(Action16.security_event_notification)
    def on_security_event(self, type: str, **_: Any) -> result16.SecurityEventNotification:
        self.security_event(type)
        return result16.SecurityEventNotification()

    @on(Action16.diagnostics_status_notification)
    def on_diagnostics_status(
        self, status: str, **_: Any
    ) -> result16.DiagnosticsStatusNotification:
        self.progress("diagnostics", status)
        return result16.DiagnosticsStatusNotification()

    @on(Action16.signed_firmware_status_notification)
    def on_signed_firmware_status(
        self, status: str, **_: Any
    ) -> result16.SignedFirmwareStatusNotification:
        self.progress("firmware", status)
        return result16.SignedFirmwareStatusNotification()

    @on(Action16.log_status_notification)
    def on_log_status(self, status: str, **_: Any) -> result16.LogStatusNotification:
        self.progress("log", status)
        return result16.LogStatusNotification()


class Central201(_Central, ChargePoint201):
    known_actions = frozenset(a.value for a in Action201)

    @on(Action201.boot_notification)
    def on_boot(self, **_: Any) -> result201.BootNotification:
        status, interval = self.boot_answer()
        return result201.BootNotification(
            current_time=self.csms.now(), interval=interval, status=status
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=self.csms.now())

    @on(Action201.status_notification)
    def on_status(self, **_: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on(Action201.authorize)
    def on_authorize(self, **_: Any) -> result201.Authorize:
        answer = plug_and_charge.authorize_answer(self.request, self.csms.tags)
        return result201.Authorize(
            id_token_info=answer["idTokenInfo"], certificate_status=answer.get("certificateStatus")
        )

    @on(Action201.get_certificate_status)
    def on_certificate_status(self, **_: Any) -> result201.GetCertificateStatus:
        answer = self.certificate_status(self.request)
        return result201.GetCertificateStatus(
            status=answer["status"],
            ocsp_result=answer.get("ocspResult"),
            status_info=answer.get("statusInfo"),
        )

    @on(Action201.transaction_event)
    def on_transaction_event(self, **_: Any) -> result201.TransactionEvent:
        self.csms.record(self.id, "TransactionEvent", self.request)
        token = self.request.get("idToken")
        if token is None:
            if self.request["triggerReason"] == "CablePluggedIn" and "evse" in self.request:
                evse_id = self.request["evse"]["id"]
                app = {"idToken": APP_TAG, "type": "Central"}
                remote_start_id = self.csms.next_transaction_id()
                self.start_by_app(call201.RequestStartTransaction(app, remote_start_id, evse_id))
            return result201.TransactionEvent()
        status = self.tag_status(token.get("idToken"))
        return result201.TransactionEvent(id_token_info={"status": status})

    @on(Action201.notify_report)
    def on_notify_report(self, **_: Any) -> result201.NotifyReport:
        return result201.NotifyReport()

    @on(Action201.meter_values)
    def on_meter_values(self, **_: Any) -> result201.MeterValues:
        return result201.MeterValues()

    @on(Action201.notify_ev_charging_needs)
    def on_charging_needs(self, evse_id: int, **_: Any) -> result201.NotifyEVChargingNeeds:
        """Without --schedule-ev-needs: Rejected ("service not available"; Accepted promises a
        charging profile). With it: Accepted, then a TxProfile levelling the EV's energy to
        its departure, on the transaction running on that EVSE."""
        needs = self.request["chargingNeeds"]
        limit_w = plug_and_charge.leveled_limit_w(needs, time.time())
        running = [
            tx
            for tx in self.csms.transactions.for_station(self.id)
            if tx.connector == evse_id and not tx.ended
        ]
        if not self.csms.schedule_ev_needs or limit_w is None or not running:
            return result201.NotifyEVChargingNeeds(status="Rejected")
        tx_id = str(running[-1].tx_id)
        self.after_answer = functools.partial(self._send_schedule, evse_id, tx_id, limit_w)
        return result201.NotifyEVChargingNeeds(status="Accepted")

    async def _send_schedule(self, evse_id: int, tx_id: str, limit_w: float) -> None:
        profile_id = self.csms.next_transaction_id()  # unique enough for an id
        self.csms.leveled_w[self.id, evse_id] = limit_w
        profile = {
            "id": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": tx_id,
            "chargingSchedule": [
                {
                    "id": profile_id,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_w}],
                }
            ],
        }
        request = call201.SetChargingProfile(evse_id=evse_id, charging_profile=profile)
        with contextlib.suppress(OCPPError, TimeoutError, KeyError, ConnectionClosed):
            await self.csms.call(self.id, request)

    @on(Action201.notify_ev_charging_schedule)
    def on_ev_schedule(self, evse_id: int, **_: Any) -> result201.NotifyEVChargingSchedule:
        """The schedule the EV chose (K15): Accepted when it keeps within the levelled limit
        this CSMS set on that EVSE (else Rejected: the CSMS would renegotiate), or when it
        set none."""
        given = self.csms.leveled_w.get((self.id, evse_id))
        within = plug_and_charge.keeps_within(self.request["chargingSchedule"], given)
        return result201.NotifyEVChargingSchedule(status="Accepted" if within else "Rejected")

    @on(Action201.notify_event)
    def on_notify_event(self, **_: Any) -> result201.NotifyEvent:
        return result201.NotifyEvent()

    @on(Action201.firmware_status_notification)
    def on_firmware_status(self, status: str, **_: Any) -> result201.FirmwareStatusNotification:
        self.progress("firmware", status)
        return result201.FirmwareStatusNotification()

    @on(Action201.reservation_status_update)
    def on_reservation_status(self, **_: Any) -> result201.ReservationStatusUpdate:
        return result201.ReservationStatusUpdate()

    @on(Action201.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> result201.ReportChargingProfiles:
        return result201.ReportChargingProfiles()

    @on(Action201.sign_certificate)
    def on_sign_certificate(
        self, csr: str, certificate_type: str = "ChargingStationCertificate", **_: Any
    ) -> result201.SignCertificate:
        return result201.SignCertificate(status=self.sign_answer(csr, certificate_type))

    @on(Action201.security_event_notification)
    def on_security_event(self, type: str, **_: Any) -> result201.SecurityEventNotification:
        self.security_event(type)
        return result201.SecurityEventNotification()

    @on(Action201.log_status_notification)
    def on_log_status(self, status: str, **_: Any) -> result201.LogStatusNotification:
        self.progress("log", status)
        return result201.LogStatusNotification()


# The ocpp ChargePoint classes are untyped: the central classes are handled as Any.
CENTRAL: dict[str, Any] = {"1.6": Central16, "2.0.1": Central201}
