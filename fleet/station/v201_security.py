"""OCPP 2.0.1 security messages a station answers (A02/A03 certificate renewal, M03-M05
certificate management): CertificateSigned, InstallCertificate, GetInstalledCertificateIds and
DeleteCertificate. The behaviour is ``secure.SecureStation``'s; here are the 2.0.1 names and
shapes (TriggerMessage SignChargingStationCertificate goes through ``trigger``)."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from fleet.station.secure import SecureStation


class SecurityV201(SecureStation):
    __slots__ = ()
    failed_login_event = "FailedToAuthenticateAtCsms"
    untrusted_csms_event = "InvalidCsmsCertificate"

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> call_result.CertificateSigned:
        status = self.answer_signed(certificate_chain, certificate_type)
        return call_result.CertificateSigned(status=status)

    @on(Action.install_certificate)
    def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> call_result.InstallCertificate:
        return call_result.InstallCertificate(
            status=self.answer_install(certificate_type, certificate)
        )

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        status, found = self.answer_installed(certificate_type)
        chain = [{"certificateType": i.kind, "certificateHashData": i.hash_data} for i in found]
        return call_result.GetInstalledCertificateIds(
            status=status, certificate_hash_data_chain=chain or None
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(status=self.answer_delete(certificate_hash_data))
