from __future__ import annotations

import pytest

from fleet import catalog, wire


def test_frames_round_trip() -> None:
    frame = wire.decode(wire.encode_call("1", "Heartbeat", {}), "ProtocolError")
    assert (frame.message_type, frame.unique_id, frame.action, frame.payload) == (
        2,
        "1",
        "Heartbeat",
        {},
    )
    error = wire.decode(wire.encode_error("9", "InternalError", "boom"), "ProtocolError")
    assert (error.error_code, error.description) == ("InternalError", "boom")


@pytest.mark.parametrize(
    ("raw", "code", "uid"),
    [
        (b"{nope", "RpcFrameworkError", None),
        (b'{"a": 1}', "RpcFrameworkError", None),
        (b'[2, "", "Reset", {}]', "RpcFrameworkError", None),
        (b'[2, "7", "Reset"]', "RpcFrameworkError", "7"),
        (b'[9, "8", {}]', "MessageTypeNotSupported", "8"),
    ],
)
def test_malformed_frames(raw: bytes, code: str, uid: str | None) -> None:
    with pytest.raises(wire.FrameError) as caught:
        wire.decode(raw, "RpcFrameworkError")
    assert (caught.value.code, caught.value.unique_id) == (code, uid)


@pytest.mark.parametrize(
    ("version", "payload", "code"),
    [
        (
            "1.6",
            {"status": "Accepted", "interval": "x", "currentTime": "2030-01-01T00:00:00Z"},
            "TypeConstraintViolation",
        ),
        ("1.6", {"status": "Accepted", "interval": 1}, "ProtocolError"),
        ("2.0.1", {"status": "Accepted", "interval": 1}, "OccurrenceConstraintViolation"),
        (
            "1.6",
            {"status": "Maybe", "interval": 1, "currentTime": "2030-01-01T00:00:00Z"},
            "PropertyConstraintViolation",
        ),
    ],
)
def test_schema_violations_map_to_version_codes(version: str, payload: dict, code: str) -> None:
    with pytest.raises(wire.SchemaViolation) as caught:
        wire.validate(version, "BootNotification", "response", payload)
    assert caught.value.code == code


def test_decimal_precision_without_decimal_parsing() -> None:
    # 1.6 charging profiles have multipleOf 0.1: 21.4 is valid although 21.4/0.1 is not exact.
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    wire.validate(
        "1.6", "RemoteStartTransaction", "request", {"idTag": "T", "chargingProfile": profile}
    )
    profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 4.11
    with pytest.raises(wire.SchemaViolation):
        wire.validate(
            "1.6", "RemoteStartTransaction", "request", {"idTag": "T", "chargingProfile": profile}
        )


def test_statuses_come_from_the_schemas() -> None:
    assert catalog.statuses("1.6", "UnlockConnector") == (
        "Unlocked",
        "UnlockFailed",
        "NotSupported",
    )
    assert catalog.default_status("1.6", "UnlockConnector") == "Unlocked"
    assert "Scheduled" in catalog.statuses("2.0.1", "Reset")
    assert catalog.statuses("2.0.1", "GetVariables") == ()


def test_a_check_leaves_the_payload_as_it_was() -> None:
    """fastjsonschema writes a schema's defaults into what it validates unless told not to: a
    CSMS's answer would gain fields it never sent, and a station's shared values (a 2.0.1
    unitOfMeasure) would be edited. Checked on both paths: the quick predicate's and the full
    check a payload the predicate is unsure of goes to."""
    value = {"value": 1.0, "unitOfMeasure": {"unit": "Wh"}}
    payload = {
        "evseId": 1,
        "meterValue": [{"timestamp": "2030-01-01T00:00:00Z", "sampledValue": [value]}],
    }
    wire.validate("2.0.1", "MeterValues", "request", payload)
    wire._compiled("2.0.1", "MeterValues", "request")(payload)  # the full check itself
    assert value == {"value": 1.0, "unitOfMeasure": {"unit": "Wh"}}
