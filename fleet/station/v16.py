"""OCPP 1.6-J: message shapes and the handlers for CSMS-initiated calls.

Each handler translates the 1.6 shape and delegates the decision to the shared ``Station``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from fleet.station import smart_charging as sc
from fleet.station.reservations import Reservation
from fleet.station.settings import AUTHORIZATION_KEY, SECURITY_PROFILE, SETTINGS
from fleet.station.v16_pnc import PncV16
from fleet.station.v16_tx import TxShapes


class StationV16(PncV16):
    __slots__ = ()
    version = "1.6"
    kind = "OCPP1.6"
    known_actions = frozenset(a.value for a in Action)
    rpc_error_code = "ProtocolError"  # 1.6 has no RpcFrameworkError

    # --- shapes ----------------------------------------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        stations = self.scenario.stations
        return {
            "chargePointVendor": stations.vendor,
            "chargePointModel": stations.model,
            "firmwareVersion": self.firmware or stations.firmware,
        }

    def all_connectors(self) -> list[int]:
        # Connector 0 is the Charge Point as a whole (§4.9).
        return list(range(self.scenario.stations.connectors + 1))

    def status_payloads(self, connectors: list[int]) -> list[dict[str, Any]]:
        stamp = self.timestamp()
        return [
            {
                "connectorId": connector,
                "errorCode": self.error_code_of(connector),
                "status": self.status_of(connector),
                "timestamp": stamp,
            }
            for connector in connectors
        ]

    def status_of(self, connector: int) -> str:
        if connector == 0:  # the Charge Point as a whole
            return "Unavailable" if 0 in self.unavailable else "Available"
        return self.connector_state(connector).value

    def _connectors(self, connector_id: int) -> list[int] | None:
        """Connector 0 means all; an unknown connector gives None."""
        if connector_id == 0:
            return self.all_connectors()
        return [connector_id] if connector_id <= self.scenario.stations.connectors else None

    # --- CSMS-initiated calls --------------------------------------------------------------------

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        return call_result.Reset(status=self.answer_reset(hard=type == "Hard"))

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(
            status=self.change_setting(key, value, "ChangeConfiguration")
        )

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        every = [k for k, v in SETTINGS.items() if v.version is None] + [SECURITY_PROFILE]
        wanted = key if key else every
        known, unknown = [], []
        for name in wanted:
            if name == AUTHORIZATION_KEY:  # write-only: known, its value never shown
                known.append({"key": name, "readonly": False})
                continue
            value = self.get_setting(name)
            if value is None:
                unknown.append(name)
            else:
                readonly = name == SECURITY_PROFILE or SETTINGS[name].readonly
                known.append({"key": name, "readonly": readonly, "value": value})
        return call_result.GetConfiguration(
            configuration_key=known or None, unknown_key=unknown or None
        )

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        connectors = None if connector_id is None else self._connectors(connector_id)
        if connector_id is not None and connectors is None:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status=self.trigger(requested_message, connectors))

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RemoteStartTransaction:
        profile = None
        if charging_profile is not None:  # a TxProfile for the transaction (§5.11)
            parse = partial(sc.parse16, charging_profile, connector_id or 1, {})
            profile = self.chargers().profiles().for_remote_start(parse)
        if connector_id == 0 or (charging_profile is not None and profile is None):
            return call_result.RemoteStartTransaction(status="Rejected")
        status, _ = self.answer_remote_start(
            "RemoteStartTransaction", connector_id, id_tag, profile=profile
        )
        return call_result.RemoteStartTransaction(status=status)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, **_: Any
    ) -> call_result.RemoteStopTransaction:
        status = self.answer_remote_stop("RemoteStopTransaction", transaction_id)
        return call_result.RemoteStopTransaction(status=status)

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str, **_: Any
    ) -> call_result.ChangeAvailability:
        connectors = self._connectors(connector_id)
        if connectors is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = self.set_availability(connectors, operative=type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        if not 0 < connector_id <= self.scenario.stations.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        return call_result.UnlockConnector(status=self.answer_unlock(connector_id))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status=self.status_for("ClearCache"))

    @on(Action.update_firmware)
    def on_update_firmware(
        self, location: str, retrieve_date: str, **_: Any
    ) -> call_result.UpdateFirmware:
        self.answer_firmware(location, retrieve_date)
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        self.answer_upload()
        return call_result.GetDiagnostics(file_name=f"{self.id}-diagnostics.log")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        status = self.status_for("SetChargingProfile")
        if status == "Accepted":
            raw = cs_charging_profiles
            status = self.chargers().profiles().install(lambda: sc.parse16(raw, connector_id, {}))
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        purpose = (
            None if charging_profile_purpose is None else sc.PURPOSES_16[charging_profile_purpose]
        )
        status = (
            self.chargers()
            .profiles()
            .clear(profile_id=id, connector=connector_id, purpose=purpose, stack_level=stack_level)
        )
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        found = self.chargers().profiles().composite(connector_id, duration, charging_rate_unit)
        if found is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit, periods = found
        schedule = {
            "duration": duration,
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=self.timestamp(),
            charging_schedule=schedule,
        )

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        status = self.status_for("SendLocalList")
        if status == "Accepted":
            items = [
                (entry["id_tag"], (entry.get("id_tag_info") or {}).get("status"))
                for entry in local_authorization_list or []
            ]
            status = self.update_local_list(list_version, update_type == "Full", items)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.local_list_version())

    @on(Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> call_result.ReserveNow:
        # ReserveConnectorZeroSupported is false: connector 0 cannot be reserved (Rejected).
        reservation = Reservation(reservation_id, connector_id, id_tag, self.moment(expiry_date))
        return call_result.ReserveNow(status=self.answer_reserve(reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=self.answer_cancel_reservation(reservation_id))


StationV16.tx_shapes = TxShapes()
