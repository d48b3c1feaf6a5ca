"""Certificate flows end to end (1.6 Security Whitepaper, 2.0.1 A02/A03 and M03-M05): renewal
by SignCertificate and CertificateSigned, used on the next connect; roots installed, listed and
deleted; security events; a renewal storm. Real stations against the embedded CSMS over mutual
TLS on 127.0.0.1, certificates made in the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from fleet.certs import certificate_pem, load_authority, new_authority
from fleet.csms.door import Door, Passwords, server_context
from fleet.station.security import forget_contexts
from fleet.station.state import State
from tests.conftest import (
    accepted,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)

VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture(autouse=True)
def _fresh_contexts() -> Any:
    forget_contexts()
    yield
    forget_contexts()


def _mutual_tls(certs: Path) -> dict[str, Any]:
    tls = server_context(str(certs / "csms.pem"), str(certs / "csms.key"), str(certs / "ca.pem"))
    return {"tls": tls, "door": Door(check_identity=True), "signer": load_authority(certs)}


def _scenario(certs: Path, url: str, version: Any, count: int = 1, **more: Any) -> Any:
    return make_scenario(
        stations={"count": count, "ocpp": version},
        security={
            "profile": 3,
            "ca_file": str(certs / "ca.pem"),
            "certs_dir": str(certs / "stations"),
        },
        csms={"url": url},
        **more,
    )


def _renewal_trigger(version: str) -> Any:
    if version == "1.6":
        return call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    return call201.TriggerMessage(requested_message="SignChargingStationCertificate")


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_renewed_certificate_is_used_on_the_next_connect(certs: Path, version: str) -> None:
    options = _mutual_tls(certs)
    door: Door = options["door"]
    async with csms_running(**options) as csms:
        async with fleet_running(_scenario(certs, csms.url, version)) as fleet:
            await accepted(fleet)
            first = door.serials["CP-00001"]
            answer = await csms.call("CP-00001", _renewal_trigger(version))
            assert answer.status == "Accepted"
            record = csms.ledger["CP-00001"]
            await wait_until(lambda: record.certificates.get("Accepted") == 1)
            station = fleet.stations[0]
            assert station.certificate is not None
            chain = x509.load_pem_x509_certificates(Path(station.certificate[0]).read_bytes())
            assert format(chain[0].serial_number, "X") != first
            # The CSR went out as the spec shapes it, and the change is a security event.
            sign = calls(csms, "CP-00001", "SignCertificate")
            assert len(sign) == 1 and "BEGIN CERTIFICATE REQUEST" in sign[0].message[3]["csr"]
            await wait_until(
                lambda: record.security_events.get("ReconfigurationOfSecurityParameters") == 1
            )
            # Until it reconnects the station keeps the connection it has; then the new one.
            await csms.connections["CP-00001"]._connection.close(1001, "going away")
            await wait_until(lambda: record.connections == 2)
            await accepted(fleet)
            assert int(door.serials["CP-00001"], 16) == chain[0].serial_number
        assert list(fleet.summary.failure_reasons) == [
            "connection lost: CSMS closed the connection (code 1001: going away)"
        ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_csr_for_another_identity_is_refused_by_the_csms(certs: Path, version: str) -> None:
    options = _mutual_tls(certs)
    async with csms_running(**options) as csms:
        async with fleet_running(_scenario(certs, csms.url, version)) as fleet:
            await accepted(fleet)
            station = fleet.stations[0]
            station.certificates().station_id = "CP-00002"  # its CSR now claims CP-00002
            await station.request_certificate()
            record = csms.ledger["CP-00001"]
            assert record.certificates["refused"] == 1 and station.certificate is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_roots_are_installed_listed_and_deleted(certs: Path, version: str) -> None:
    root = certificate_pem(new_authority(name="some other root").certificate).decode()
    kind = "CentralSystemRootCertificate" if version == "1.6" else "CSMSRootCertificate"
    module = call16 if version == "1.6" else call201
    async with csms_running(**_mutual_tls(certs)) as csms:
        async with fleet_running(_scenario(certs, csms.url, version)) as fleet:
            await accepted(fleet)
            listed = module.GetInstalledCertificateIds(
                certificate_type=kind if version == "1.6" else [kind]
            )
            assert (await csms.call("CP-00001", listed)).status == "NotFound"
            install = module.InstallCertificate(certificate_type=kind, certificate=root)
            assert (await csms.call("CP-00001", install)).status == "Accepted"
            answer = await csms.call("CP-00001", listed)
            assert answer.status == "Accepted"
            if version == "1.6":
                (hash_data,) = answer.certificate_hash_data
            else:
                (entry,) = answer.certificate_hash_data_chain
                assert entry["certificate_type"] == kind
                hash_data = entry["certificate_hash_data"]
            assert hash_data["hash_algorithm"] == "SHA256"
            delete = module.DeleteCertificate(certificate_hash_data=hash_data)
            assert (await csms.call("CP-00001", delete)).status == "Accepted"
            assert (await csms.call("CP-00001", delete)).status == "NotFound"
            assert (await csms.call("CP-00001", listed)).status == "NotFound"
            broken = module.InstallCertificate(certificate_type=kind, certificate="not a PEM")
            assert (await csms.call("CP-00001", broken)).status == "Rejected"
            events = csms.ledger["CP-00001"].security_events
            await wait_until(lambda: events.get("ReconfigurationOfSecurityParameters") == 2)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_refused_login_is_reported_once_the_station_gets_in(version: str) -> None:
    passwords = Passwords("{id}-the-CSMS-expects-this")
    async with csms_running(door=Door(passwords, require_password=True)) as csms:
        scenario = make_scenario(
            stations={"ocpp": version},
            security={"profile": 1, "password": "{id}-the-station-sends-this"},
            csms={"url": csms.url},
        )
        async with fleet_running(scenario) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
            passwords.changed("CP-00001", b"CP-00001-the-station-sends-this")
            await accepted(fleet)
            record = csms.ledger["CP-00001"]
            name = "FailedToAuthenticateAt" + ("CentralSystem" if version == "1.6" else "Csms")
            await wait_until(lambda: record.security_events.get(name, 0) >= 1)
        event = calls(csms, "CP-00001", "SecurityEventNotification")[0].message[3]
        assert event["techInfo"] == "CSMS refused the websocket: HTTP 401 Unauthorized"


async def test_a_renewal_storm_has_every_station_ask_at_once(certs: Path) -> None:
    async with csms_running(**_mutual_tls(certs)) as csms:
        scenario = _scenario(
            certs,
            csms.url,
            {"1.6": 1, "2.0.1": 1},
            count=4,
            storms=[{"kind": "cert_renewal", "at_s": 0.5}],
        )
        async with fleet_running(scenario) as fleet:
            await accepted(fleet)
            await wait_until(
                lambda: all(
                    csms.ledger[s.id].certificates.get("Accepted") == 1 for s in fleet.stations
                )
            )
            assert all(s.state is State.ACCEPTED for s in fleet.stations)
        requests = calls(csms, action="SignCertificate")
        assert len(requests) == 4
        spread_s = max(c.at for c in requests) - min(c.at for c in requests)
        assert spread_s < 0.5  # at once, not one after another


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_csr_names_the_organisation_the_csms_set(certs: Path, version: str) -> None:
    """1.6 CpoName, 2.0.1 SecurityCtrlr.OrganizationName: the O of the next CSR."""
    options = _mutual_tls(certs)
    async with csms_running(**options) as csms:
        async with fleet_running(_scenario(certs, csms.url, version)) as fleet:
            await accepted(fleet)
            name = "ACME Charging"
            change = set_setting(version, name, "CpoName", "SecurityCtrlr", "OrganizationName")
            await csms.call("CP-00001", change)
            assert (await csms.call("CP-00001", _renewal_trigger(version))).status == "Accepted"
            await wait_until(lambda: calls(csms, "CP-00001", "SignCertificate"))
    csr = calls(csms, "CP-00001", "SignCertificate")[0].message[3]["csr"]
    subject = x509.load_pem_x509_csr(csr.encode()).subject
    assert (
        subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "ACME Charging"
    )
    assert subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "CP-00001"


async def test_a_plug_and_charge_station_renews_its_v2g_certificate_apart() -> None:
    """TriggerMessage SignV2GCertificate (2.0.1 A03 for the ISO 15118 certificate): a CSR
    with certificateType V2GCertificate, CertificateSigned of that type taken and kept, the
    certificate the station shows the CSMS untouched; refused where there is no ISO 15118."""
    pnc = {"plug_and_charge": {"share": 0.5}}
    trigger = call201.TriggerMessage(requested_message="SignV2GCertificate")
    async with csms_running(signer=new_authority()) as csms:
        scenario = make_scenario(stations={"count": 1, "ocpp": "2.0.1"}, sessions=pnc)
        async with fleet_running(scenario, csms.url) as fleet:
            await accepted(fleet)
            assert (await csms.call("CP-00001", trigger)).status == "Accepted"
            record = csms.ledger["CP-00001"]
            await wait_until(lambda: record.certificates.get("Accepted") == 1)
            (sign,) = calls(csms, "CP-00001", "SignCertificate")
            assert sign.message[3]["certificateType"] == "V2GCertificate"
            station = fleet.stations[0]
            store = station.certificates()
            assert store.v2g is not None and station.certificate is None
            csr = x509.load_pem_x509_csr(sign.message[3]["csr"].encode())
            assert store.v2g[0].public_key() == csr.public_key()
        without = make_scenario(stations={"count": 1, "ocpp": "2.0.1"})
        async with fleet_running(without, csms.url) as fleet:
            await accepted(fleet)
            assert (await csms.call("CP-00001", trigger)).status == "Rejected"
