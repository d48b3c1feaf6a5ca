"""OCPP 2.0.1 security messages a station answers (A02/A03 certificate renewal, M03-M05
certificate management, B09/A05 network profiles): CertificateSigned, InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate and SetNetworkProfile. The behaviour is
``secure.SecureStation``'s and ``network``'s; here are the 2.0.1 names and shapes
(TriggerMessage SignChargingStationCertificate goes through ``trigger``)."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from fleet.errors import ConnectionFailed
from fleet.station import network
from fleet.station.network import NetworkProfile
from fleet.station.rare import Rare
from fleet.station.secure import SecureStation, installed_chain
from fleet.station.settings import NETWORK_ATTEMPTS, NETWORK_PRIORITY

logger = logging.getLogger("fleet.station")


class SecurityV201(SecureStation):
    __slots__ = ()
    failed_login_event = "FailedToAuthenticateAtCsms"
    untrusted_csms_event = "InvalidCsmsCertificate"
    network_profiles: Rare[dict[int, NetworkProfile] | None] = Rare(None)  # by slot
    failed_connects: Rare[int] = Rare(0)  # since the last connect that worked (B10)

    @on(Action.set_network_profile)
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> call_result.SetNetworkProfile:
        status = self.status_for("SetNetworkProfile")
        if status == "Accepted":
            current = self.security_profile()
            profile, problem = network.profile_of(configuration_slot, connection_data, current)
            if profile is None:
                logger.info("%s: SetNetworkProfile refused: %s", self.id, problem)
                return call_result.SetNetworkProfile(status="Rejected")
            profiles = dict(self.network_profiles or {})
            profiles[configuration_slot] = profile
            self.network_profiles = profiles
        return call_result.SetNetworkProfile(status=status)

    def network_target(self, url: str) -> tuple[str, int | None]:
        profiles = self.network_profiles
        if not profiles:
            return url, None
        order = network.priority(self.get_setting(NETWORK_PRIORITY))
        attempts = int(self.get_setting(NETWORK_ATTEMPTS) or 1)
        slot = network.choose(order, profiles, self.failed_connects, attempts)
        chosen = None if slot is None else profiles[slot]
        self.network_profile = None if chosen is None else chosen.security_profile
        return (url, None) if chosen is None else (chosen.url, chosen.security_profile)

    def refused(self, failure: ConnectionFailed) -> None:
        super().refused(failure)
        if self.network_profiles:
            self.failed_connects += 1

    def _connected(self) -> None:
        super()._connected()
        if self.failed_connects:
            self.failed_connects = 0  # connected: this slot works

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
        return call_result.GetInstalledCertificateIds(
            status=status, certificate_hash_data_chain=installed_chain(found) or None
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(status=self.answer_delete(certificate_hash_data))
