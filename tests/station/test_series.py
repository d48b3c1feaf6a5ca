"""A transaction's readings in its last message (sessions.end_series; 2.0.1 TxEndedInterval),
without sockets or sleeps: the series is the readings taken on its own schedule, the same values
as the MeterValues sent at those moments, then the end reading; without it, the end alone."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.station.sampling import Sampling
from fleet.station.sessions import Phase
from fleet.station.transaction import TxSettings
from tests.station.test_sessions import ENERGY, FAST, T0, charger, valid

SERIES = FAST.model_copy(
    update={"end_series": True, "clock_aligned_s": 120, "end_measurands": (ENERGY, "Voltage")}
)
ACCEPTED = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}


def whole_session(version: str, settings: TxSettings) -> tuple[list[Any], dict[str, Any]]:
    """(every periodic reading sent, the last message's payload) of one 10-minute visit."""
    c = charger(version, SERIES, settings=settings)
    c.begin(T0)
    assert c.wake_at is not None
    arrive = c.wake_at
    sends = c.on_wake(arrive) + c.on_answer("Authorize", ACCEPTED, arrive)
    if version == "1.6":
        sends += c.on_answer("StartTransaction", {"transactionId": 42, **ACCEPTED}, arrive)
    while c.phase is Phase.CHARGING:
        assert c.wake_at is not None
        sends += c.on_wake(c.wake_at)
    valid(version, sends)
    last = next(
        s for s in sends if s.action == "StopTransaction" or s.payload.get("eventType") == "Ended"
    )
    periodic = [
        value
        for s in sends
        if s.action in ("MeterValues", "TransactionEvent") and s is not last
        for value in s.payload.get("meterValue") or []
        if value["sampledValue"][0]["context"] == "Sample.Periodic"
    ]
    return periodic, last.payload


def energy(value: dict[str, Any], measurand: str = ENERGY) -> float:
    item = next(v for v in value["sampledValue"] if v.get("measurand", ENERGY) == measurand)
    return float(item["value"])


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_last_message_carries_the_transaction_s_readings_then_its_end(version: str) -> None:
    periodic, last = whole_session(version, TxSettings.of(SERIES, v201=version == "2.0.1"))
    values = last.get("transactionData") or last["meterValue"]
    contexts = [v["sampledValue"][0]["context"] for v in values]
    assert contexts.count("Sample.Periodic") == len(periodic) == 9  # every 60 s of 10 minutes
    assert contexts.count("Sample.Clock") == 5  # the 2-minute marks
    assert contexts[-1] == "Transaction.End"
    kept = [v for v in values if v["sampledValue"][0]["context"] == "Sample.Periodic"]
    assert [energy(v) for v in kept] == [energy(v) for v in periodic]  # the readings sent
    volts = [energy(v, "Voltage") for v in kept]  # noisy: the same reading, not another
    assert volts == [energy(v, "Voltage") for v in periodic] and len(set(volts)) > 1
    assert [v["timestamp"] for v in kept] == [v["timestamp"] for v in periodic]
    registers = [energy(v) for v in values]
    assert registers == sorted(registers) and registers[0] < registers[-1]
    stamps = [v["timestamp"] for v in values]
    assert stamps == sorted(stamps)
    clock = [v for v in values if v["sampledValue"][0]["context"] == "Sample.Clock"]
    assert all({i.get("measurand", ENERGY) for i in v["sampledValue"]} == {ENERGY} for v in clock)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_without_the_series_the_last_message_has_the_end_reading_only(version: str) -> None:
    plain = FAST.model_copy(update={"clock_aligned_s": 120})
    _, last = whole_session(version, TxSettings.of(plain, v201=version == "2.0.1"))
    values = last.get("transactionData") or last["meterValue"]
    assert [v["sampledValue"][0]["context"] for v in values] == ["Transaction.End"]


def test_2_0_1_keeps_readings_every_tx_ended_interval_its_own_schedule() -> None:
    changed = {"TxEndedInterval": "180", "AlignedTxEndedInterval": "0"}
    periodic, last = whole_session("2.0.1", TxSettings.of(SERIES, changed, v201=True))
    contexts = [v["sampledValue"][0]["context"] for v in last["meterValue"]]
    assert len(periodic) == 9  # TxUpdatedInterval: every 60 s, as before
    assert contexts == ["Sample.Periodic"] * 3 + ["Transaction.End"]  # at 180, 360, 540 s
    # 1.6 has no such key: its series follows MeterValueSampleInterval.
    assert TxSettings.of(SERIES, changed).ended_s == 60
    assert TxSettings.of(FAST, changed, v201=True).ended_s == 180  # the CSMS's, series or not
    assert not TxSettings.of(FAST, v201=True).keeps_series


def test_kept_readings_due_on_their_schedules_and_a_late_one_taken_once() -> None:
    settings = TxSettings.of(SERIES)  # kept every 60 s and on 120 s marks
    sampling = Sampling(settings)
    mark = 1_790_000_040.0  # a multiple of 120 s
    start = mark + 10
    sampling.start(start)
    assert sampling.first_due(True, None) == start + 60
    assert sampling.kept_due(start + 59) == (False, False)
    assert sampling.kept_due(start + 60) == (True, False)
    assert sampling.kept_due(start + 110) == (False, True)  # the mark
    assert sampling.kept_due(start + 400) == (True, True)  # late: once each
    assert sampling.ended == (start + 420, mark + 480)
    assert sampling.missed == 0  # kept readings are not messages
