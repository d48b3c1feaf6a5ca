"""Outages over real sockets: a CSMS stopped mid-session and started again on the same port gets
every transaction message the stations made meanwhile, in order (2.0.1 flagged offline, seqNo
continuous; 1.6 starts answered on replay and their transaction's messages carrying the new id);
a CSMS that answers CallError gets the message again per the retry settings, then a counted
give-up."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.csms import Csms
from fleet.metrics.sample import (
    DELIVERY_GAVE_UP,
    DELIVERY_QUEUED,
    DELIVERY_REPLAYED,
    DELIVERY_RESENT,
    DELIVERY_RETRIED,
)
from fleet.station.core import Station
from fleet.station.sessions import Phase
from tests.conftest import accepted, calls, csms_running, fleet_running, make_scenario, wait_until
from tests.station.test_charging import QUICK, remote_start, remote_stop

TX_ACTIONS = ("StartTransaction", "StopTransaction", "TransactionEvent")


def _tx_calls(csms: Csms, station: str) -> list[list[Any]]:
    """The station's transaction messages as the CSMS received them, in order."""
    out = []
    for c in calls(csms, station):
        message = c.message
        if message[2] in TX_ACTIONS or (
            message[2] == "MeterValues" and "transactionId" in message[3]
        ):
            out.append(message)
    return out


def _stamp(message: list[Any]) -> str:
    payload = message[3]
    if message[2] == "MeterValues":
        return str(payload["meterValue"][0]["timestamp"])
    return str(payload["timestamp"])


def _charging(station: Station) -> bool:
    """A transaction runs on connector 1 with its id known."""
    charger = station.charging.chargers[0] if station.charging else None
    return charger is not None and charger.phase is Phase.CHARGING


def _pending(station: Station) -> int:
    return 0 if station.outbound is None else station.outbound.pending


async def test_a_csms_restarted_mid_session_gets_every_queued_message_in_order() -> None:
    scenario = make_scenario(
        stations={"count": 4, "ocpp": {"1.6": 1, "2.0.1": 1}},
        # sessions of 1.2 to 1.8 s, about 1 s apart: several start and end in the outage
        sessions={**QUICK, "plug_in_min": {"min": 0.02, "max": 0.03}},
        reconnect={"min_s": 0.2, "max_s": 0.3},
    )
    first = Csms(capture=True, interval_s=60)
    await first.start("127.0.0.1", 0)
    port = urlsplit(first.url).port
    second = Csms(capture=True, interval_s=60)
    second._transaction_id = 1000  # a restarted CSMS does not hand out its old ids again
    async with fleet_running(scenario, first.url) as fleet:
        await accepted(fleet)
        await wait_until(lambda: all(s.charging and s.charging.busy for s in fleet.stations), 10)
        await first.stop()
        down_at = time.time()
        await asyncio.sleep(4)  # sessions go on: readings, stops, new starts, all queued
        queued = {s.id: _pending(s) for s in fleet.stations}
        assert all(n >= 2 for n in queued.values()), queued
        up_at = time.time()  # messages made from here on may be made online again
        await second.start("127.0.0.1", port or 0)
        await wait_until(lambda: all(_pending(s) == 0 for s in fleet.stations), 10)
        await accepted(fleet)
        stats = fleet.summary.stats
    await second.stop()
    delivery = stats.delivery
    replayed = sum(events[DELIVERY_REPLAYED] for events in delivery.values())
    assert replayed >= sum(queued.values())
    assert sum(events[DELIVERY_QUEUED] for events in delivery.values()) == replayed
    replayed_ids: set[int] = set()
    for station in fleet.stations:
        before, after = _tx_calls(first, station.id), _tx_calls(second, station.id)
        sent = before + after
        stamps = [_stamp(m) for m in sent]
        assert stamps == sorted(stamps), f"{station.id}: out of order"
        # Made during the outage (sessions go on after the reconnect too, made online).
        made_offline = [m for m in after if _iso(down_at) < _stamp(m) < _iso(up_at)]
        assert made_offline, f"{station.id}: nothing made offline reached the CSMS"
        if station.version == "2.0.1":
            seqs: dict[str, list[int]] = defaultdict(list)
            for m in sent:
                seqs[m[3]["transactionInfo"]["transactionId"]].append(m[3]["seqNo"])
            for tx_id, numbers in seqs.items():
                unique = list(dict.fromkeys(numbers))  # the one out at the cut may come twice
                assert unique == list(range(len(unique))), (tx_id, numbers)
                assert len(numbers) - len(unique) <= 1
            assert all(m[3].get("offline") is True for m in made_offline)
            assert not any(m[3].get("offline") for m in before)
        else:
            started = [m for m in after if m[2] == "StartTransaction"]
            assert started, f"{station.id}: no start made offline"
            given = {r.tx_id for r in second.transactions.for_station(station.id)}
            carried = {m[3]["transactionId"] for m in after if m[2] != "StartTransaction"}
            # Every message of a session started offline carries the id the CSMS gave on replay.
            assert {i for i in carried if i > 1000} <= given
            assert None not in carried
            replayed_ids |= {i for i in carried if i > 1000}
    assert replayed_ids, "no 1.6 session started offline sent anything after its start"


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s))


async def test_a_message_answered_with_call_errors_is_retried_then_given_up() -> None:
    scenario = make_scenario(
        stations={"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}},
        sessions={"start": "remote_only"},
        offline={"message_attempts": 3, "attempt_interval_s": 1},
    )
    ended = ("StopTransaction", "TransactionEvent")
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        one, two = sorted(fleet.stations, key=lambda s: s.version)  # 1.6, 2.0.1
        attempts = c201.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                    "attributeValue": "2",
                }
            ]
        )
        assert (await csms.call(two.id, attempts)).set_variable_result[0][
            "attribute_status"
        ] == "Accepted"
        for station in (one, two):
            answer = await csms.call(station.id, remote_start(station.version, "TAG-1"))
            assert answer.status == "Accepted"
        await wait_until(lambda: all(_charging(s) for s in fleet.stations))
        csms.error_on = frozenset(ended)
        for station in (one, two):
            tx_id = station.charging.chargers[0].tx.tx_id if station.charging else None
            await csms.call(station.id, remote_stop(station.version, tx_id))
        await wait_until(lambda: not any(s.charging and s.charging.busy for s in fleet.stations))
        await wait_until(lambda: _pending(one) == _pending(two) == 0, timeout_s=6)
        stats = fleet.summary.stats
    stops = calls(csms, one.id, "StopTransaction")
    assert len(stops) == 3  # 1.6: its three attempts, 1 s then 2 s apart
    gaps = [b.at - a.at for a, b in itertools.pairwise(stops)]
    assert 0.9 < gaps[0] < 1.5 and 1.9 < gaps[1] < 2.5, gaps
    ends = [
        c for c in calls(csms, two.id, "TransactionEvent") if c.message[3]["eventType"] == "Ended"
    ]
    assert len(ends) == 2  # 2.0.1: MessageAttempts set to 2 by the CSMS
    assert len({c.message[3]["seqNo"] for c in ends}) == 1  # the same message again
    assert stats.delivery["StopTransaction"][DELIVERY_RETRIED] == 2
    assert stats.delivery["StopTransaction"][DELIVERY_GAVE_UP] == 1
    assert stats.delivery["TransactionEvent(Ended)"][DELIVERY_RETRIED] == 1
    assert stats.delivery["TransactionEvent(Ended)"][DELIVERY_GAVE_UP] == 1


async def test_a_retry_that_gets_through_is_delivered_once_and_nothing_is_given_up() -> None:
    scenario = make_scenario(
        stations={"ocpp": "1.6"},
        sessions={"start": "remote_only"},
        offline={"message_attempts": 5, "attempt_interval_s": 1},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        (station,) = fleet.stations
        await csms.call(station.id, c16.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
        await wait_until(lambda: _charging(station))
        csms.error_on = frozenset({"StopTransaction"})
        tx_id = station.charging.chargers[0].tx.tx_id if station.charging else None
        await csms.call(station.id, c16.RemoteStopTransaction(transaction_id=tx_id))
        await wait_until(lambda: len(calls(csms, station.id, "StopTransaction")) == 1)
        csms.error_on = frozenset()
        await wait_until(lambda: _pending(station) == 0, timeout_s=4)
        stats = fleet.summary.stats
    assert len(calls(csms, station.id, "StopTransaction")) == 2
    assert stats.delivery["StopTransaction"][DELIVERY_RETRIED] == 1
    assert stats.delivery["StopTransaction"][DELIVERY_GAVE_UP] == 0
    billed = [tx for tx in csms.transactions.for_station(station.id) if tx.ended]
    assert len(billed) == 1


async def test_a_message_out_when_the_connection_drops_goes_again_after_the_boot() -> None:
    scenario = make_scenario(
        stations={"count": 2, "ocpp": {"1.6": 1, "2.0.1": 1}}, sessions={"start": "remote_only"}
    )
    hang_up = ("StopTransaction", "TransactionEvent")
    async with (
        csms_running(interval_s=300, hang_up_on=hang_up) as csms,
        fleet_running(scenario, csms.url) as fleet,
    ):
        await accepted(fleet)
        v16, v201 = sorted(fleet.stations, key=lambda s: s.version)
        for station in (v16, v201):
            answer = await csms.call(station.id, remote_start(station.version, "TAG-1"))
            assert answer.status == "Accepted"
        # 2.0.1: its Started was received, then the CSMS hung up; it goes again after the boot
        await wait_until(lambda: len(calls(csms, v201.id, "BootNotification")) == 2)
        await wait_until(lambda: _charging(v16) and _charging(v201) and _pending(v201) == 0)
        tx_id = v16.charging.chargers[0].tx.tx_id if v16.charging else None
        await csms.call(v16.id, c16.RemoteStopTransaction(transaction_id=tx_id))
        await wait_until(lambda: not _charging(v16) and _pending(v16) == 0, timeout_s=5)
        await wait_until(lambda: any(t.ended for t in csms.transactions.for_station(v16.id)))
        delivery = fleet.summary.stats.delivery
    assert delivery["StopTransaction"][DELIVERY_RESENT] == 1
    assert delivery["TransactionEvent(Started)"][DELIVERY_RESENT] == 1
    assert not any(events[DELIVERY_RETRIED] for events in delivery.values())
    assert [c.message[2] for c in calls(csms, v16.id, "StopTransaction")] == ["StopTransaction"] * 2
    assert len(calls(csms, v16.id, "BootNotification")) == 2
    (ended,) = csms.transactions.for_station(v16.id)
    assert ended.ended and ended.tx_id == tx_id
    started = [c.message[3] for c in calls(csms, v201.id, "TransactionEvent")]
    assert [(e["eventType"], e["seqNo"]) for e in started[:2]] == [("Started", 0), ("Started", 0)]
    (running,) = csms.transactions.for_station(v201.id)
    assert running.seq_gaps == running.duplicates == running.out_of_order == 0


async def test_a_message_never_answered_is_sent_again_per_the_attempts_then_given_up() -> None:
    scenario = make_scenario(
        stations={"ocpp": "1.6"},
        csms={"call_timeout_s": 0.3},
        sessions={"start": "remote_only"},
        offline={"message_attempts": 3, "attempt_interval_s": 1},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        (station,) = fleet.stations
        await csms.call(station.id, c16.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
        await wait_until(lambda: _charging(station))
        csms.silent_on = frozenset({"StopTransaction"})
        tx_id = station.charging.chargers[0].tx.tx_id if station.charging else None
        await csms.call(station.id, c16.RemoteStopTransaction(transaction_id=tx_id))
        await wait_until(lambda: _pending(station) == 0, timeout_s=6)
        stats = fleet.summary.stats
        ended = not _charging(station)
    stops = calls(csms, station.id, "StopTransaction")
    assert len(stops) == 3 and len({c.message[1] for c in stops}) == 3  # new message ids
    gaps = [b.at - a.at for a, b in itertools.pairwise(stops)]
    assert 1.2 < gaps[0] < 1.7 and 2.2 < gaps[1] < 2.7, gaps  # timeout + 1 s, timeout + 2 s
    assert stats.delivery["StopTransaction"][DELIVERY_RETRIED] == 2
    assert stats.delivery["StopTransaction"][DELIVERY_GAVE_UP] == 1
    assert stats.timings.get("StopTransaction") is None  # a wire row, in the summary's rows
    assert fleet.summary.rows["StopTransaction"].failures == 3  # each a timeout
    assert ended
