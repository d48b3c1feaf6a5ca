"""Plug & Charge certificate management on OCPP 1.6 over real sockets, as the OCA's application
note has it: the CSMS's 2.0.1 certificate messages inside DataTransfer, answered with the 2.0.1
response as data; the V2G certificate renewed through them end to end against the embedded CSMS."""

from __future__ import annotations

from typing import Any

import orjson
from cryptography import x509
from ocpp.v16 import call as call16

from fleet import wire
from fleet.certs import certificate_pem, new_authority
from fleet.station.certificates import hash_data
from fleet.station.pnc import VENDOR_ID
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

ONE_16 = {"count": 1, "ocpp": "1.6"}
PNC = {"plug_and_charge": {"share": 0.5}}


def _pnc(message_id: str, request: dict[str, Any]) -> call16.DataTransfer:
    data = orjson.dumps(request).decode()
    return call16.DataTransfer(vendor_id=VENDOR_ID, message_id=message_id, data=data)


def _inner(answer: Any, message_id: str) -> dict[str, Any]:
    """The 2.0.1 response a DataTransfer answer carries, checked against its schema."""
    assert answer.status == "Accepted", answer
    inner: dict[str, Any] = orjson.loads(answer.data)
    wire.checker("2.0.1", message_id, "response")(inner)
    return inner


def _wrapped(csms: Any, message_id: str) -> list[dict[str, Any]]:
    """The 2.0.1 requests the station sent inside DataTransfer with ``message_id``."""
    return [
        orjson.loads(c.message[3]["data"])
        for c in calls(csms, action="DataTransfer")
        if c.message[3]["messageId"] == message_id
    ]


async def test_a_1_6_station_renews_its_v2g_certificate_through_data_transfer() -> None:
    """TriggerMessage SignV2GCertificate -> SignCertificate (a CSR for the V2G key) ->
    CertificateSigned -> kept, and its status asked at once (GetCertificateStatus)."""
    scenario = make_scenario(stations=ONE_16, sessions=PNC)
    async with csms_running(signer=new_authority()) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: len(_wrapped(csms, "GetCertificateStatus")) == 3, 10)
            trigger = _pnc("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
            answer = await csms.call("CP-00001", trigger)
            assert _inner(answer, "TriggerMessage") == {"status": "Accepted"}
            record = csms.ledger["CP-00001"]
            await wait_until(lambda: record.certificates.get("Accepted") == 1, 10)
            store = fleet.stations[0].certificates()
            await wait_until(lambda: len(_wrapped(csms, "GetCertificateStatus")) == 4, 10)
    (sign,) = _wrapped(csms, "SignCertificate")
    wire.checker("2.0.1", "SignCertificate", "request")(sign)
    assert sign["certificateType"] == "V2GCertificate"
    csr = x509.load_pem_x509_csr(sign["csr"].encode())
    assert store.v2g is not None and store.v2g[0].public_key() == csr.public_key()
    assert fleet.stations[0].certificate is None  # the one shown to the CSMS is untouched
    asked = _wrapped(csms, "GetCertificateStatus")[3]["ocspRequestData"]
    assert asked["serialNumber"] == format(store.v2g[0].serial_number, "x")
    rows = fleet.summary.stats.wire
    assert rows["OCPP1.6", "SignCertificate"].count == 1
    assert "DataTransfer" not in {name for _, name in rows}
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


async def test_a_1_6_station_installs_lists_and_deletes_roots_through_data_transfer() -> None:
    root = new_authority(name="V2G test root").certificate
    scenario = make_scenario(stations=ONE_16, sessions=PNC)
    async with csms_running() as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await accepted(fleet)

            async def ask(message_id: str, request: dict[str, Any]) -> dict[str, Any]:
                return _inner(await csms.call("CP-00001", _pnc(message_id, request)), message_id)

            pem = certificate_pem(root).decode()
            install = {"certificateType": "V2GRootCertificate", "certificate": pem}
            assert await ask("InstallCertificate", install) == {"status": "Accepted"}
            listed = await ask(
                "GetInstalledCertificateIds", {"certificateType": ["V2GRootCertificate"]}
            )
            assert listed["status"] == "Accepted"
            assert listed["certificateHashDataChain"] == [
                {"certificateType": "V2GRootCertificate", "certificateHashData": hash_data(root)}
            ]
            other = await ask(
                "GetInstalledCertificateIds", {"certificateType": ["MORootCertificate"]}
            )
            assert other == {"status": "NotFound"}
            delete = {"certificateHashData": hash_data(root)}
            assert await ask("DeleteCertificate", delete) == {"status": "Accepted"}
            assert await ask("DeleteCertificate", delete) == {"status": "NotFound"}
            # What it cannot take: an unknown messageId, data its 2.0.1 schema refuses,
            # another trigger than the application note's.
            unknown = await csms.call("CP-00001", _pnc("CostUpdated", {"totalCost": 1}))
            assert unknown.status == "UnknownMessageId"
            broken = await csms.call("CP-00001", _pnc("InstallCertificate", {"certificate": pem}))
            assert broken.status == "Rejected"
            other_trigger = _pnc("TriggerMessage", {"requestedMessage": "Heartbeat"})
            assert _inner(await csms.call("CP-00001", other_trigger), "TriggerMessage") == {
                "status": "NotImplemented"
            }
    assert fleet.summary.failures == []


async def test_a_1_6_station_without_plug_and_charge_does_not_know_the_vendor() -> None:
    async with csms_running() as csms:
        async with fleet_running(make_scenario(stations=ONE_16), csms.url) as fleet:
            await accepted(fleet)
            trigger = _pnc("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
            answer = await csms.call("CP-00001", trigger)
            assert answer.status == "UnknownVendorId"
            # Another vendor's DataTransfer: the scenario's status, as before.
            plain = call16.DataTransfer(vendor_id="com.example", message_id="x", data="y")
            assert (await csms.call("CP-00001", plain)).status == "Accepted"
    assert not calls(csms, action="DataTransfer")
