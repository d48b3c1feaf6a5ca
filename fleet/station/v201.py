"""OCPP 2.0.1: message shapes and handlers for CSMS-initiated calls.

Stations have N EVSEs with one connector each. The device model (``device_model.py``, one
station's in ``variables.py``) maps variables onto the settings 1.6 stations keep, so the rules
for changing them are shared.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from fleet.station import smart_charging as sc
from fleet.station.connectors import V201 as V201_STATUS
from fleet.station.connectors import Status
from fleet.station.jobs import FIRMWARE
from fleet.station.reservations import Reservation
from fleet.station.state import State
from fleet.station.v201_model import DeviceModelStation
from fleet.station.v201_tx import TxShapes


class StationV201(DeviceModelStation):
    __slots__ = ()
    version = "2.0.1"
    kind = "OCPP2.0.1"
    known_actions = frozenset(a.value for a in Action)
    rpc_error_code = "RpcFrameworkError"

    # --- shapes ----------------------------------------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        stations = self.scenario.stations
        return {
            "reason": self.boot_reason,
            "chargingStation": {
                "model": stations.model,
                "vendorName": stations.vendor,
                "firmwareVersion": self.firmware or stations.firmware,
            },
        }

    def all_connectors(self) -> list[int]:
        return list(range(1, self.scenario.stations.connectors + 1))  # EVSE ids

    def status_payloads(self, connectors: list[int]) -> list[dict[str, Any]]:
        stamp = self.timestamp()
        return [
            {
                "timestamp": stamp,
                "connectorStatus": self.status_of(evse),
                "evseId": evse,
                "connectorId": 1,
            }
            for evse in connectors
        ]

    def status_of(self, connector: int) -> str:
        return V201_STATUS[self.connector_state(connector)]

    def _evses(self, evse: dict[str, Any] | None) -> list[int] | None:
        """No EVSE means all; an unknown EVSE or connector gives None."""
        if evse is None or evse.get("id", 0) == 0:
            return self.all_connectors()
        evse_id, connector = evse["id"], evse.get("connector_id", 1)
        if evse_id > self.scenario.stations.connectors or connector != 1:
            return None
        return [evse_id]

    # --- CSMS-initiated calls --------------------------------------------------------------------

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        if evse_id is not None:  # resetting one EVSE does not reboot the station
            return call_result.Reset(status=self.status_for("Reset"))
        return call_result.Reset(status=self.answer_reset(on_idle=type == "OnIdle"))

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        # F06.FR.17: a triggered BootNotification is refused once the boot was accepted.
        if requested_message == "BootNotification" and self.state is State.ACCEPTED:
            return call_result.TriggerMessage(status="Rejected")
        evses = None if evse is None else self._evses(evse)
        if evse is not None and evses is None:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status=self.trigger(requested_message, evses))

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        profile = None
        if charging_profile is not None:  # a TxProfile for the transaction (F01.FR.08-11)
            shown = snake_to_camel_case(charging_profile)
            parse = partial(sc.parse201, charging_profile, evse_id or 1, shown)
            profile = self.chargers().profiles().for_remote_start(parse)
            if profile is None:
                return call_result.RequestStartTransaction(status="Rejected")
        status, tx_id = self.answer_remote_start(
            "RequestStartTransaction", evse_id, id_token["id_token"], remote_start_id, profile
        )
        return call_result.RequestStartTransaction(status=status, transaction_id=tx_id)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(
        self, transaction_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        status = self.answer_remote_stop("RequestStopTransaction", transaction_id)
        return call_result.RequestStopTransaction(status=status)

    @on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        evses = self._evses(evse)
        if evses is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = self.set_availability(evses, operative=operational_status == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on(Action.unlock_connector)
    def on_unlock_connector(
        self, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        if not 0 < evse_id <= self.scenario.stations.connectors or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        return call_result.UnlockConnector(status=self.answer_unlock(evse_id))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status=self.status_for("ClearCache"))

    @on(Action.update_firmware)
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.UpdateFirmware:
        status = self.answer_firmware_request("UpdateFirmware", request_id, firmware, FIRMWARE)
        return call_result.UpdateFirmware(status=status)

    @on(Action.get_log)
    def on_get_log(self, log_type: str, request_id: int, **_: Any) -> call_result.GetLog:
        status, filename = self.answer_get_log(log_type, request_id)
        return call_result.GetLog(status=status, filename=filename)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        status = self.status_for("SetChargingProfile")
        if status == "Accepted":
            shown = snake_to_camel_case(charging_profile)
            parse = partial(sc.parse201, charging_profile, evse_id, shown)
            limits = self.chargers().profiles()
            status = limits.install(parse)
            chosen = limits.ev_schedule(charging_profile["id"]) if status == "Accepted" else None
            if chosen is not None:  # the EV renegotiates under it (K15, K16): after the answer
                self.then(partial(self.send_each, "NotifyEVChargingSchedule", [chosen]))
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        status = (
            self.chargers()
            .profiles()
            .clear(
                profile_id=charging_profile_id,
                connector=criteria.get("evse_id"),
                purpose=None if purpose is None else sc.PURPOSES_201[purpose],
                stack_level=criteria.get("stack_level"),
            )
        )
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.GetChargingProfiles:
        purpose = charging_profile.get("charging_profile_purpose")
        sources = charging_profile.get("charging_limit_source")
        found = (
            self.chargers()
            .profiles()
            .select(
                connector=evse_id,
                purpose=None if purpose is None else sc.PURPOSES_201[purpose],
                stack_level=charging_profile.get("stack_level"),
                ids=charging_profile.get("charging_profile_id"),
            )
        )
        if not found or (sources is not None and "CSO" not in sources):
            return call_result.GetChargingProfiles(status="NoProfiles")
        evses = sorted({p.connector for p in found})
        reports = [
            {
                "requestId": request_id,
                "chargingLimitSource": "CSO",
                "evseId": evse,
                "chargingProfile": [p.shown for p in found if p.connector == evse],
                "tbc": n < len(evses) - 1,
            }
            for n, evse in enumerate(evses)
        ]  # one per EVSE, tbc until the last
        self.then(partial(self.send_each, "ReportChargingProfiles", reports))
        return call_result.GetChargingProfiles(status="Accepted")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        found = self.chargers().profiles().composite(evse_id, duration, charging_rate_unit)
        if found is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit, periods = found
        schedule = {
            "evseId": evse_id,
            "duration": duration,
            "scheduleStart": self.timestamp(),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        status = self.status_for("SendLocalList")
        if status == "Accepted":
            items = [
                (entry["id_token"]["id_token"], (entry.get("id_token_info") or {}).get("status"))
                for entry in local_authorization_list or []
            ]
            status = self.update_local_list(version_number, update_type == "Full", items)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.local_list_version())

    @on(Action.get_transaction_status)
    def on_get_transaction_status(
        self, transaction_id: str | None = None, **_: Any
    ) -> call_result.GetTransactionStatus:
        """E14: whether TransactionEvents wait to be sent, and whether the transaction runs."""
        waiting = [m for m in self._outbox if m.action == "TransactionEvent"]  # not yet sent
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=bool(waiting))
        mine = [m for m in waiting if _tx_id(m.payload) == transaction_id]
        chargers = self.charging
        ongoing = chargers is not None and chargers.with_transaction(transaction_id) is not None
        return call_result.GetTransactionStatus(
            messages_in_queue=bool(mine), ongoing_indicator=ongoing
        )

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        """H01: a reservation for an EVSE, or (no EVSE named) for the first free one."""
        if evse_id is None:
            free = [e for e in self.all_connectors() if self.connector_state(e) is Status.AVAILABLE]
            evse_id = free[0] if free else 1
        expires = self.moment(expiry_date_time)
        reservation = Reservation(id, evse_id, id_token["id_token"], expires)
        return call_result.ReserveNow(status=self.answer_reserve(reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=self.answer_cancel_reservation(reservation_id))

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=self.status_for("DataTransfer"))


def _tx_id(payload: dict[str, Any]) -> Any:
    return payload["transactionInfo"]["transactionId"]


StationV201.tx_shapes = TxShapes()
