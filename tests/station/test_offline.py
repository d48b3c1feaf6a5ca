"""Offline decisions without sockets or sleeps: the transaction queue's order, limits, retries
and 1.6 id filling (``offline.TxQueue``), and chargers that keep charging through an outage
(``sessions.Charger`` offline), driven by a fake clock, every message checked by its schema."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.errors import InvalidResponse
from fleet.metrics.summary import Summary
from fleet.scenario import Scenario
from fleet.station.calls import Outgoing
from fleet.station.delivery import Delivery
from fleet.station.intents import Send
from fleet.station.offline import DROP_METER_VALUES, DROP_NEWEST, DROP_OLDEST, Pending, TxQueue
from fleet.station.sessions import Charger, Phase
from fleet.station.transaction import Tx, TxSettings
from tests.station.test_sessions import FAST, T0, charger, valid


def _pending(action: str, tx: Tx, row: str | None = None, **payload: Any) -> Pending:
    return Pending(action, dict(payload), row or action, tx, None, True)


def _tx(connector: int = 1) -> Tx:
    return Tx(connector, "TAG", ("Energy.Active.Import.Register",))


def _rows(queue: TxQueue) -> list[str]:
    return [f"{e.action}:{e.payload.get('n')}" for e in queue.entries]


@pytest.mark.parametrize(
    ("when_full", "kept", "dropped"),
    [
        (DROP_OLDEST, ["MeterValues:1", "MeterValues:2", "StopTransaction:3"], ["Start"]),
        (DROP_NEWEST, ["StartTransaction:0", "MeterValues:1", "MeterValues:2"], ["Stop"]),
        (
            DROP_METER_VALUES,
            ["StartTransaction:0", "MeterValues:2", "StopTransaction:3"],
            ["MeterValues"],
        ),
    ],
)
def test_a_full_queue_drops_what_the_scenario_says(
    when_full: str, kept: list[str], dropped: list[str]
) -> None:
    queue = TxQueue(3, when_full)
    tx = _tx()
    assert queue.put(_pending("StartTransaction", tx, n=0), head_out=False) == []
    queue.put(_pending("MeterValues", tx, n=1), head_out=False)
    queue.put(_pending("MeterValues", tx, n=2), head_out=False)
    gone = queue.put(_pending("StopTransaction", tx, n=3), head_out=False)
    if when_full == DROP_OLDEST:  # the start went: nothing of its transaction can be sent
        assert tx.lost and [e.action for e in gone][:1] == ["StartTransaction"]
        assert len(queue) == 0 and len(gone) == 4
        return
    assert _rows(queue) == kept
    assert [e.action[: len(dropped[0])] for e in gone] == dropped


def test_the_head_on_the_wire_is_never_dropped_and_starts_and_stops_stay() -> None:
    queue = TxQueue(2, DROP_METER_VALUES)
    one, two = _tx(1), _tx(2)
    queue.put(_pending("MeterValues", one, n=0), head_out=False)
    queue.put(_pending("StopTransaction", one, n=1), head_out=False)
    # The reading at the head is out: it cannot be dropped, and the stop is not a reading.
    gone = queue.put(_pending("StartTransaction", two, n=2), head_out=True)
    assert [e.action for e in gone] == ["StartTransaction"] and two.lost
    assert _rows(queue) == ["MeterValues:0", "StopTransaction:1"]
    later = queue.put(_pending("MeterValues", two, n=3), head_out=True)
    assert [e.payload["n"] for e in later] == [3]  # its start never got in: refused too


def test_a_1_6_start_fills_its_transaction_id_into_what_waits_behind_it() -> None:
    queue = TxQueue(10, DROP_OLDEST)
    tx, other = _tx(1), _tx(2)
    other.tx_id = 7
    queue.put(_pending("StartTransaction", tx), head_out=False)
    queue.put(_pending("MeterValues", tx, transactionId=None), head_out=False)
    queue.put(_pending("MeterValues", other, transactionId=7), head_out=False)
    queue.put(_pending("StopTransaction", tx, transactionId=None), head_out=False)
    start = queue.delivered({"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
    assert start.action == "StartTransaction" and tx.tx_id == 42
    assert [e.payload["transactionId"] for e in queue.entries] == [42, 7, 42]


def test_retries_wait_interval_times_attempts_then_give_up() -> None:
    queue = TxQueue(10, DROP_OLDEST)
    tx = _tx()
    queue.put(_pending("TransactionEvent", tx, row="TransactionEvent(Ended)"), head_out=False)
    queue.put(_pending("TransactionEvent", _tx(2)), head_out=False)
    assert queue.failed(3, 60, T0) == T0 + 60  # after the 1st attempt: 60 s
    assert queue.failed(3, 60, T0 + 60) == T0 + 60 + 120  # after the 2nd: 2 x 60 s
    assert queue.failed(3, 60, T0 + 180) is None  # the 3rd was the last
    gone = queue.give_up()
    assert [e.row for e in gone] == ["TransactionEvent(Ended)"] and gone[0].attempts == 3
    assert len(queue) == 1 and queue.head is not None and queue.head.attempts == 0


def test_a_1_6_start_given_up_takes_its_transaction_with_it() -> None:
    queue = TxQueue(10, DROP_OLDEST)
    tx, other = _tx(1), _tx(2)
    queue.put(_pending("StartTransaction", tx), head_out=False)
    queue.put(_pending("MeterValues", other), head_out=False)
    queue.put(_pending("StopTransaction", tx), head_out=False)
    assert queue.failed(1, 60, T0) is None
    assert [e.action for e in queue.give_up()] == ["StartTransaction", "StopTransaction"]
    assert [e.tx for e in queue.entries] == [other] and tx.lost


# --- chargers offline ----------------------------------------------------------------------------


def _offline(version: str, allow_unknown: bool = True, **config: Any) -> Charger:
    c = charger(version, FAST.model_copy(update=config))
    c.settings = TxSettings.of(c.config, allow_unknown=allow_unknown)
    c.begin(T0)
    c.went_offline(T0)
    return c


def _run_session(c: Charger) -> list[Send]:
    assert c.wake_at is not None
    out = c.on_wake(c.wake_at)
    while c.phase is not Phase.IDLE:
        assert c.wake_at is not None
        out += c.on_wake(c.wake_at)
    return out


def test_a_1_6_session_runs_whole_while_offline_and_its_queue_gets_the_csms_id() -> None:
    c = _offline("1.6")
    out = _run_session(c)
    actions = [s.action for s in out]
    assert "Authorize" not in actions  # nobody to ask: AllowOfflineTxForUnknownId
    tx_messages = [s for s in out if s.tx is not None]
    assert tx_messages[0].action == "StartTransaction"
    assert tx_messages[-1].action == "StopTransaction"
    assert len(tx_messages) == 11  # start, 9 readings (10 minutes, every 60 s), stop
    assert {s.payload.get("transactionId") for s in tx_messages[1:]} == {None}
    assert (c.counts.started, c.counts.completed) == (1, 1)
    queue = TxQueue(100, DROP_METER_VALUES)
    for send in tx_messages:
        queue.put(Pending(send.action, send.payload, send.action, send.tx, None, True), False)
    queue.delivered({"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
    delivered = [e.payload for e in queue.entries]
    assert {p["transactionId"] for p in delivered} == {42}
    for entry in queue.entries:  # valid once the id is in
        valid("1.6", [Send(entry.action, entry.payload)])


def test_offline_an_unknown_tag_charges_only_when_the_setting_allows() -> None:
    c = _offline("1.6", allow_unknown=False)
    assert c.wake_at is not None
    out = c.on_wake(c.wake_at)
    assert [s.payload.get("status") for s in out] == ["Preparing", "Available"]
    assert c.phase is Phase.IDLE and c.counts.started == 0


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_what_waited_for_the_csms_goes_on_when_the_connection_drops(version: str) -> None:
    c = charger(version)
    c.settings = TxSettings.of(c.config, allow_unknown=True)
    c.begin(T0)
    assert c.wake_at is not None
    arrive = c.wake_at
    assert [s.action for s in c.on_wake(arrive)][-1] == "Authorize"
    out = c.went_offline(arrive + 1)  # the Authorize was out: decided offline instead
    assert c.phase is Phase.CHARGING and c.in_transaction
    if version == "1.6":
        assert [s.action for s in out] == ["StartTransaction", "StatusNotification"]
        # online again, the driver stops; the connection drops while the stop waits for its
        # answer: the station does not wait for it, the EV leaves
        c.offline = False
        stop = c.end(("Local", "StopAuthorized", "Local"), arrive + 3)
        assert [s.action for s in stop] == ["StopTransaction"] and c.phase is Phase.STOPPING
        c.went_offline(arrive + 4)
        assert c.phase is Phase.IDLE and c.counts.completed == 1


def test_2_0_1_events_keep_their_seq_no_and_say_offline() -> None:
    c = _offline("2.0.1")
    out = _run_session(c)
    events = [s for s in out if s.action == "TransactionEvent"]
    for event in events:
        c.shapes.mark_offline(event)
    valid("2.0.1", events)
    assert [e.payload["seqNo"] for e in events] == list(range(len(events)))
    assert all(e.payload["offline"] is True for e in events)
    assert {e.payload["eventType"] for e in events} == {"Started", "Updated", "Ended"}


def test_a_late_1_6_start_answer_refusing_the_tag_stops_the_session_still_running() -> None:
    c = _offline("1.6")
    assert c.wake_at is not None
    out = c.on_wake(c.wake_at)
    start = next(s for s in out if s.action == "StartTransaction")
    c.offline = False  # back online; the queue delivers the start and fills in the id
    start.tx.tx_id = 9
    refused = {"transactionId": 9, "idTagInfo": {"status": "Blocked"}}
    out = c.on_answer("StartTransaction", refused, (c.wake_at or T0) + 1)
    assert [s.action for s in out] == ["StopTransaction"]
    assert out[0].payload["reason"] == "DeAuthorized" and out[0].payload["transactionId"] == 9


class _Station:
    """What Delivery needs of a station: a CSMS answering every CALL at once with ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.scenario = Scenario()
        self.tx_open = True
        self.sink = Summary()
        self.id = "CP-1"
        self.answer = answer
        self.sent: list[str] = []

    def send(self, message: Outgoing) -> None:
        self.sent.append(message.action)
        assert message.done is not None
        message.done(self.answer)


def test_a_1_6_start_answered_unusably_takes_its_transaction_with_it() -> None:
    station = _Station(InvalidResponse("invalid StartTransaction response"))
    delivery = Delivery(station)  # type: ignore[arg-type]
    tx, answers = _tx(), []
    station.tx_open = False  # offline: the session's messages wait behind its start
    for action in ("StartTransaction", "MeterValues", "StopTransaction"):
        delivery.put(action, {"transactionId": None}, action, tx, answers.append)
    station.tx_open = True
    delivery.online()
    assert station.sent == ["StartTransaction"]  # nothing sent without the CSMS's id
    assert tx.lost and delivery.pending == 0 and len(answers) == 3
    events = station.sink.stats.delivery_json()
    assert events["StartTransaction"]["delivered"] == 1
    assert events["MeterValues"]["given up"] == events["StopTransaction"]["given up"] == 1
