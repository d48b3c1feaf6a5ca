"""Charging decisions without sockets or sleeps: the generator, the meter, and whole sessions of
both versions driven by a fake clock, every message checked against the ocpp package's schemas."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from fleet import wire
from fleet.scenario_charging import Evse, Sessions
from fleet.station.connectors import Connector, Status
from fleet.station.generator import SessionGenerator
from fleet.station.intents import Send
from fleet.station.meter import Meter
from fleet.station.sessions import Charger, Phase
from fleet.station.transaction import RESET, TxSettings
from fleet.station.v16_tx import TxShapes as Shapes16
from fleet.station.v201_tx import TxShapes as Shapes201

T0 = 1_790_000_000.0  # a fake wall clock, epoch seconds
FAST = Sessions(
    arrivals_per_hour=60,
    plug_in_min={"min": 10, "max": 10},
    meter_interval_s=60,
    soc_start={"min": 0.2, "max": 0.2},
    soc_target={"min": 0.9, "max": 0.9},
)


def charger(
    version: str,
    config: Sessions = FAST,
    evse: Evse | None = None,
    settings: TxSettings | None = None,
) -> Charger:
    gen = SessionGenerator.for_connector(config, "CP-1", 1)
    meter = Meter(evse or Evse(), gen.rng)
    shapes = Shapes16() if version == "1.6" else Shapes201()
    ids = (f"tx-{n}" for n in itertools.count(1))
    return Charger(Connector(1), meter, gen, shapes, lambda: next(ids), settings)


def valid(version: str, sends: list[Send]) -> list[Send]:
    for send in sends:
        wire.validate(version, send.action, "request", send.payload)
    return sends


def test_the_same_seed_gives_the_same_sessions_and_another_station_others() -> None:
    def draws(station: str, seed: int) -> list[Any]:
        config = FAST.model_copy(update={"seed": seed, "plug_in_min": Sessions().plug_in_min})
        gen = SessionGenerator.for_connector(config, station, 1)
        at, out = T0, []
        for _ in range(5):
            at = gen.next_arrival(at)
            out.append((at, gen.demand()))
        return out

    assert draws("CP-1", 1) == draws("CP-1", 1)
    assert draws("CP-1", 1) != draws("CP-2", 1) != draws("CP-1", 2)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(draws("CP-1", 1))]
    assert len(set(gaps)) == len(gaps)  # really random: no two gaps alike
    plugged = {d.plugged_s for _, d in draws("CP-1", 1)}
    assert len(plugged) == 5 and all(30 * 60 <= p <= 240 * 60 for p in plugged)


def test_a_day_profile_puts_no_arrivals_in_hours_of_weight_0() -> None:
    night_only = [1.0 if h < 6 else 0.0 for h in range(24)]
    config = FAST.model_copy(update={"profile": tuple(night_only), "arrivals_per_hour": 4})
    gen = SessionGenerator.for_connector(config, "CP-1", 1)
    at, hours = 1_789_948_800.0, []  # a UTC midnight
    for _ in range(200):
        at = gen.next_arrival(at)
        hours.append(int(at % 86400 // 3600))
    assert set(hours) <= set(range(6)) and len(set(hours)) == 6
    # 4/h on average over the day: 16/h in the six hours that have arrivals
    days = (at - 1_789_948_800.0) / 86400
    assert 200 / days == pytest.approx(96, rel=0.2)


@pytest.mark.parametrize("current", ["AC", "DC"])
def test_the_meter_only_grows_and_power_is_volts_times_amps(current: str) -> None:
    gen = SessionGenerator.for_connector(FAST, "CP-1", 1)
    evse = Evse(current=current, max_power_kw=150)
    meter = Meter(evse, gen.rng)
    demand = gen.demand()
    meter.plug(demand, T0)
    readings = [meter.read(T0 + 60 * n) for n in range(0, 600)]
    energies = [r.energy_wh for r in readings]
    assert all(b >= a for a, b in itertools.pairwise(energies)) and energies[-1] > energies[0]
    conductors = 3 if current == "AC" else 1
    for r in readings:
        assert r.power_w == pytest.approx(conductors * r.voltage_v * r.current_a, rel=1e-9)
    assert readings[-1].soc_percent == pytest.approx(90, abs=0.01)  # stops at the target
    assert readings[-1].power_w == 0
    delivered_kwh = (energies[-1] - energies[0]) / 1000
    assert delivered_kwh == pytest.approx(0.7 * demand.battery_kwh, rel=1e-6)
    if current == "DC":  # the taper: less power at 85 % than at 50 %
        powers = {round(r.soc_percent): r.power_w for r in readings}
        assert 0 < powers[85] < powers[50]


def test_a_1_6_session_from_badge_to_departure() -> None:
    c = charger("1.6")
    c.begin(T0)
    arrive = c.wake_at
    assert arrive is not None and arrive > T0
    out = valid("1.6", c.on_wake(arrive))
    assert [s.action for s in out] == ["StatusNotification", "Authorize"]
    assert out[0].payload["status"] == "Preparing"
    out = valid("1.6", c.on_answer("Authorize", {"idTagInfo": {"status": "Accepted"}}, arrive))
    assert [s.action for s in out] == ["StartTransaction"]
    meter_start = out[0].payload["meterStart"]
    answer = {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}
    out = valid("1.6", c.on_answer("StartTransaction", answer, arrive + 0.1))
    assert [(s.action, s.payload["status"]) for s in out] == [("StatusNotification", "Charging")]
    samples = []
    while c.phase is Phase.CHARGING:
        assert c.wake_at is not None
        out = valid("1.6", c.on_wake(c.wake_at))
        samples += [s for s in out if s.action == "MeterValues"]
    assert len(samples) == 9  # every 60 s of a 10-minute visit
    assert {s.payload["transactionId"] for s in samples} == {42}
    stop = out[-1]
    assert stop.action == "StopTransaction" and stop.payload["reason"] == "EVDisconnected"
    assert stop.payload["meterStop"] - meter_start == pytest.approx(c.counts.energy_wh, abs=1)
    out = valid("1.6", c.on_answer("StopTransaction", {}, c.wake_at or arrive + 600))
    assert [s.payload["status"] for s in out] == ["Available"]
    assert (c.counts.started, c.counts.completed, c.phase) == (1, 1, Phase.IDLE)
    assert c.wake_at is not None and c.wake_at > arrive + 600  # the next driver


def test_an_unknown_tag_stops_the_1_6_transaction_when_the_key_says_so() -> None:
    c = charger("1.6")
    c.begin(T0)
    assert c.wake_at is not None
    c.on_wake(c.wake_at)
    c.on_answer("Authorize", {"idTagInfo": {"status": "Accepted"}}, c.wake_at or T0)
    refused = {"transactionId": 7, "idTagInfo": {"status": "Invalid"}}
    out = valid("1.6", c.on_answer("StartTransaction", refused, T0 + 1))
    assert out[0].action == "StopTransaction" and out[0].payload["reason"] == "DeAuthorized"
    keep = charger("1.6", FAST.model_copy(update={"stop_on_invalid_id": False}))
    keep.begin(T0)
    assert keep.wake_at is not None
    keep.on_wake(keep.wake_at)
    keep.on_answer("Authorize", {"idTagInfo": {"status": "Accepted"}}, T0)
    out = valid("1.6", keep.on_answer("StartTransaction", refused, T0 + 1))
    assert [s.payload.get("status") for s in out] == ["SuspendedEVSE"]


@pytest.mark.parametrize("start", ["badge_first", "plug_first"])
def test_a_2_0_1_transaction_counts_seq_no_from_0_without_gaps(start: str) -> None:
    c = charger("2.0.1", FAST.model_copy(update={"start": start}))
    c.begin(T0)
    assert c.wake_at is not None
    events: list[Send] = []
    out = valid("2.0.1", c.on_wake(c.wake_at))
    events += out
    out = valid("2.0.1", c.on_answer("Authorize", {"idTokenInfo": {"status": "Accepted"}}, T0))
    events += out
    while c.phase is Phase.CHARGING:
        assert c.wake_at is not None
        events += valid("2.0.1", c.on_wake(c.wake_at))
    tx = [e.payload for e in events if e.action == "TransactionEvent"]
    assert [p["seqNo"] for p in tx] == list(range(len(tx)))
    assert {p["transactionInfo"]["transactionId"] for p in tx} == {"tx-1"}
    assert (tx[0]["eventType"], tx[-1]["eventType"]) == ("Started", "Ended")
    first = "Authorized" if start == "badge_first" else "CablePluggedIn"
    assert tx[0]["triggerReason"] == first
    assert tx[-1]["triggerReason"] == "EVDeparted"
    assert tx[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    statuses = [e.payload["connectorStatus"] for e in events if e.action == "StatusNotification"]
    assert statuses == ["Occupied", "Available"]


def test_connector_moves_outside_the_spec_are_refused() -> None:
    connector = Connector(1)
    assert connector.move(Status.PREPARING) is Status.PREPARING
    assert connector.move(Status.PREPARING) is None
    connector.move(Status.CHARGING)
    with pytest.raises(ValueError, match="Charging -> Preparing"):
        connector.move(Status.PREPARING)


def _charging(version: str, config: Sessions = FAST) -> Charger:
    """A charger in a running session (1.6: transaction 42), at its first arrival."""
    c = charger(version, config)
    c.begin(T0)
    assert c.wake_at is not None
    arrive = c.wake_at
    c.on_wake(arrive)
    accepted = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    c.on_answer("Authorize", accepted, arrive)
    if version == "1.6":
        c.on_answer("StartTransaction", {"transactionId": 42, **accepted}, arrive)
    assert c.phase is Phase.CHARGING
    return c


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_clock_aligned_readings_fall_on_the_interval_s_multiples(version: str) -> None:
    c = _charging(version, FAST.model_copy(update={"clock_aligned_s": 120, "meter_interval_s": 0}))
    clock = []
    while c.phase is Phase.CHARGING:
        assert c.wake_at is not None
        at = c.wake_at
        for send in valid(version, c.on_wake(at)):
            values = send.payload.get("meterValue") or []
            contexts = {v["context"] for m in values for v in m["sampledValue"]}
            if contexts == {"Sample.Clock"}:
                clock.append(at)
                if version == "2.0.1":
                    assert send.payload["triggerReason"] == "MeterValueClock"
    assert len(clock) == 5  # a 10-minute visit holds five 2-minute marks
    assert all(at % 120 == 0 for at in clock)


ENERGY = "Energy.Active.Import.Register"


def _measurands(send: Send) -> tuple[str, set[str]]:
    """(the readings' context, their measurands) in a message that carries one reading."""
    payload = send.payload
    values = (payload.get("meterValue") or payload.get("transactionData"))[0]["sampledValue"]
    contexts = {v["context"] for v in values}
    assert len(contexts) == 1
    return contexts.pop(), {v.get("measurand", ENERGY) for v in values}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_each_reading_carries_the_measurands_its_configuration_names(version: str) -> None:
    """Periodic readings MeterValuesSampledData; clock-aligned ones MeterValuesAlignedData; a
    transaction's last StopTxnSampledData (2.0.1 TxEndedMeasurands) and, in 2.0.1, its first
    TxStartedMeasurands: by default the energy register only, as the keys' defaults say."""
    config = FAST.model_copy(update={"clock_aligned_s": 120})
    c = charger(version, config)
    c.settings.aligned = (ENERGY, "Voltage")  # as a change of the key leaves it
    c.begin(T0)
    assert c.wake_at is not None
    arrive = c.wake_at
    sends = c.on_wake(arrive)
    accepted = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    sends += c.on_answer("Authorize", accepted, arrive)
    if version == "1.6":
        sends += c.on_answer("StartTransaction", {"transactionId": 42, **accepted}, arrive)
    while c.phase is Phase.CHARGING:
        assert c.wake_at is not None
        sends += c.on_wake(c.wake_at)
    seen: dict[str, set[frozenset[str]]] = {}
    for send in valid(version, sends):
        if send.payload.get("meterValue") or send.payload.get("transactionData"):
            context, measurands = _measurands(send)
            seen.setdefault(context, set()).add(frozenset(measurands))
    sampled = frozenset(config.measurands)
    expected = {
        "Sample.Periodic": {sampled},
        "Sample.Clock": {frozenset({ENERGY, "Voltage"})},
        "Transaction.End": {frozenset({ENERGY})},
    }
    if version == "2.0.1":
        expected["Transaction.Begin"] = {frozenset({ENERGY})}
    assert seen == expected


def test_the_reading_keys_are_read_from_the_station_configuration() -> None:
    changed = {
        "MeterValuesAlignedData": f"{ENERGY},Voltage",
        "StopTxnSampledData": "Power.Active.Import",
        "TxStartedMeasurands": "SoC,Current.Import",
    }
    settings = TxSettings.of(FAST, changed)
    assert settings.aligned == (ENERGY, "Voltage")
    assert settings.end == ("Power.Active.Import",)
    assert settings.begin == ("SoC", "Current.Import")
    assert TxSettings.of(FAST).aligned == TxSettings.of(FAST).end == (ENERGY,)
    scenario = FAST.model_copy(update={"aligned_measurands": (ENERGY, "Power.Active.Import")})
    assert TxSettings.of(scenario).aligned == (ENERGY, "Power.Active.Import")
    assert TxSettings.of(scenario, changed).aligned == (ENERGY, "Voltage")  # the CSMS's wins


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_remote_start_is_authorised_first_when_the_station_is_told_to(version: str) -> None:
    """AuthorizeRemoteTxRequests (2.0.1 AuthorizeRemoteStart): Authorize before the start,
    which keeps its RemoteStart reason and id; a refused tag starts nothing."""
    config = FAST.model_copy(update={"start": "remote_only", "authorize_remote_starts": True})
    accepted = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    refused = {"idTagInfo": {"status": "Invalid"}, "idTokenInfo": {"status": "Invalid"}}
    c = charger(version, config)
    c.begin(T0)
    sent = valid(version, c.remote_start("REMOTE-1", T0 + 5, 9))
    assert [s.action for s in sent] == ["StatusNotification", "Authorize"]
    assert c.phase is Phase.AUTHORIZING and c.tx is None
    started = valid(version, c.on_answer("Authorize", accepted, T0 + 5))
    start = next(s for s in started if s.action in ("StartTransaction", "TransactionEvent"))
    if version == "1.6":
        assert start.payload["idTag"] == "REMOTE-1"
    else:
        assert start.payload["triggerReason"] == "RemoteStart"
        assert start.payload["transactionInfo"]["remoteStartId"] == 9
        assert start.payload["idToken"]["idToken"] == "REMOTE-1"
    other = charger(version, config)
    other.begin(T0)
    other.remote_start("REMOTE-2", T0 + 5, 10)
    sent = valid(version, other.on_answer("Authorize", refused, T0 + 5))
    assert [s.action for s in sent] == ["StatusNotification"] and other.phase is Phase.IDLE
    assert other.tx is None and other.connector.status is Status.AVAILABLE
    plain = charger(version, FAST.model_copy(update={"start": "remote_only"}))
    plain.begin(T0)
    sent = plain.remote_start("REMOTE-3", T0 + 5, 11)
    assert "Authorize" not in [s.action for s in sent]  # by default: started at once


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("authorize_remote", [False, True])
def test_a_driver_who_starts_from_an_app_waits_plugged_in_for_the_remote_start(
    version: str, authorize_remote: bool
) -> None:
    """sessions.start plug_then_remote: the driver plugs in and starts from an app. 1.6 waits
    in Preparing and starts with the remote tag; 2.0.1 is F01: the cable Started the
    transaction, the remote start goes on with it (Updated, RemoteStart, idToken and
    remoteStartId). Nobody badges; without a remote start the driver unplugs when due."""
    config = FAST.model_copy(
        update={"start": "plug_then_remote", "authorize_remote_starts": authorize_remote}
    )
    accepted = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    c = charger(version, config)
    c.begin(T0)
    arrival = c.wake_at
    assert arrival is not None
    sent = valid(version, c.on_wake(arrival))
    cable = [] if version == "1.6" else ["TransactionEvent"]
    assert [s.action for s in sent] == ["StatusNotification", *cable]  # no Authorize
    assert c.phase is Phase.PLUGGED and c.wake_at == arrival + 600  # plugged in for 10 min
    started_id = None if c.tx is None else c.tx.tx_id
    sent = valid(version, c.remote_start("APP-1", arrival + 5, 42))
    if authorize_remote:
        assert [s.action for s in sent] == ["Authorize"]
        sent = valid(version, c.on_answer("Authorize", accepted, arrival + 6))
    if version == "1.6":
        (start,) = [s for s in sent if s.action == "StartTransaction"]
        assert start.payload["idTag"] == "APP-1"
        answer = {"transactionId": 7, **accepted}
        sent = valid(version, c.on_answer("StartTransaction", answer, arrival + 7))
        assert [s.payload["status"] for s in sent] == ["Charging"]
    else:
        (update,) = [s.payload for s in sent if s.action == "TransactionEvent"]
        assert (update["eventType"], update["triggerReason"]) == ("Updated", "RemoteStart")
        assert update["idToken"]["idToken"] == "APP-1"
        info = update["transactionInfo"]
        assert (info["transactionId"], info["remoteStartId"]) == (started_id, 42)
        assert info["chargingState"] == "Charging"
    assert c.phase is Phase.CHARGING
    # Another driver, whose app start never comes, leaves when due (Preparing to Available).
    other = charger(version, config)
    other.begin(T0)
    arrival = other.wake_at
    assert arrival is not None
    other.on_wake(arrival)
    assert other.on_wake(arrival + 300) == [] and other.phase is Phase.PLUGGED
    sent = valid(version, other.on_wake(arrival + 600))
    statuses = [s.payload.get("status", s.payload.get("connectorStatus")) for s in sent
                if s.action == "StatusNotification"]  # fmt: skip
    assert statuses == ["Available"] and other.phase is Phase.IDLE
    if version == "2.0.1":  # the transaction the cable started ends with it
        (ended,) = [s.payload for s in sent if s.action == "TransactionEvent"]
        assert ended["eventType"] == "Ended"
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert other.counts.completed == (1 if version == "2.0.1" else 0)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_reset_ends_a_transaction_that_has_begun_but_does_not_charge_yet(version: str) -> None:
    """1.6 with StartTransaction unanswered; 2.0.1 Started by the cable (plug first) with its
    Authorize out: a Reset (or an unlock, a remote stop) ends it too, not only one charging."""
    config = FAST.model_copy(update={"start": "plug_first"})
    c = charger(version, config)
    c.begin(T0)
    assert c.wake_at is not None
    at = c.wake_at
    c.on_wake(at)
    if version == "1.6":
        c.on_answer("Authorize", {"idTagInfo": {"status": "Accepted"}}, at)
        assert c.phase is Phase.STARTING and c.tx is not None and c.tx.tx_id is None
    else:
        assert c.phase is Phase.AUTHORIZING and c.tx is not None and c.tx.started
        assert c.matches(c.tx.tx_id)  # a RequestStopTransaction finds it
    sent = c.end(RESET, at + 1)
    assert c.end(RESET, at + 1) == []  # once
    if version == "1.6":  # its StopTransaction waits for the start's id (the queue fills it)
        (stop,) = [s.payload for s in sent if s.action == "StopTransaction"]
        assert stop["reason"] == "SoftReset" and stop["transactionId"] is None
        assert c.phase is Phase.STOPPING
    else:
        (ended,) = [s.payload for s in valid(version, sent) if s.action == "TransactionEvent"]
        assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "ResetCommand")
        assert c.phase is Phase.IDLE and c.tx is None


def test_2_0_1_enabled_flags_switch_readings_and_authorisation_off() -> None:
    config = FAST.model_copy(update={"clock_aligned_s": 120})
    off = {"SampledDataEnabled": "false", "AlignedDataEnabled": "false", "AuthEnabled": "false"}
    settings = TxSettings.of(config, off)
    assert (settings.meter_interval_s, settings.clock_aligned_s, settings.authorize) == (
        0,
        0,
        False,
    )
    on = TxSettings.of(config)
    assert (on.meter_interval_s, on.clock_aligned_s, on.authorize) == (60, 120, True)
    c = charger("2.0.1", config, settings=settings)
    c.begin(T0)
    sends: list[Send] = []
    while not any(s.payload.get("eventType") == "Ended" for s in sends):
        assert c.wake_at is not None and len(sends) < 50
        sends += valid("2.0.1", c.on_wake(c.wake_at))
    actions = [
        (s.action, s.payload.get("eventType")) for s in sends if s.action != "StatusNotification"
    ]
    assert actions == [("TransactionEvent", "Started"), ("TransactionEvent", "Ended")]


def test_a_new_sample_interval_applies_to_the_running_session_at_once() -> None:
    c = _charging("1.6")
    assert c.wake_at is not None
    changed_at = c.wake_at - 30  # half-way to the first 60 s sample
    c.settings.meter_interval_s = 10
    c.reconfigure(changed_at)
    assert c.wake_at == changed_at + 10
    times = []
    for _ in range(3):
        assert c.wake_at is not None
        at = c.wake_at
        if any(s.action == "MeterValues" for s in c.on_wake(at)):
            times.append(at)
    assert [round(b - a, 6) for a, b in itertools.pairwise([changed_at, *times])] == [10] * 3


def test_transaction_settings_are_checked_before_they_are_taken() -> None:
    from fleet.station.settings import check_change

    assert check_change("MeterValuesSampledData", "Voltage, SoC") == ("Accepted", "Voltage,SoC")
    assert check_change("MeterValuesSampledData", "Temperature")[0] == "Rejected"
    assert check_change("StopTransactionOnInvalidId", "maybe")[0] == "Rejected"
    assert check_change("TxStartPoint", "EVConnected") == ("Accepted", "EVConnected")
    assert check_change("TxStartPoint", "EnergyTransfer")[0] == "Rejected"
    settings = TxSettings.of(FAST, {"MeterValuesSampledData": "SoC", "TxStartPoint": "EVConnected"})
    assert settings.measurands == ("SoC",) and settings.start_on_plug
    assert settings.meter_interval_s == FAST.meter_interval_s  # unchanged keys: the scenario's


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_idle_connector_reports_clock_aligned_values_without_a_transaction(
    version: str,
) -> None:
    c = charger(version, FAST.model_copy(update={"start": "remote_only", "clock_aligned_s": 300}))
    c.settings.aligned = (ENERGY, "Voltage", "SoC")
    c.begin(T0 + 1)
    marks = []
    for _ in range(3):
        at = c.next_wake
        assert at is not None and at % 300 == 0
        out = valid(version, c.on_wake(at))
        assert [s.action for s in out] == ["MeterValues"]  # no driver arrives: remote only
        payload = out[0].payload
        assert "transactionId" not in payload
        values = payload["meterValue"][0]["sampledValue"]
        assert {v["context"] for v in values} == {"Sample.Clock"}
        measurands = {v.get("measurand", ENERGY) for v in values}
        assert measurands == {ENERGY, "Voltage"}  # no EV, no state of charge
        marks.append(at)
    assert marks == [marks[0], marks[0] + 300, marks[0] + 600] and c.phase is Phase.IDLE


def test_readings_that_could_not_be_taken_on_time_are_skipped_and_counted() -> None:
    from fleet.station.sampling import Sampling

    sampling = Sampling(TxSettings.of(FAST.model_copy(update={"clock_aligned_s": 900})))
    sampling.start(T0)
    assert sampling.next_sample == T0 + 60 and sampling.next_clock % 900 == 0
    assert not sampling.periodic_due(T0 + 59.9)
    assert sampling.periodic_due(T0 + 60 + 3.5 * 60)  # woken 3.5 intervals late
    assert sampling.missed == 3 and sampling.next_sample == T0 + 60 + 4 * 60
    clock = sampling.next_clock
    assert sampling.clock_due(clock + 1) and sampling.next_clock == clock + 900
    assert sampling.missed == 3  # on time: nothing more missed
    # The next wake-up: the earliest due reading, or sooner (the EV leaving) if asked.
    assert sampling.first_due(True, None) == min(T0 + 300, clock + 900)
    assert sampling.first_due(True, T0 + 1) == T0 + 1
    assert sampling.first_due(False, None) == clock + 900  # outside a transaction: the clock's
    assert sampling.first_due(False, clock + 901) == clock + 900
    off = Sampling(TxSettings.of(FAST.model_copy(update={"meter_interval_s": 0})))
    off.start(T0)
    assert off.first_due(True, None) is None and off.first_due(True, T0 + 5) == T0 + 5


def _phases(version: str) -> list[Charger]:
    """A charger in each phase of a session (fresh ones: each is changed by what follows)."""
    accepted = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    out = []
    for step in range(6):
        c = charger(version)
        c.begin(T0)
        if step >= 1:  # the driver arrives and badges: authorising
            assert c.wake_at is not None
            c.on_wake(c.wake_at)
        if step >= 2:  # accepted: 1.6 waits for its transactionId, 2.0.1 charges
            c.on_answer("Authorize", accepted, T0 + 1)
        if step >= 3 and version == "1.6":
            c.on_answer("StartTransaction", {"transactionId": 42, **accepted}, T0 + 2)
        if step >= 4:  # stopped locally: 1.6 waits for the answer, 2.0.1 is parked
            c.stop_by_driver(T0 + 3)
        if step >= 5 and version == "1.6":
            c.on_answer("StopTransaction", {}, T0 + 4)
        out.append(c)
    assert {c.phase for c in out} >= {Phase.IDLE, Phase.AUTHORIZING, Phase.CHARGING}
    return out


def _state(c: Charger) -> tuple[object, ...]:
    tx = None if c.tx is None else dataclasses.replace(c.tx)
    counts = dataclasses.replace(c.counts)
    meter = (c.meter.register_wh, c.meter.soc, c.meter.plugged)
    return c.phase, c.wake_at, c.demand, tx, counts, c.connector.status, meter, c.offline


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_answer_a_charger_does_not_heed_changes_nothing(version: str) -> None:
    """The loop side asks a charger for a decision on an answer only when ``heeds`` says it
    could act on it: whatever it does not heed must leave it as it was, in every phase."""
    answers = [
        None,
        {},
        {"status": "Accepted"},
        {"idTagInfo": {"status": "Invalid"}},
        {"idTagInfo": {"status": "Accepted"}, "transactionId": 9},
        {"idTokenInfo": {"status": "Invalid"}},
        {"idTokenInfo": {"status": "Accepted"}},
    ]
    actions = ["Authorize", "StartTransaction", "StopTransaction", "MeterValues"]
    actions += ["StatusNotification", "TransactionEvent", "Heartbeat"]
    ignored = 0
    for c in _phases(version):
        for action, answer in itertools.product(actions, answers):
            if Charger.heeds(action, answer):
                continue
            ignored += 1
            before = _state(c)
            assert c.on_answer(action, answer, T0 + 10) == [], (c.phase, action, answer)
            assert _state(c) == before, (c.phase, action, answer)
    # MeterValues, StatusNotification, Heartbeat; a TransactionEvent's without idTokenInfo.
    assert ignored == 6 * (3 * len(answers) + 5)
    assert not Charger.heeds("TransactionEvent", {}) and not Charger.heeds("MeterValues", None)
