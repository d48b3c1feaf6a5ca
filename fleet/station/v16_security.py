"""OCPP 1.6 Security Whitepaper messages a station answers: CertificateSigned,
InstallCertificate, GetInstalledCertificateIds, DeleteCertificate and ExtendedTriggerMessage.
The behaviour is ``secure.SecureStation``'s; here are the 1.6 names and shapes."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from fleet.station.secure import SecureStation


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
        if requested_message == "LogStatusNotification":  # 1.6 GetLog is not offered
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        status = self.trigger(requested_message, connectors, "ExtendedTriggerMessage")
        return call_result.ExtendedTriggerMessage(status=status)
