"""Connector faults without sockets or sleeps (scenario ``faults``): when they strike and clear,
seeded; what a fault does to a connector and its session in both versions, driven by a fake
clock, every message checked against the ocpp package's schemas."""

from __future__ import annotations

import itertools
import statistics

import pytest

from fleet.scenario_charging import Evse
from fleet.scenario_faults import Faults
from fleet.station.connectors import Connector, Status
from fleet.station.faults import RETRY_S, FaultPlan
from fleet.station.generator import SessionGenerator
from fleet.station.meter import Meter
from fleet.station.sessions import FaultyCharger, Phase
from fleet.station.transaction import UNLOCKED
from fleet.station.v16_tx import TxShapes as Shapes16
from fleet.station.v201_tx import TxShapes as Shapes201
from tests.station.test_sessions import FAST, T0, valid

ACCEPTED = {"idTagInfo": {"status": "Accepted"}}


def faulty(version: str, faults: Faults, first_at: float) -> FaultyCharger:
    """A charger of FAST sessions whose first fault strikes at ``first_at``."""
    gen = SessionGenerator.for_connector(FAST, "CP-1", 1)
    shapes = Shapes16() if version == "1.6" else Shapes201()
    ids = (f"tx-{n}" for n in itertools.count(1))
    plan = FaultPlan.for_connector(faults, 0, "CP-1", 1, T0)
    plan.next_at = first_at
    parts = (Connector(1), Meter(Evse(), gen.rng), gen, shapes, lambda: next(ids))
    return FaultyCharger(*parts, faults=plan)


def charging(c: FaultyCharger, version: str) -> float:
    """Drive ``c`` into a running transaction; the time it started."""
    c.begin(T0)
    at = c.wake_at
    assert at is not None
    c.on_wake(at)
    sends = c.on_answer("Authorize", ACCEPTED, at)
    if version == "1.6":
        c.on_answer("StartTransaction", {"transactionId": 7, **ACCEPTED}, at)
    assert c.phase is Phase.CHARGING, sends
    return at


def test_faults_are_seeded_poisson_with_drawn_durations_and_codes() -> None:
    config = Faults(per_day=24, duration_s={"min": 60, "max": 600})

    def faults(station: str, seed: int, n: int = 400) -> list[tuple[float, float, str]]:
        plan = FaultPlan.for_connector(config, seed, station, 1, T0)
        out = []
        for _ in range(n):
            at = plan.wake_at
            code = plan.fail(at)
            out.append((at, plan.until - at, code))
            plan.clear(plan.until)
        return out

    drawn = faults("CP-1", 1)
    assert drawn == faults("CP-1", 1)  # seeded: every run and process alike
    assert drawn != faults("CP-2", 1) and drawn != faults("CP-1", 2)
    # 24 a day: an hour apart on average, counted from each fault's end (exponential gaps)
    gaps = [b[0] - (a[0] + a[1]) for a, b in itertools.pairwise(drawn)]
    assert statistics.mean(gaps) == pytest.approx(3600, rel=0.15)
    assert statistics.stdev(gaps) == pytest.approx(3600, rel=0.2)
    durations = [d for _, d, _ in drawn]
    assert all(60 <= d <= 600 for d in durations) and len(set(durations)) == len(durations)
    assert {code for _, _, code in drawn} == set(config.error_codes)  # every code drawn


@pytest.mark.parametrize(
    ("version", "code", "reason"),
    [
        ("1.6", "HighTemperature", None),
        ("2.0.1", "GroundFailure", "GroundFault"),
        ("2.0.1", "HighTemperature", "Other"),
    ],
)
def test_a_fault_ends_the_session_and_the_connector_is_available_once_it_clears(
    version: str, code: str, reason: str | None
) -> None:
    config = Faults(per_day=1, duration_s={"min": 300, "max": 300}, error_codes=(code,))
    started = charging(c := faulty(version, config, first_at=T0 + 1e9), version)
    strike = started + 30
    c.faults.next_at = strike
    assert c.next_wake == strike  # before the next reading (60 s) or the departure
    out = valid(version, c.on_wake(strike))
    status, stop = out[0], out[1]
    if version == "1.6":
        assert [s.action for s in out] == ["StatusNotification", "StopTransaction"]
        assert (status.payload["status"], status.payload["errorCode"]) == ("Faulted", code)
        assert stop.payload["reason"] == "Other"
        assert c.on_answer("StopTransaction", {}, strike + 0.1) == []  # still Faulted
    else:  # the cause in a NotifyEvent (2.0.1 StatusNotification has no error code)
        assert [s.action for s in out] == ["StatusNotification", "NotifyEvent", "TransactionEvent"]
        assert status.payload["connectorStatus"] == "Faulted"
        (event,) = out[1].payload["eventData"]
        assert (event["techCode"], event["actualValue"], event["variable"]) == (
            code,
            "true",
            {"name": "Problem"},
        )
        assert event["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
        stop = out[2]
        assert stop.payload["eventType"] == "Ended"
        assert stop.payload["triggerReason"] == "AbnormalCondition"
        assert stop.payload["transactionInfo"]["stoppedReason"] == reason
    assert c.phase is Phase.IDLE and c.connector.status is Status.FAULTED
    assert c.counts.completed == 1
    # Drivers arriving meanwhile go elsewhere; the fault clears after its 300 s.
    assert c.next_wake is not None and c.next_wake <= strike + 300
    at = c.next_wake
    while at < strike + 300:
        assert c.on_wake(at) == [] and c.phase is Phase.IDLE
        at = c.next_wake
    assert at == strike + 300
    out = valid(version, c.on_wake(at))
    assert [s.action for s in out][:1] == ["StatusNotification"]
    if version == "1.6":
        assert (out[0].payload["status"], out[0].payload["errorCode"]) == ("Available", "NoError")
    else:
        assert out[0].payload["connectorStatus"] == "Available"
        (cleared,) = out[1].payload["eventData"]
        assert (cleared["cleared"], cleared["actualValue"]) == (True, "false")
        assert cleared["eventId"] == event["eventId"] + 1
    assert c.connector.status is not Status.FAULTED and c.faults.next_at > at
    # Sessions go on: the next arrival badges in again.
    while c.counts.started < 2:
        next_at = c.next_wake
        assert next_at is not None
        for send in c.on_wake(next_at):
            if send.action == "Authorize":
                c.on_answer("Authorize", ACCEPTED, next_at)
    assert c.counts.started == 2


def test_an_idle_connector_faults_and_one_waiting_on_the_csms_faults_after_the_wait() -> None:
    config = Faults(per_day=1, duration_s={"min": 10, "max": 10}, error_codes=("GroundFailure",))
    c = faulty("1.6", config, first_at=T0 + 1)
    c.begin(T0)
    arrival = c.wake_at
    assert arrival is not None and arrival > T0 + 1
    out = valid("1.6", c.on_wake(T0 + 1))  # idle: only the status
    assert [(s.action, s.payload["status"]) for s in out] == [("StatusNotification", "Faulted")]
    out = c.on_wake(T0 + 11)
    assert [(s.action, s.payload["status"]) for s in out] == [("StatusNotification", "Available")]
    # A fault due while an Authorize is out waits until the answer came.
    at = c.wake_at
    assert at is not None
    c.on_wake(at)
    assert c.phase is Phase.AUTHORIZING
    c.faults.next_at = at
    assert c.on_wake(at) == [] and c.faults.next_at == at + RETRY_S
    assert c.connector.status is Status.PREPARING


def test_an_inoperative_scheduled_during_a_fault_applies_when_it_clears() -> None:
    config = Faults(per_day=1, duration_s={"min": 10, "max": 10}, error_codes=("OtherError",))
    c = faulty("2.0.1", config, first_at=T0 + 1)
    c.begin(T0)
    c.on_wake(T0 + 1)
    c.connector.inoperative_after = True  # ChangeAvailability Inoperative: Scheduled
    out = valid("2.0.1", c.on_wake(T0 + 11))
    assert [s.action for s in out] == ["StatusNotification", "NotifyEvent"]
    assert out[0].payload["connectorStatus"] == "Unavailable"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_cleared_fault_leaves_the_connector_as_what_happened_meanwhile_asks(
    version: str,
) -> None:
    """Reserved while faulted (ReserveNow answers Faulted but keeps no reservation: a held one
    comes from before): Available, then Reserved; an Inoperative scheduled meanwhile:
    Unavailable; the station reset meanwhile (no longer Faulted): nothing to report."""
    from fleet.station.reservations import Reservation
    from tests.station.test_sessions import charger

    def statuses(out: list) -> list[str]:
        return [s.payload.get("status", s.payload.get("connectorStatus")) for s in out
                if s.action == "StatusNotification"]  # fmt: skip

    c = charger(version)
    c.fail("GroundFailure", T0)
    c.connector.reservation = Reservation(1, 1, "HELD", T0 + 3600)
    assert statuses(valid(version, c.clear_fault(T0 + 1))) == ["Available", "Reserved"]
    c.connector.reservation = None
    c.connector.move(Status.AVAILABLE)
    c.fail("OverVoltage", T0 + 2)
    c.connector.inoperative_after = True
    assert statuses(valid(version, c.clear_fault(T0 + 3))) == ["Unavailable"]
    assert not c.connector.inoperative_after
    c.fail("OverVoltage", T0 + 4)
    c.connector.status = Status.AVAILABLE  # a reset reported it meanwhile
    assert c.clear_fault(T0 + 5) == [] and c.connector.error_code == "NoError"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("cause", ["fault", "unlock", "cable out"])
def test_an_ev_unplugged_leaves_once_its_transaction_is_over_whatever_the_clock_reads(
    version: str, cause: str
) -> None:
    """A fault, an unlock, the driver's cable out: the EV is gone when the transaction ends. A
    decision may be timed a few ms ahead of the answer that follows it (``charging.EARLY_S``):
    a 1.6 StopTransaction answered 'before' its fault left the EV parked, Finishing with the
    fault's errorCode; a 2.0.1 unlock left it Occupied until it was due to leave."""
    config = Faults(per_day=1, duration_s={"min": 60, "max": 60}, error_codes=("GroundFailure",))
    started = charging(c := faulty(version, config, first_at=T0 + 1e9), version)
    at = started + 30
    if cause == "fault":
        out = c.fail("GroundFailure", at)
    elif cause == "unlock":
        out = c.end(UNLOCKED, at)
    else:
        out = c.unplug(at)
    if version == "1.6":
        assert c.phase is Phase.STOPPING
        out += c.on_answer("StopTransaction", {}, at - 0.003)
    valid(version, out)
    reported = [
        (s.payload.get("status", s.payload.get("connectorStatus")), s.payload.get("errorCode"))
        for s in out
        if s.action == "StatusNotification"
    ]
    left = ("Faulted", "GroundFailure") if cause == "fault" else ("Available", "NoError")
    assert reported == [left if version == "1.6" else (left[0], None)]
    assert c.phase is Phase.IDLE and c.counts.completed == 1
    assert c.connector.status is Status(left[0])
