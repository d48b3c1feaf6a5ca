"""Every frame a short mixed run puts on the wire, checked with the slow reference validators
(the ocpp package's jsonschema ones), independent of fleet's compiled fast path."""

from __future__ import annotations

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.messages import Call, CallResult, _validate_payload
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.certs import certificate_pem, new_authority
from fleet.station.state import State
from tests.conftest import csms_running, fleet_running, make_scenario, wait_until

ERROR_CODES = {
    "1.6": {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
            "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
            "TypeConstraintViolation", "GenericError"},
    "2.0.1": {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
              "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
              "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError",
              "SecurityError", "TypeConstraintViolation"},
}  # fmt: skip

HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
TOKEN = {"idToken": "T", "type": "Central"}
# A root for InstallCertificate (and the security events installing it makes stations send).
ROOT = certificate_pem(new_authority(name="schema fidelity root").certificate).decode()
CALLS = {
    "1.6": [
        c16.GetConfiguration(),
        c16.ChangeConfiguration(key="HeartbeatInterval", value="2"),
        c16.TriggerMessage(requested_message="StatusNotification"),
        c16.TriggerMessage(requested_message="Heartbeat"),
        c16.ChangeAvailability(connector_id=0, type="Inoperative"),
        c16.RemoteStartTransaction(id_tag="TAG-1"),
        c16.UnlockConnector(connector_id=1),
        c16.DataTransfer(vendor_id="fleet", message_id="ping", data="x"),
        c16.GetDiagnostics(location="ftp://127.0.0.1/x"),
        c16.TriggerMessage(requested_message="FirmwareStatusNotification"),
        c16.ExtendedTriggerMessage(requested_message="Heartbeat"),
        c16.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=ROOT),
        c16.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"),
        c16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"),
        c16.GetLog(
            log={"remoteLocation": "ftp://127.0.0.1/x"}, log_type="SecurityLog", request_id=9
        ),
        c16.ExtendedTriggerMessage(requested_message="LogStatusNotification"),
        c16.SignedUpdateFirmware(
            request_id=4,
            firmware={
                "location": "https://127.0.0.1/fw.bin",
                "retrieve_date_time": "2026-01-01T00:00:00Z",
                "signing_certificate": ROOT,
                "signature": "c2ln",
            },
        ),
        c16.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification"),
    ],
    "2.0.1": [
        c201.GetVariables(
            get_variable_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {
                    "component": {"name": "Nope"},
                    "variable": {"name": "X"},
                    "attribute_type": "Target",
                },
            ]
        ),
        c201.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attribute_value": "2",
                },
            ]
        ),
        c201.TriggerMessage(requested_message="StatusNotification", evse={"id": 1}),
        c201.ChangeAvailability(
            operational_status="Inoperative", evse={"id": 1, "connector_id": 1}
        ),
        c201.RequestStartTransaction(
            id_token={"idToken": "T", "type": "Central"}, remote_start_id=7
        ),
        c201.UnlockConnector(evse_id=1, connector_id=1),
        c201.Reset(type="OnIdle", evse_id=1),
        c201.GetBaseReport(request_id=1, report_base="FullInventory"),
        c201.GetReport(request_id=2, component_criteria=["Available"]),
        c201.GetLog(
            log={"remoteLocation": "ftp://127.0.0.1/x"}, log_type="DiagnosticsLog", request_id=3
        ),
        c201.TriggerMessage(requested_message="LogStatusNotification"),
        c201.InstallCertificate(certificate_type="CSMSRootCertificate", certificate=ROOT),
        c201.GetInstalledCertificateIds(),
        c201.TriggerMessage(requested_message="SignChargingStationCertificate"),
    ],
}


async def test_every_frame_of_a_mixed_run_is_valid_per_the_reference_schemas() -> None:
    scenario = make_scenario(stations={"count": 6, "ocpp": {"1.6": 1, "2.0.1": 1}, "connectors": 2})
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: all(s.state is State.ACCEPTED for s in fleet.stations))
            for station in fleet.stations:
                for payload in CALLS[station.version]:
                    await csms.call(station.id, payload)
                if station.version == "2.0.1":  # every CSMS-initiated 1.6 action is answered
                    with pytest.raises(OcppNotImplemented):
                        await csms.call(
                            station.id, c201.CostUpdated(total_cost=1.5, transaction_id="T-1")
                        )
            await wait_until(lambda: len([c for c in csms.capture if "Heartbeat" in c.raw]) >= 12)
            await wait_until(lambda: len([c for c in csms.capture if "SignCert" in c.raw]) >= 6)

    assert csms.capture is not None
    kinds: dict[int, int] = {2: 0, 3: 0, 4: 0}
    for captured in csms.capture:
        message = captured.message
        kinds[message[0]] += 1
        if message[0] == 2:
            _validate_payload(Call(message[1], message[2], message[3]), captured.version)
        elif message[0] == 3:
            action = csms.calls_sent[message[1]]
            _validate_payload(CallResult(message[1], message[2], action=action), captured.version)
        else:
            assert len(message) == 5 and isinstance(message[3], str)
            assert isinstance(message[4], dict)
            assert message[2] in ERROR_CODES[captured.version]
    # Stations' own CALLs, answers to every CSMS call, and the CallErrors for unsupported ones.
    assert kinds[2] >= 6 * 4 and kinds[3] == 3 * 18 + 3 * 14 and kinds[4] == 3
    sent = {captured.message[2] for captured in csms.capture if captured.message[0] == 2}
    assert {"LogStatusNotification", "SignedFirmwareStatusNotification"} <= sent
