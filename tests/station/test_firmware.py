"""Firmware campaigns and log uploads over real sockets, against the embedded CSMS: every status
in order after the answer, the reboot with the new version, Installed after it, and the
triggered status."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    wait_until,
)

QUICK = {
    "download_s": {"min": 0.2, "max": 0.3},
    "install_s": {"min": 0.2, "max": 0.3},
    "upload_s": {"min": 0.2, "max": 0.3},
}
PAST = "2020-01-01T00:00:00Z"


def sent(csms, *actions: str, station: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [(c.message[2], c.message[3]) for c in calls(csms, station) if c.message[2] in actions]


def statuses(csms, action: str, station: str | None = None) -> list[str]:
    return [payload["status"] for _, payload in sent(csms, action, station=station)]


async def test_a_1_6_firmware_update_walks_every_status_and_boots_the_new_version() -> None:
    scenario = make_scenario(stations={"ocpp": "1.6"}, maintenance=QUICK)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        update = c16.UpdateFirmware(location="https://fw.example/v2.1.0.bin", retrieve_date=PAST)
        await csms.call("CP-00001", update)
        await wait_until(lambda: "Installed" in statuses(csms, "FirmwareStatusNotification"))
        triggered = await csms.call(
            "CP-00001", c16.TriggerMessage(requested_message="FirmwareStatusNotification")
        )
        assert triggered.status == "Accepted"
        await wait_until(lambda: statuses(csms, "FirmwareStatusNotification")[-1] == "Idle")
    assert statuses(csms, "FirmwareStatusNotification") == [
        "Downloading", "Downloaded", "Installing", "Installed", "Idle",
    ]  # fmt: skip
    flow = [
        (action, p.get("status"))
        for action, p in sent(csms, "FirmwareStatusNotification", "BootNotification")
    ]
    assert flow.index(("BootNotification", None), 1) == 4  # rebooted after Installing
    boots = [p for action, p in sent(csms, "BootNotification")]
    assert [b["firmwareVersion"] for b in boots] == [scenario.stations.firmware, "v2.1.0"]
    assert csms.ledger["CP-00001"].connections == 2
    assert csms.ledger["CP-00001"].jobs == {"firmware": "Idle"}  # what a campaign tracks
    assert_schema_valid(csms)


async def test_a_2_0_1_update_carries_its_request_id_and_reboots_for_firmware() -> None:
    scenario = make_scenario(stations={"ocpp": "2.0.1"}, maintenance=QUICK)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        firmware = {"location": "https://fw.example/acme-3.bin", "retrieveDateTime": PAST}
        answer = await csms.call("CP-00001", c201.UpdateFirmware(request_id=5, firmware=firmware))
        assert answer.status == "Accepted"
        await wait_until(lambda: "Installed" in statuses(csms, "FirmwareStatusNotification"))
    notes = [p for _, p in sent(csms, "FirmwareStatusNotification")]
    assert [n["status"] for n in notes] == [
        "Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed",
    ]  # fmt: skip
    assert all(n["requestId"] == 5 for n in notes)
    boots = [p for _, p in sent(csms, "BootNotification")]
    assert [b["reason"] for b in boots] == ["PowerUp", "FirmwareUpdate"]
    assert boots[1]["chargingStation"]["firmwareVersion"] == "acme-3"
    assert_schema_valid(csms)


async def test_failures_and_uploads_and_a_second_request_cancelling_the_first() -> None:
    config = {**QUICK, "download_failures": 1.0, "upload_s": {"min": 1.0, "max": 1.0}}
    scenario = make_scenario(
        stations={"ocpp": {"1.6": 1, "2.0.1": 1}, "count": 2}, maintenance=config
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        await csms.call(
            "CP-00002", c16.UpdateFirmware(location="https://x/fw.bin", retrieve_date=PAST)
        )
        diagnostics = await csms.call("CP-00002", c16.GetDiagnostics(location="ftp://x/up"))
        assert diagnostics.file_name == "CP-00002-diagnostics.log"
        firmware = {"location": "https://x/fw.bin", "retrieveDateTime": PAST}
        updates = [
            await csms.call("CP-00001", c201.UpdateFirmware(request_id=n, firmware=firmware))
            for n in (3, 4)
        ]
        assert [u.status for u in updates] == ["Accepted", "AcceptedCanceled"]
        log = {"remoteLocation": "https://x/logs"}
        first = await csms.call(
            "CP-00001", c201.GetLog(log=log, log_type="DiagnosticsLog", request_id=1)
        )
        second = await csms.call(
            "CP-00001", c201.GetLog(log=log, log_type="SecurityLog", request_id=2)
        )
        assert (first.status, second.status) == ("Accepted", "AcceptedCanceled")
        await wait_until(lambda: "Uploaded" in statuses(csms, "DiagnosticsStatusNotification"))
        await wait_until(lambda: "Uploaded" in statuses(csms, "LogStatusNotification"))
        await wait_until(
            lambda: "DownloadFailed" in statuses(csms, "FirmwareStatusNotification", "CP-00002")
        )
        await wait_until(
            lambda: "DownloadFailed" in statuses(csms, "FirmwareStatusNotification", "CP-00001")
        )
    assert statuses(csms, "FirmwareStatusNotification", "CP-00002") == [
        "Downloading",
        "DownloadFailed",
    ]
    cancelled = [p for _, p in sent(csms, "FirmwareStatusNotification", station="CP-00001")]
    walked = [(p["status"], p["requestId"]) for p in cancelled]
    assert walked[-2:] == [("Downloading", 4), ("DownloadFailed", 4)]
    assert set(walked[:-2]) <= {("Downloading", 3)}  # the cancelled update got no further
    assert csms.ledger["CP-00002"].connections == 1  # a failed download does not reboot
    logs = [p for _, p in sent(csms, "LogStatusNotification")]
    assert [(p["status"], p["requestId"]) for p in logs] == [
        ("Uploading", 1), ("Uploading", 2), ("Uploaded", 2),
    ]  # fmt: skip
    assert_schema_valid(csms)


SIGNED = {
    "location": "https://fw.example/acme-4.bin",
    "retrieve_date_time": PAST,
    "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "signature": "c2lnbmF0dXJl",
}


async def test_a_1_6_signed_update_reports_2_0_1_statuses_with_its_request_id() -> None:
    """The 1.6 security extension: SignedUpdateFirmware walks L01 in
    SignedFirmwareStatusNotification; UpdateFirmware and it update one firmware, so each
    cancels the other; ExtendedTriggerMessage reports the signed update's status."""
    scenario = make_scenario(stations={"ocpp": "1.6"}, maintenance=QUICK)
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        first = await csms.call("CP-00001", c16.SignedUpdateFirmware(request_id=7, firmware=SIGNED))
        plain = c16.UpdateFirmware(location="https://x/a.bin", retrieve_date=PAST)
        await csms.call("CP-00001", plain)  # cancels the signed update
        await wait_until(lambda: "Installed" in statuses(csms, "FirmwareStatusNotification"))
        await csms.call("CP-00001", plain)  # cancelled by the next signed update
        answers = [
            await csms.call("CP-00001", c16.SignedUpdateFirmware(request_id=n, firmware=SIGNED))
            for n in (8, 9)
        ]
        assert [a.status for a in (first, *answers)] == [
            "Accepted",
            "AcceptedCanceled",
            "AcceptedCanceled",
        ]
        await wait_until(lambda: "Installed" in statuses(csms, "SignedFirmwareStatusNotification"))
        triggered = await csms.call(
            "CP-00001",
            c16.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification"),
        )
        assert triggered.status == "Accepted"
        await wait_until(lambda: statuses(csms, "SignedFirmwareStatusNotification")[-1] == "Idle")
    plain_walk = statuses(csms, "FirmwareStatusNotification")
    assert plain_walk[:4] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert set(plain_walk[4:]) <= {"Downloading"}  # the second plain update: cancelled
    notes = [p for _, p in sent(csms, "SignedFirmwareStatusNotification")]
    walked = [(n["status"], n.get("requestId")) for n in notes]
    assert walked[-7:] == [
        ("Downloading", 9), ("Downloaded", 9), ("SignatureVerified", 9), ("Installing", 9),
        ("InstallRebooting", 9), ("Installed", 9), ("Idle", None),
    ]  # fmt: skip
    assert set(walked[:-7]) <= {("Downloading", 7), ("Downloading", 8)}  # cancelled at once
    flow = [
        (action, p.get("status"))
        for action, p in sent(csms, "SignedFirmwareStatusNotification", "BootNotification")
    ]
    rebooted = len(flow) - 1 - flow[::-1].index(("BootNotification", None))
    assert flow[rebooted - 1] == ("SignedFirmwareStatusNotification", "InstallRebooting")
    boots = [p for _, p in sent(csms, "BootNotification")]
    assert [b["firmwareVersion"] for b in boots] == [scenario.stations.firmware, "a", "acme-4"]
    assert csms.ledger["CP-00001"].jobs["firmware"] == "Idle"
    assert_schema_valid(csms)


async def test_a_1_6_get_log_uploads_and_a_refused_certificate_is_a_security_event() -> None:
    """GetLog from the 1.6 security extension walks N01 in LogStatusNotification; a signed
    update answered InvalidCertificate (the scenario's choice) is not started and is reported as
    SecurityEventNotification InvalidFirmwareSigningCertificate (L01)."""
    scenario = make_scenario(
        stations={"ocpp": "1.6"},
        maintenance=QUICK,
        responses={"SignedUpdateFirmware": "InvalidCertificate"},
        security={"events": True},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        log = {"remoteLocation": "https://x/logs"}
        answer = await csms.call(
            "CP-00001", c16.GetLog(log=log, log_type="SecurityLog", request_id=3)
        )
        assert (answer.status, answer.filename) == ("Accepted", "CP-00001-SecurityLog.log")
        await wait_until(lambda: "Uploaded" in statuses(csms, "LogStatusNotification"))
        triggered = await csms.call(
            "CP-00001", c16.ExtendedTriggerMessage(requested_message="LogStatusNotification")
        )
        assert triggered.status == "Accepted"
        await wait_until(lambda: len(statuses(csms, "LogStatusNotification")) == 3)
        refused = await csms.call(
            "CP-00001", c16.SignedUpdateFirmware(request_id=1, firmware=SIGNED)
        )
        assert refused.status == "InvalidCertificate"
        await wait_until(lambda: bool(csms.ledger["CP-00001"].security_events))
    logs = [(p["status"], p.get("requestId")) for _, p in sent(csms, "LogStatusNotification")]
    assert logs == [("Uploading", 3), ("Uploaded", 3), ("Idle", None)]
    assert csms.ledger["CP-00001"].security_events == {"InvalidFirmwareSigningCertificate": 1}
    assert not sent(csms, "SignedFirmwareStatusNotification")  # the update never started
    assert csms.ledger["CP-00001"].jobs == {"log": "Idle"}
    assert_schema_valid(csms)


async def test_a_2_0_1_update_refused_for_its_certificate_is_a_security_event() -> None:
    scenario = make_scenario(
        stations={"ocpp": "2.0.1"},
        maintenance=QUICK,
        responses={"UpdateFirmware": "InvalidCertificate"},
        security={"events": True},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        answer = await csms.call("CP-00001", c201.UpdateFirmware(request_id=2, firmware=SIGNED))
        assert answer.status == "InvalidCertificate"
        await wait_until(lambda: bool(csms.ledger["CP-00001"].security_events))
    events = [p for _, p in sent(csms, "SecurityEventNotification")]
    assert [e["type"] for e in events] == ["InvalidFirmwareSigningCertificate"]
    assert not sent(csms, "FirmwareStatusNotification")
    assert_schema_valid(csms)
