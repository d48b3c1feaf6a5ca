"""The embedded CSMS as a station sees it: what it answers to good, bad and unknown CALLs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import websockets

from tests.conftest import csms_running


async def exchange(url: str, subprotocol: str, frames: list[list[Any]]) -> list[list[Any]]:
    """Send each CALL over one connection and return the CSMS's answers, in order."""
    answers = []
    async with websockets.connect(f"{url}/CP-T", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        for frame in frames:
            await ws.send(orjson.dumps(frame).decode())
            answers.append(orjson.loads(await ws.recv()))
    return answers


@pytest.mark.parametrize(
    ("subprotocol", "bad_boot", "code"),
    [
        ("ocpp1.6", {"chargePointVendor": 5, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ("ocpp2.0.1", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    ],
)
async def test_csms_answers_per_spec_and_counts_its_call_errors(
    subprotocol: str, bad_boot: dict[str, Any], code: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with csms_running() as csms:
        answers = await exchange(
            csms.url,
            subprotocol,
            [
                [2, "1", "BootNotification", bad_boot],
                [2, "2", "GetVariables" if subprotocol == "ocpp2.0.1" else "GetConfiguration", {}],
                [2, "3", "Reboot", {}],
                [2, "4", "Heartbeat", {}],
            ],
        )
        ledger = csms.ledger_json()["stations"]["CP-T"]
    assert [a[:3] for a in answers[:3]] == [
        [4, "1", code],
        [4, "2", "NotImplemented"],  # an action of the version the CSMS does not take
        [4, "3", "NotSupported"],  # not an action of the version
    ]
    assert answers[3][:2] == [3, "4"] and answers[3][2]["currentTime"].endswith("Z")
    assert ledger["errors"] == {code: 1, "NotImplemented": 1, "NotSupported": 1}
    assert sum(ledger["received"].values()) == 4
    # One line per CallError, no traceback.
    assert not [r for r in caplog.records if r.exc_info]
    assert sum("answered with CallError" in r.getMessage() for r in caplog.records) == 3
