"""Charging sessions over real sockets against the embedded CSMS: what it receives."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

import orjson
import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from websockets.asyncio.server import ServerConnection

from fleet.csms import TagPolicy
from fleet.metrics.summary import Summary
from fleet.station.charging import Chargers
from fleet.station.core import Station
from fleet.station.sessions import Charger, Phase
from tests.conftest import (
    accepted,
    assert_schema_valid,
    calls,
    csms_running,
    fleet_running,
    make_scenario,
    set_setting,
    wait_until,
)
from tests.station.test_misbehaving_csms import raw_csms


def remote_start(
    version: str, tag: str, remote_start_id: int = 1, anywhere: bool = False, at: int = 0
) -> object:
    """The CSMS starting a session: 1.6 on connector 1 (``anywhere``: none named), 2.0.1 on
    any free EVSE; ``at``: on that connector/EVSE."""
    if version == "1.6":
        connector = at or (None if anywhere else 1)
        return c16.RemoteStartTransaction(id_tag=tag, connector_id=connector)
    token = {"idToken": tag, "type": "Central"}
    return c201.RequestStartTransaction(
        id_token=token, remote_start_id=remote_start_id, evse_id=at or None
    )


def remote_stop(version: str, tx_id: object) -> object:
    if version == "1.6":
        return c16.RemoteStopTransaction(transaction_id=tx_id)
    return c201.RequestStopTransaction(transaction_id=tx_id)


QUICK = {
    "arrivals_per_hour": 3600,
    "plug_in_min": {"min": 0.04, "max": 0.06},
    "meter_interval_s": 1,
}


async def test_a_mixed_fleet_charges_and_the_csms_sees_whole_sessions() -> None:
    scenario = make_scenario(stations={"count": 6, "ocpp": {"1.6": 1, "2.0.1": 1}}, sessions=QUICK)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: all(
                    s.charging and s.charging.chargers[0].counts.completed for s in fleet.stations
                ),
                timeout_s=15,
            )
    assert fleet.summary.failures == []
    assert assert_schema_valid(csms) > 50
    # The CSMS's ledger bills each ended transaction what the station metered (to the rounding
    # of the register on the wire: whole Wh in 1.6's meterStart/meterStop, 0.1 Wh in 2.0.1),
    # and saw no gap, repeat or unknown transaction.
    ledger = csms.transactions
    assert not ledger.unknown and not ledger.restarted
    for station in fleet.stations:
        charger = station.charging.chargers[0]
        billed = [tx for tx in ledger.for_station(station.id) if tx.ended]
        assert len(billed) == charger.counts.completed
        assert sum(tx.energy_wh for tx in billed) == pytest.approx(
            charger.counts.energy_wh, abs=(1 if station.version == "1.6" else 0.1) * len(billed)
        )
        assert all(tx.seq_gaps == tx.duplicates == tx.out_of_order == 0 for tx in billed)
        assert all(tx.meter_values >= 1 for tx in billed)
    # fleet's own session counts say the same, per version.
    stats = fleet.summary.stats.sessions
    for version in ("1.6", "2.0.1"):
        chargers = [s.charging.chargers[0] for s in fleet.stations if s.version == version]
        assert stats[version].started == sum(c.counts.started for c in chargers)
        assert stats[version].completed == sum(c.counts.completed for c in chargers) >= 1
        assert stats[version].energy_wh == pytest.approx(sum(c.delivered_wh for c in chargers))
    for station in fleet.stations:
        counts = station.charging.chargers[0].counts
        if station.version == "1.6":
            starts = [c.message[3] for c in calls(csms, station.id, "StartTransaction")]
            stops = [c.message[3] for c in calls(csms, station.id, "StopTransaction")]
            assert len(stops) >= counts.completed >= 1
            energy = sum(s["meterStop"] for s in stops) - sum(
                s["meterStart"] for s in starts[: len(stops)]
            )
            assert energy == pytest.approx(counts.energy_wh, abs=len(stops) * 2)
        else:
            events = defaultdict(list)
            for c in calls(csms, station.id, "TransactionEvent"):
                payload = c.message[3]
                events[payload["transactionInfo"]["transactionId"]].append(payload)
            ended = [tx for tx in events.values() if tx[-1]["eventType"] == "Ended"]
            assert len(ended) >= 1
            for tx in events.values():
                assert [e["seqNo"] for e in tx] == list(range(len(tx)))
                assert tx[0]["eventType"] == "Started"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_and_stop_run_a_session(version: str) -> None:
    scenario = make_scenario(
        stations={"ocpp": version}, sessions={"start": "remote_only", "meter_interval_s": 1}
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            start = remote_start(version, "REMOTE-1", remote_start_id=5)
            assert (await csms.call(station.id, start)).status == "Accepted"
            charger = station.charging.chargers[0]
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            again = await csms.call(station.id, start)
            assert again.status == "Rejected"  # no free connector
            await asyncio.sleep(1.5)  # a meter value or two
            tx_id = charger.tx.tx_id
            stop = remote_stop(version, tx_id)
            assert (await csms.call(station.id, stop)).status == "Accepted"
            await wait_until(lambda: charger.counts.completed == 1)
    if version == "1.6":
        stop_frame = calls(csms, action="StopTransaction")[-1].message[3]
        assert stop_frame["reason"] == "Remote" and stop_frame["transactionId"] == tx_id
        assert calls(csms, action="MeterValues")
    else:
        events = [c.message[3] for c in calls(csms, action="TransactionEvent")]
        assert events[0]["triggerReason"] == "RemoteStart"
        assert events[0]["transactionInfo"]["remoteStartId"] == 5
        assert events[-1]["triggerReason"] == "RemoteStop"
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_csms_chooses_what_a_transaction_end_reports(version: str) -> None:
    """StopTxnSampledData (2.0.1 SampledDataCtrlr.TxEndedMeasurands) set by the CSMS: the
    transaction's last reading on the wire carries those measurands, the periodic ones the
    sampled data's; 2.0.1's first reading TxStartedMeasurands."""
    aligned = ["Energy.Active.Import.Register", "Power.Active.Import"]
    scenario = make_scenario(
        stations={"ocpp": version},
        sessions={"start": "remote_only", "meter_interval_s": 1, "aligned_measurands": aligned},
    )
    ended = "Energy.Active.Import.Register,Voltage"
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            change = set_setting(
                version, ended, "StopTxnSampledData", "SampledDataCtrlr", "TxEndedMeasurands"
            )
            await csms.call(station.id, change)
            if version == "1.6":  # what the scenario set, as the station reports it
                asked = c16.GetConfiguration(key=["MeterValuesAlignedData"])
                shown = (await csms.call(station.id, asked)).configuration_key[0]["value"]
                assert shown == ",".join(aligned)
            if version == "2.0.1":
                first = "Energy.Active.Import.Register,SoC"
                begin = set_setting(version, first, "TxStartedMeasurands", "SampledDataCtrlr")
                await csms.call(station.id, begin)
            assert (await csms.call(station.id, remote_start(version, "R-1"))).status == "Accepted"
            charger = station.charging.chargers[0]
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            await asyncio.sleep(1.2)  # a periodic reading
            await csms.call(station.id, remote_stop(version, charger.tx.tx_id))
            await wait_until(lambda: charger.counts.completed == 1)
    if version == "1.6":
        last = calls(csms, action="StopTransaction")[-1].message[3]["transactionData"]
        periodic = calls(csms, action="MeterValues")[-1].message[3]["meterValue"]
    else:
        events = [c.message[3] for c in calls(csms, action="TransactionEvent")]
        last, periodic = events[-1]["meterValue"], events[-2]["meterValue"]
        started = events[0]["meterValue"][0]["sampledValue"]
        assert {v.get("measurand") for v in started} == set(first.split(","))
    assert {v.get("measurand") for v in last[0]["sampledValue"]} == set(ended.split(","))
    measurands = {v.get("measurand") for v in periodic[0]["sampledValue"]}
    assert measurands == set(scenario.sessions.measurands)
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_starts_authorised_first_when_the_csms_says_so(version: str) -> None:
    """AuthorizeRemoteTxRequests (2.0.1 AuthCtrlr.AuthorizeRemoteStart) set by the CSMS: a
    remote start sends Authorize first; a tag the CSMS refuses starts no transaction."""
    scenario = make_scenario(stations={"ocpp": version}, sessions={"start": "remote_only"})
    async with csms_running(interval_s=60, tags=TagPolicy(reject=["BAD-*"])) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            change = set_setting(
                version, "true", "AuthorizeRemoteTxRequests", "AuthCtrlr", "AuthorizeRemoteStart"
            )
            await csms.call(station.id, change)
            charger = station.charging.chargers[0]
            refused = await csms.call(station.id, remote_start(version, "BAD-1"))
            assert refused.status == "Accepted"  # the command; the tag is refused after it
            await wait_until(lambda: len(calls(csms, action="Authorize")) == 1)
            await wait_until(lambda: charger.phase is Phase.IDLE)
            started = await csms.call(station.id, remote_start(version, "GOOD-1", 2))
            assert started.status == "Accepted"
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
    actions = [c.message[2] for c in calls(csms) if c.message[2] != "StatusNotification"]
    begin = "StartTransaction" if version == "1.6" else "TransactionEvent"
    assert actions[-3:] == ["Authorize", "Authorize", begin]  # none for the refused tag
    tags = [c.message[3] for c in calls(csms, action="Authorize")]
    key = "idTag" if version == "1.6" else "idToken"
    assert [t[key] if version == "1.6" else t[key]["idToken"] for t in tags] == ["BAD-1", "GOOD-1"]
    assert charger.counts.started == 1
    assert_schema_valid(csms)


async def test_2_0_1_authorisation_and_sampled_data_switched_off_by_the_csms() -> None:
    """SetVariables AuthCtrlr.Enabled and SampledDataCtrlr.Enabled false: a session starts
    without Authorize (even with AuthorizeRemoteStart) and sends no periodic readings;
    GetVariables reports both."""
    sessions = {"start": "remote_only", "meter_interval_s": 1}
    scenario = make_scenario(stations={"ocpp": "2.0.1"}, sessions=sessions)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            changes = [("true", "AuthorizeRemoteStart", "AuthCtrlr")]
            changes += [("false", "Enabled", c) for c in ("AuthCtrlr", "SampledDataCtrlr")]
            for value, variable, component in changes:
                await csms.call(station.id, set_setting("2.0.1", value, variable, component))
            asked = [
                {"component": {"name": c}, "variable": {"name": "Enabled"}}
                for c in ("AuthCtrlr", "SampledDataCtrlr")
            ]
            got = await csms.call(station.id, c201.GetVariables(get_variable_data=asked))
            assert [r["attribute_value"] for r in got.get_variable_result] == ["false", "false"]
            await csms.call(station.id, remote_start("2.0.1", "R-1"))
            charger = station.charging.chargers[0]
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            await asyncio.sleep(1.5)  # a periodic reading were sampled data on
            await csms.call(station.id, remote_stop("2.0.1", charger.tx.tx_id))
            await wait_until(lambda: charger.counts.completed == 1)
    events = [c.message[3]["eventType"] for c in calls(csms, action="TransactionEvent")]
    assert events == ["Started", "Ended"]  # no Updated: sampled data is off
    assert not calls(csms, action="Authorize")  # authorisation is off
    assert_schema_valid(csms)


async def test_a_reading_costs_one_wake_up_one_timer_one_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charger's timer runs on uvloop's millisecond clock and fires up to ~1 ms before the
    wall-clock instant it was set for. Told the wall clock, the charger used to find itself
    early and ask again for the rest: ~6 wake-ups per reading. Every answer armed a new timer
    for the instant the old one was set for, asked the charger for a decision it had nothing
    to decide on, and told the sink the energy of each reading. Now a reading costs one
    wake-up, one timer and one decision; the energy is told every ENERGY_EVERY_S, and all of it
    by the time the station stops."""
    wakes = decisions = reports = 0
    on_wake, decide, sessions_of = Charger.on_wake, Chargers.decide, Summary.sessions

    def woken(self: Charger, now_s: float) -> list[object]:
        nonlocal wakes
        wakes += 1
        return on_wake(self, now_s)

    def decided(self: Chargers, *args: object) -> None:
        nonlocal decisions
        decisions += 1
        decide(self, *args)

    def told(self: Summary, *args: object) -> None:
        nonlocal reports
        reports += 1
        sessions_of(self, *args)

    monkeypatch.setattr(Charger, "on_wake", woken)
    monkeypatch.setattr(Chargers, "decide", decided)
    monkeypatch.setattr(Summary, "sessions", told)
    sessions = {
        "arrivals_per_hour": 3600,
        "start": "plug_first",
        "plug_in_min": {"min": 10, "max": 10},
        "meter_interval_s": 0.1,
    }
    scenario = make_scenario(stations={"ocpp": "1.6", "count": 3}, sessions=sessions)
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await asyncio.sleep(4)
            timers = [station.charging.armed[0] for station in fleet.stations]
            told_while_running = reports
    readings = len(calls(csms, action="MeterValues"))
    assert readings >= 3 * 10  # every station charged for a while
    # Beyond the readings: the arrival and the session's start, per station; and some slack
    # for a loaded machine, where a long loop iteration moves an instant by over KEPT_S. The
    # faults this guards against made ~5 wake-ups, ~2.2 timers, 2 decisions and 1 report per
    # reading.
    assert wakes <= 1.1 * readings + 3 * 3
    assert sum(timers) <= 1.25 * readings + 3 * 6
    assert decisions <= 1.1 * readings + 3 * 6
    # Per station: charging (with the start), then the energy after 5 s at most once.
    assert told_while_running <= 3 * 2
    chargers = [station.charging.chargers[0] for station in fleet.stations]
    energy_wh = fleet.summary.stats.sessions["1.6"].energy_wh
    assert energy_wh == pytest.approx(sum(c.delivered_wh for c in chargers)) and energy_wh > 0
    assert fleet.summary.failures == []


async def test_a_wake_up_due_now_armed_twice_in_one_loop_turn_is_set_again() -> None:
    """uvloop makes a call due now a plain Handle (no when()): arming a charger a second time
    before such a wake-up ran raised AttributeError in the callback that armed it."""
    scenario = make_scenario(stations={"ocpp": "1.6"}, sessions={"arrivals_per_hour": 1})
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None and station.charging.running)
            chargers = station.charging
            charger = chargers.chargers[0]
            overdue = charger.wake_at = station.now() - 1  # woken at once
            chargers._arm(0)
            chargers._arm(0)  # a second decision in the same loop turn
            await wait_until(lambda: charger.wake_at != overdue)  # woken: the driver arrived
            assert charger.phase is not Phase.IDLE
    assert fleet.summary.failures == []


async def test_inoperative_waits_for_the_session_and_unlock_ends_it() -> None:
    scenario = make_scenario(
        stations={"ocpp": "1.6"},
        sessions={"start": "remote_only"},
        responses={"UnlockConnector": "Unlocked"},
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            charger = station.charging.chargers[0]
            start = remote_start("1.6", "REMOTE-1")
            assert (await csms.call(station.id, start)).status == "Accepted"
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            inoperative = c16.ChangeAvailability(connector_id=1, type="Inoperative")
            assert (await csms.call(station.id, inoperative)).status == "Scheduled"
            unlock = c16.UnlockConnector(connector_id=1)
            assert (await csms.call(station.id, unlock)).status == "Unlocked"
            await wait_until(lambda: charger.counts.completed == 1)
            await wait_until(lambda: len(calls(csms, action="StatusNotification")) >= 5)
            assert (await csms.call(station.id, start)).status == "Rejected"  # unavailable
            operative = c16.ChangeAvailability(connector_id=1, type="Operative")
            assert (await csms.call(station.id, operative)).status == "Accepted"
            await wait_until(lambda: len(calls(csms, action="StatusNotification")) >= 6)
    stop = calls(csms, action="StopTransaction")[-1].message[3]
    assert stop["reason"] == "UnlockCommand"
    statuses = [c.message[3]["status"] for c in calls(csms, station.id, "StatusNotification")]
    # boot (0, 1), session, then the scheduled Inoperative applied as the EV leaves
    assert statuses == [
        "Available", "Available", "Preparing", "Charging", "Unavailable", "Available"
    ]  # fmt: skip
    assert fleet.summary.failures == []


async def test_configuration_changes_reach_running_sessions_and_refused_tags() -> None:
    """MeterValueSampleInterval changed mid-session re-times its MeterValues at once; a tag the
    CSMS refuses (fleet csms --reject-tags) ends the transaction while StopTransactionOnInvalidId
    is true and suspends it once the CSMS set the key to false."""
    scenario = make_scenario(
        stations={"ocpp": "1.6", "connectors": 3},
        sessions={"start": "remote_only", "meter_interval_s": 30},
    )
    async with csms_running(interval_s=60, tags=TagPolicy(reject=["BAD-*"])) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            first, second, third = station.charging.chargers

            async def start(tag: str, connector: int) -> None:
                request = c16.RemoteStartTransaction(id_tag=tag, connector_id=connector)
                assert (await csms.call(station.id, request)).status == "Accepted"

            get = c16.GetConfiguration(key=["MeterValueSampleInterval"])
            shown = (await csms.call(station.id, get)).configuration_key
            assert shown == [{"key": "MeterValueSampleInterval", "readonly": False, "value": "30"}]
            await start("GOOD-1", 1)
            await wait_until(lambda: first.phase is Phase.CHARGING and first.tx.tx_id)
            change = c16.ChangeConfiguration(key="MeterValueSampleInterval", value="1")
            assert (await csms.call(station.id, change)).status == "Accepted"
            await wait_until(lambda: len(calls(csms, action="MeterValues")) >= 3, timeout_s=5)

            await start("BAD-1", 2)
            await wait_until(lambda: second.counts.completed == 1)
            change = c16.ChangeConfiguration(key="StopTransactionOnInvalidId", value="false")
            assert (await csms.call(station.id, change)).status == "Accepted"
            await start("BAD-2", 3)
            await wait_until(lambda: third.tx is not None and third.tx.tx_id is not None)
            await wait_until(lambda: third.connector.status.value == "SuspendedEVSE")
    sent = [c for c in calls(csms, action="MeterValues")]
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    assert all(0.7 < gap < 1.5 for gap in gaps[:2]), gaps  # every second, not every 30 s
    stops = [c.message[3] for c in calls(csms, action="StopTransaction")]
    assert [s["reason"] for s in stops if s["idTag"] == "BAD-1"] == ["DeAuthorized"]
    assert not [s for s in stops if s["idTag"] == "BAD-2"]  # suspended, not stopped
    refused = [tx for tx in csms.transactions.items.values() if tx.id_tag == "BAD-2"]
    assert len(refused) == 1 and not refused[0].ended
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_triggered_values_follow_the_answer_and_on_idle_reset_waits(version: str) -> None:
    """TriggerMessage MeterValues (1.6) / TransactionEvent (2.0.1) sends the running
    transaction's values now, after its answer, context Trigger; a 2.0.1 OnIdle Reset is
    Scheduled while a transaction runs and reboots the station once it has ended."""
    scenario = make_scenario(
        stations={"ocpp": version}, sessions={"start": "remote_only", "meter_interval_s": 0}
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            charger = station.charging.chargers[0]
            if version == "1.6":
                trigger = c16.TriggerMessage(requested_message="MeterValues", connector_id=1)
            else:
                trigger = c201.TriggerMessage(requested_message="TransactionEvent")
            start = remote_start(version, "T-1")
            if version == "2.0.1":  # nothing to report without a transaction
                assert (await csms.call(station.id, trigger)).status == "Rejected"
            assert (await csms.call(station.id, start)).status == "Accepted"
            await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)
            assert (await csms.call(station.id, trigger)).status == "Accepted"
            action = "MeterValues" if version == "1.6" else "TransactionEvent"
            await wait_until(lambda: len(calls(csms, action=action)) >= 1 + (version != "1.6"))
            if version == "2.0.1":
                reset = c201.Reset(type="OnIdle")
                assert (await csms.call(station.id, reset)).status == "Scheduled"
                await asyncio.sleep(0.3)
                assert csms.ledger[station.id].connections == 1  # still charging, no reboot
                stop = remote_stop(version, charger.tx.tx_id)
                assert (await csms.call(station.id, stop)).status == "Accepted"
                await wait_until(lambda: csms.ledger[station.id].connections == 2)
    frames = [c.message for c in csms.capture if c.station == station.id]
    answered = max(
        i for i, m in enumerate(frames) if m[0] == 3 and csms.calls_sent[m[1]] == "TriggerMessage"
    )
    triggered = [i for i, m in enumerate(frames) if m[0] == 2 and m[2] == action]
    assert triggered[-1 if version == "1.6" else 1] > answered  # the answer went first
    sent = calls(csms, station.id, action)[-1 if version == "1.6" else 1].message[3]
    assert {v["context"] for m in sent["meterValue"] for v in m["sampledValue"]} == {"Trigger"}
    if version == "1.6":
        assert sent["transactionId"] == charger.tx.tx_id
    else:
        assert sent["triggerReason"] == "Trigger" and sent["eventType"] == "Updated"
        boots = [c.message[3]["reason"] for c in calls(csms, station.id, "BootNotification")]
        assert boots == ["PowerUp", "RemoteReset"]
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


async def test_a_failing_session_decision_is_counted_and_the_station_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in fleet's own session code (injected here) must not end the run silently: it is
    a counted failure with its reason, and the station keeps answering the CSMS."""

    def broken(self: Charger, action: str, answer: object, now_s: float) -> list[object]:
        raise KeyError("transactionId")

    monkeypatch.setattr(Charger, "on_answer", broken)
    scenario = make_scenario(stations={"ocpp": "1.6"}, sessions={"start": "remote_only"})
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            start = remote_start("1.6", "T-1")
            assert (await csms.call(station.id, start)).status == "Accepted"
            await wait_until(lambda: "session error" in fleet.summary.stats.timings)
            beat = c16.TriggerMessage(requested_message="Heartbeat")
            assert (await csms.call(station.id, beat)).status == "Accepted"
    row = fleet.summary.stats.timings["session error"]
    assert row.failures >= 1
    assert ("session error", "KeyError: 'transactionId'") in fleet.summary.stats.reasons
    assert fleet.summary.failure_count >= 1


async def test_a_charging_fleet_stays_clean_while_the_csms_meddles() -> None:
    """Sessions of a mixed fleet while the CSMS sends remote starts and stops, configuration
    changes and triggers at random: no failure, no session error, every frame valid, and a
    ledger with no unknown transaction or seqNo gap."""
    import random

    scenario = make_scenario(stations={"count": 6, "ocpp": {"1.6": 1, "2.0.1": 1}}, sessions=QUICK)
    rng = random.Random()
    answers: list[str] = []

    def command(station: Station) -> object:
        charger = station.charging.chargers[0] if station.charging else None
        tx_id = charger.tx.tx_id if charger and charger.tx and charger.tx.tx_id else None
        v16 = station.version == "1.6"
        pick = rng.randrange(5)
        if pick == 0 and tx_id is not None:
            return remote_stop(station.version, tx_id)
        if pick <= 1:
            return remote_start(station.version, "CSMS-1", remote_start_id=rng.randrange(99))
        if pick == 2:
            seconds = str(rng.choice([1, 2]))
            key, variable = "MeterValueSampleInterval", "TxUpdatedInterval"
            return set_setting(station.version, seconds, key, "SampledDataCtrlr", variable)
        if v16:
            return c16.TriggerMessage(requested_message="MeterValues", connector_id=1)
        return c201.TriggerMessage(
            requested_message=rng.choice(["TransactionEvent", "MeterValues"])
        )

    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(lambda: all(s.charging is not None for s in fleet.stations))
            deadline = asyncio.get_running_loop().time() + 8
            while asyncio.get_running_loop().time() < deadline:
                station = rng.choice(fleet.stations)
                answer = await csms.call(station.id, command(station))
                answers.append(getattr(answer, "status", None) or "answered")
                await asyncio.sleep(0.05)
            await wait_until(
                lambda: all(s.charging.chargers[0].counts.completed for s in fleet.stations),
                timeout_s=15,
            )
    assert len(answers) > 50 and "Accepted" in answers
    assert fleet.summary.failures == []
    assert "session error" not in fleet.summary.stats.timings
    assert assert_schema_valid(csms) > 100
    ledger = csms.transactions
    assert ledger.unknown == {} and ledger.restarted == 0
    assert all(tx.seq_gaps == tx.duplicates == tx.out_of_order == 0 for tx in ledger.items.values())


async def test_a_2_0_1_transaction_the_csms_refuses_in_its_answer_is_stopped() -> None:
    """The CSMS's verdict on a tag can come in a TransactionEvent's answer (idTokenInfo): with
    StopTxOnInvalidId (the default) the station ends the transaction, DeAuthorized. What
    carries that answer back to the charger is wired per message (``heeds_answer_to``)."""
    scenario = make_scenario(
        stations={"ocpp": "2.0.1"}, sessions={"start": "remote_only", "meter_interval_s": 1}
    )
    async with csms_running(interval_s=60, tags=TagPolicy(reject=["BAD-*"])) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            start = remote_start("2.0.1", "BAD-1")
            assert (await csms.call(station.id, start)).status == "Accepted"
            charger = station.charging.chargers[0]
            await wait_until(lambda: charger.counts.completed == 1)
    events = [c.message[3] for c in calls(csms, action="TransactionEvent")]
    assert events[0]["eventType"] == "Started" and events[0]["idToken"]["idToken"] == "BAD-1"
    ended = [e for e in events if e["eventType"] == "Ended"]
    assert len(ended) == 1
    assert ended[0]["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert fleet.summary.failures == []
    assert_schema_valid(csms)


async def test_a_session_start_is_counted_at_once_while_another_connector_charges() -> None:
    """Energy alone reaches the statistics every ENERGY_EVERY_S; a session started or ended is
    told at once, also when the station counts as charging already and the connector told its
    energy a moment ago (its previous session ended just before, its EV left)."""
    scenario = make_scenario(
        stations={"ocpp": "1.6", "connectors": 2},
        sessions={"start": "remote_only", "meter_interval_s": 1},
    )
    async with csms_running(interval_s=60) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            station = fleet.stations[0]
            await wait_until(lambda: station.charging is not None)
            first, second = station.charging.chargers
            sessions = fleet.summary.stats.sessions

            async def start(tag: str, connector: int, charger: Charger) -> None:
                request = c16.RemoteStartTransaction(id_tag=tag, connector_id=connector)
                assert (await csms.call(station.id, request)).status == "Accepted"
                await wait_until(lambda: charger.phase is Phase.CHARGING and charger.tx.tx_id)

            await start("GOOD-1", 1, first)
            await start("GOOD-2", 2, second)
            unlock = c16.UnlockConnector(connector_id=2)  # the session ends, the EV leaves
            assert (await csms.call(station.id, unlock)).status == "Unlocked"
            await wait_until(lambda: second.counts.completed == 1 and second.phase is Phase.IDLE)
            assert sessions["1.6"].completed == 1
            assert fleet.summary.charging["1.6"] == 1  # connector 1 charges still
            await start("GOOD-3", 2, second)
            assert second.counts.started == 2
            assert sessions["1.6"].started == 3  # told with the start, not 5 s later
    assert fleet.summary.failures == []


async def test_a_2_0_1_verdict_in_the_answer_to_a_reading_without_id_token_is_not_acted_on() -> (
    None
):
    """idTokenInfo answers the idToken a TransactionEvent carried (2.0.1: required when the
    request contained one). A CSMS adding an Invalid verdict to the answer of every periodic
    Updated (no idToken in it) does not end the transaction; the same verdict on the Started
    that carried the token does (the test above)."""
    frames: list[dict[str, Any]] = []

    async def csms(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] != 2:
                continue
            action, payload = message[2], message[3]
            answer: dict[str, Any] = {}
            if action == "BootNotification":
                answer = {
                    "currentTime": "2030-01-01T00:00:00Z",
                    "interval": 300,
                    "status": "Accepted",
                }
            elif action == "Authorize":
                answer = {"idTokenInfo": {"status": "Accepted"}}
            elif action == "TransactionEvent":
                frames.append(payload)
                verdict = "Accepted" if "idToken" in payload else "Invalid"
                answer = {"idTokenInfo": {"status": verdict}}
            await ws.send(orjson.dumps([3, message[1], answer]).decode())

    scenario = make_scenario(stations={"ocpp": "2.0.1"}, sessions=QUICK)
    async with raw_csms(csms) as url, fleet_running(scenario, url) as fleet:
        updated = lambda: [f for f in frames if f["eventType"] == "Updated"]  # noqa: E731
        await wait_until(lambda: len(updated()) >= 3, timeout_s=10)
    assert frames[0]["eventType"] == "Started" and "idToken" in frames[0]
    assert not [f for f in frames if f["transactionInfo"].get("stoppedReason") == "DeAuthorized"]
    assert fleet.summary.failures == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_remote_start_on_a_station_without_sessions_of_its_own_reads_its_meter(
    version: str,
) -> None:
    """A fleet with no sessions in its scenario (the default): a remote start makes the
    station's chargers and runs them, so the session sends its readings and ends when its EV
    leaves, as any other (it used to send its start, then nothing)."""
    scenario = make_scenario(
        stations={"ocpp": {version: 1}},
        sessions={"meter_interval_s": 1, "plug_in_min": {"min": 0.05, "max": 0.05}},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        station = fleet.stations[0]
        answer = await csms.call(station.id, remote_start(version, "REMOTE-1"))
        assert answer.status == "Accepted"
        if version == "1.6":
            await wait_until(lambda: calls(csms, station.id, "StopTransaction"))
            readings = calls(csms, station.id, "MeterValues")
        else:

            def kinds() -> list[str]:
                return [
                    c.message[3]["eventType"] for c in calls(csms, station.id, "TransactionEvent")
                ]

            await wait_until(lambda: "Ended" in kinds())
            readings = [kind for kind in kinds() if kind == "Updated"]
    assert len(readings) >= 2  # a reading a second for the 3 s the EV stays
