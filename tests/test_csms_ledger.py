"""The embedded CSMS's decisions without sockets: who may charge, and the transaction ledger."""

from __future__ import annotations

import pytest

from fleet.csms.tags import TagPolicy
from fleet.csms.transactions import Transactions, energy_wh


def test_tag_policy_rejects_and_restricts_by_pattern() -> None:
    assert TagPolicy().status("ANY") == "Accepted"
    reject = TagPolicy(reject=["UNKNOWN-*", " "])
    assert reject.status("UNKNOWN-00AB") == "Invalid"
    assert reject.status("TAG-00001") == "Accepted"
    only = TagPolicy(accept=["TAG-0000?"], reject=["TAG-00003"])
    assert only.status("TAG-00001") == "Accepted"
    assert only.status("TAG-00003") == "Invalid"  # rejected wins
    assert only.status("TAG-00010") == "Invalid"  # not among the accepted
    assert only.describe() == "accepting TAG-0000? and rejecting TAG-00003"


def _mv(value: object, **extra: object) -> list[dict[str, object]]:
    return [{"timestamp": "t", "sampledValue": [{"value": value, **extra}]}]


def test_energy_is_read_from_the_register_in_its_unit() -> None:
    assert energy_wh(_mv("1500.5", unit="Wh")) == 1500.5
    assert energy_wh(_mv("1.5", unit="kWh")) == 1500.0
    assert energy_wh(_mv(2.0, unitOfMeasure={"unit": "kWh", "multiplier": 1})) == 20000.0
    assert energy_wh(_mv("12", measurand="Power.Active.Import")) is None
    assert energy_wh(_mv("7")) == 7.0  # no measurand: the energy register, per both specs
    assert energy_wh(_mv("x")) is None


def test_a_16_transaction_is_billed_stop_minus_start() -> None:
    ledger = Transactions()
    ledger.start16("CP1", 7, {"connectorId": 1, "idTag": "T", "meterStart": 1000, "timestamp": "a"})
    ledger.meter16("CP1", {"transactionId": 7, "meterValue": _mv("1200.0", unit="Wh")})
    assert ledger.items[("CP1", 7)].energy_wh == 200.0  # running: last reading - start
    ledger.stop16("CP1", {"transactionId": 7, "meterStop": 1450, "timestamp": "b"})
    ledger.meter16("CP2", {"transactionId": 7, "meterValue": _mv("1")})  # not CP2's
    ledger.stop16("CP1", {"transactionId": 99, "meterStop": 1})
    tx = ledger.items[("CP1", 7)]
    assert (tx.energy_wh, tx.ended, tx.stop_reason, tx.messages) == (450.0, True, "Local", 3)
    assert ledger.unknown == {"MeterValues": 1, "StopTransaction": 1}
    summary = ledger.to_json()
    assert (summary["count"], summary["ended"], summary["energy_kwh"]) == (1, 1, 0.45)


def _event(kind: str, seq: int, wh: float | None = None, tx: str = "A") -> dict[str, object]:
    payload: dict[str, object] = {
        "eventType": kind,
        "seqNo": seq,
        "timestamp": "t",
        "triggerReason": "Authorized",
        "transactionInfo": {"transactionId": tx},
    }
    if wh is not None:
        payload["meterValue"] = _mv(wh, unitOfMeasure={"unit": "Wh"})
    return payload


def test_201_seq_numbers_gaps_repeats_and_unknown_transactions() -> None:
    ledger = Transactions()
    ledger.event201("CP1", _event("Started", 0, 100.0) | {"evse": {"id": 2}})
    ledger.event201("CP1", _event("Updated", 1, 150.0))
    ledger.event201("CP1", _event("Updated", 4, 170.0))  # 2 and 3 never came
    ledger.event201("CP1", _event("Updated", 4))  # again
    ledger.event201("CP1", _event("Ended", 5, 180.0))
    ledger.event201("CP1", _event("Updated", 0, tx="NEVER-STARTED"))
    tx = ledger.items[("CP1", "A")]
    assert (tx.connector, tx.seq_gaps, tx.duplicates, tx.meter_values) == (2, 2, 1, 2)
    assert tx.energy_wh == pytest.approx(80.0)
    assert tx.ended and tx.stop_reason == "Local"
    assert ledger.unknown == {"TransactionEvent(Updated)": 1}
    ledger.event201("CP1", _event("Started", 0, 1.0, tx="B"))
    ledger.event201("CP1", _event("Started", 0, 1.0, tx="B"))  # sent again: a duplicate
    assert ledger.restarted == 0 and ledger.items[("CP1", "B")].duplicates == 1
    ledger.event201("CP1", _event("Started", 3, 1.0, tx="B"))  # a second start
    assert ledger.restarted == 1


def _stamp(n: int) -> str:
    return f"2026-11-25T10:00:{n:02d}Z"


def test_what_came_twice_or_late_is_flagged_and_a_1_6_start_again_keeps_its_id() -> None:
    ledger = Transactions()
    start = {"connectorId": 1, "idTag": "T", "meterStart": 10, "timestamp": _stamp(0)}
    assert ledger.known_start("CP1", start) is None
    ledger.apply("CP1", "StartTransaction", start, 5)
    assert ledger.known_start("CP1", start) == 5  # sent again: answered with the same id
    ledger.apply("CP1", "StartTransaction", dict(start), 5)
    other = start | {"timestamp": _stamp(9)}
    assert ledger.known_start("CP1", other) is None and ledger.known_start("CP2", start) is None
    reading = {"transactionId": 5, "meterValue": [{"timestamp": _stamp(3), "sampledValue": []}]}
    ledger.apply("CP1", "MeterValues", reading, None)
    late = {"transactionId": 5, "meterValue": [{"timestamp": _stamp(2), "sampledValue": []}]}
    ledger.apply("CP1", "MeterValues", late, None)
    stop = {"transactionId": 5, "meterStop": 30, "timestamp": _stamp(4)}
    ledger.apply("CP1", "StopTransaction", stop, None)
    ledger.apply("CP1", "StopTransaction", stop, None)
    tx = ledger.items[("CP1", 5)]
    assert (tx.messages, tx.duplicates, tx.out_of_order) == (6, 2, 1)
    assert tx.ended and tx.energy_wh == 20 and len(ledger.items) == 1
    ledger.apply("CP1", "TransactionEvent", _event("Started", 0, 1.0, tx="E"), None)
    ledger.apply("CP1", "TransactionEvent", _event("Updated", 2, 2.0, tx="E"), None)
    ledger.apply("CP1", "TransactionEvent", _event("Updated", 1, 2.0, tx="E"), None)  # late
    ledger.apply("CP1", "TransactionEvent", _event("Updated", 2, 2.0, tx="E"), None)  # again
    event_tx = ledger.items[("CP1", "E")]
    assert (event_tx.seq_gaps, event_tx.out_of_order, event_tx.duplicates) == (0, 1, 1)
    summary = ledger.to_json()
    assert (summary["duplicates"], summary["out_of_order"], summary["messages"]) == (3, 2, 10)
