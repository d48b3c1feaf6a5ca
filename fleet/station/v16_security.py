"""OCPP 1.6 Security Whitepaper messages a station answers: CertificateSigned,
InstallCertificate, GetInstalledCertificateIds, DeleteCertificate, ExtendedTriggerMessage,
SignedUpdateFirmware and GetLog. The behaviour is ``secure.SecureStation``'s and the firmware
and log jobs' (reported by SignedFirmwareStatusNotification and LogStatusNotification, with
2.0.1's statuses and the request's id); here are the 1.6 names and shapes."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from fleet.station.jobs import LOG, SIGNED_FIRMWARE
from fleet.station.secure import SecureStation

# What ExtendedTriggerMessage's names for the security extension's notifications send.
_EXTENDED: dict[str, str] = {
    "FirmwareStatusNotification": SIGNED_FIRMWARE,  # the signed update's status
    "LogStatusNotification": LOG,
}


class SecurityV16(SecureStation):
    __slots__ = ()
    failed_login_event = "FailedToAuthenticateAtCentralSystem"
    untrusted_csms_event = "InvalidCentralSystemCertificate"

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self, certificate_chain: str, **_: Any
    ) -> call_result.CertificateSigned:
        return call_result.CertificateSigned(status=self.answer_signed(certificate_chain))

    @on(Action.install_certificate)
    def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> call_result.InstallCertificate:
        return call_result.InstallCertificate(
            status=self.answer_install(certificate_type, certificate)
        )

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: str, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        status, found = self.answer_installed([certificate_type])
        return call_result.GetInstalledCertificateIds(
            status=status, certificate_hash_data=[i.hash_data for i in found] or None
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(status=self.answer_delete(certificate_hash_data))

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.ExtendedTriggerMessage:
        connectors = None
        if connector_id is not None:
            if not 0 <= connector_id <= self.scenario.stations.connectors:
                return call_result.ExtendedTriggerMessage(status="Rejected")
            connectors = [connector_id]
        requested = _EXTENDED.get(requested_message, requested_message)
        status = self.trigger(requested, connectors, "ExtendedTriggerMessage")
        return call_result.ExtendedTriggerMessage(status=status)

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.SignedUpdateFirmware:
        status = self.answer_firmware_request(
            "SignedUpdateFirmware", request_id, firmware, SIGNED_FIRMWARE
        )
        return call_result.SignedUpdateFirmware(status=status)

    @on(Action.get_log)
    def on_get_log(self, log_type: str, request_id: int, **_: Any) -> call_result.GetLog:
        status, filename = self.answer_get_log(log_type, request_id)
        return call_result.GetLog(status=status, filename=filename)
