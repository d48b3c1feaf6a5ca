"""fleet's console: one station driven by hand while the fleet runs. The drivers' verbs as pure
decisions (a fake clock), then every verb over real sockets against the embedded CSMS, as the
CSMS's own capture of the frames shows it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from fleet.station import console
from fleet.station.console import ConsoleRefused
from fleet.station.core import Station
from fleet.station.sessions import Phase
from fleet.station.state import State
from tests.conftest import accepted, calls, csms_running, fleet_running, make_scenario, wait_until
from tests.station.test_sessions import T0, charger, valid

ACCEPTED = {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_driver_plugs_in_with_a_tag_stops_by_badge_and_unplugs(version: str) -> None:
    c = charger(version)
    c.begin(T0)
    planned = c.wake_at
    assert planned is not None and planned > T0 + 1  # the generator's driver comes later
    out = valid(version, c.plug_in("CONSOLE-1", T0 + 1))
    assert [s.action for s in out][-1] == "Authorize"
    assert out[0].action == "StatusNotification" and c.connector.status.value == "Preparing"
    assert "CONSOLE-1" in str(out[-1].payload)
    out = valid(version, c.on_answer("Authorize", ACCEPTED, T0 + 1))
    if version == "1.6":
        assert out[0].payload["idTag"] == "CONSOLE-1"
        out = c.on_answer("StartTransaction", {"transactionId": 7, **ACCEPTED}, T0 + 1)
    else:
        assert out[-1].payload["idToken"]["idToken"] == "CONSOLE-1"
    assert c.phase is Phase.CHARGING

    out = valid(version, c.stop_by_driver(T0 + 30))
    if version == "1.6":
        assert out[0].action == "StopTransaction" and out[0].payload["reason"] == "Local"
        assert out[0].payload["idTag"] == "CONSOLE-1"
        out = valid(version, c.on_answer("StopTransaction", {}, T0 + 30))
    else:
        ended = out[0].payload
        assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "StopAuthorized")
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        assert ended["idToken"] == {"idToken": "CONSOLE-1", "type": "ISO14443"}
    assert c.phase is Phase.PARKED and c.connector.status.value == "Finishing"
    assert c.stop_by_driver(T0 + 31) == []  # nothing left to stop

    out = valid(version, c.unplug(T0 + 40))
    assert [s.payload.get("status", s.payload.get("connectorStatus")) for s in out] == [
        "Available"
    ]  # both versions' name for it
    assert c.phase is Phase.IDLE and c.counts.completed == 1
    assert c.wake_at is not None and c.wake_at > T0 + 40  # the next driver is planned again
    assert c.unplug(T0 + 41) == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_pulling_the_cable_ends_the_transaction_as_ev_disconnected(version: str) -> None:
    c = charger(version)
    c.begin(T0)
    c.plug_in(None, T0)
    assert c.demand is not None and c.demand.id_tag  # the scenario's driver's tag
    c.on_answer("Authorize", ACCEPTED, T0)
    if version == "1.6":
        c.on_answer("StartTransaction", {"transactionId": 7, **ACCEPTED}, T0)
    out = valid(version, c.unplug(T0 + 20))
    if version == "1.6":
        assert out[0].payload["reason"] == "EVDisconnected"
        assert c.phase is Phase.STOPPING
        out = c.on_answer("StopTransaction", {}, T0 + 20)
    else:
        assert out[0].payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert "idToken" not in out[0].payload
    assert c.phase is Phase.IDLE and c.connector.status.value == "Available"


# --- over sockets --------------------------------------------------------------------------------


def _tags(csms: Any, station: str, version: str) -> list[tuple[str, Any]]:
    """(what, detail) of the station's transaction messages, as the CSMS received them."""
    seen = []
    for call in calls(csms, station):
        action, payload = call.message[2], call.message[3]
        if action == "StartTransaction":
            seen.append(("start", (payload["connectorId"], payload["idTag"])))
        elif action == "StopTransaction":
            seen.append(("stop", payload["reason"]))
        elif action == "TransactionEvent" and payload["eventType"] == "Started":
            token = payload["idToken"]["idToken"]
            seen.append(("start", (payload["evse"]["id"], token)))
        elif action == "TransactionEvent" and payload["eventType"] == "Ended":
            seen.append(("stop", payload["transactionInfo"]["stoppedReason"]))
    return seen


async def _refused(station: Station, verb: str, args: dict[str, Any], says: str) -> None:
    with pytest.raises(ConsoleRefused) as caught:
        console.act(station, verb, args)
    assert says in str(caught.value), str(caught.value)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_verb_reaches_the_csms_as_a_real_station_would_send_it(version: str) -> None:
    """An idle fleet (no sessions of its own): a driver plugs in on connector 2 with a tag,
    badges to stop, unplugs; another plugs in anywhere and pulls the cable; the station is
    rebooted on site and its link dropped. What cannot be done is refused, saying why."""
    scenario = make_scenario(
        stations={"count": 2, "ocpp": {version: 1}, "connectors": 2},
        sessions={"meter_interval_s": 1},
    )
    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        station, other = fleet.stations
        view = console.describe(station)
        assert (view["state"], view["connected"], view["version"]) == ("accepted", True, version)
        assert "frames" not in view  # nothing kept of a station nobody watches
        assert console.act(station, "watch", {}).startswith("watching: the last 40 frames")
        assert [(c["id"], c["status"], c["phase"]) for c in view["connectors"]] == [
            (1, "Available", "idle"),
            (2, "Available", "idle"),
        ]
        said = console.act(station, "plug", {"connector": "2", "id_tag": "CONSOLE-1"})
        assert said == "connector 2: plugged in, badged CONSOLE-1"
        await wait_until(lambda: ("start", (2, "CONSOLE-1")) in _tags(csms, station.id, version))
        await wait_until(lambda: console.describe(station)["connectors"][1]["phase"] == "charging")
        charging = console.describe(station)["connectors"][1]
        assert charging["id_tag"] == "CONSOLE-1" and charging["transaction_id"] is not None
        ids = sorted(s.id for s in fleet.stations)
        assert console.find(fleet.stations, "accepted", 10) == {"count": 2, "ids": ids}
        assert console.find(fleet.stations, "accepted", 1) == {"count": 2, "ids": ids[:1]}
        assert console.find(fleet.stations, "charging", 10) == {"count": 1, "ids": [station.id]}
        with pytest.raises(ConsoleRefused, match="state: one of offline, connecting"):
            console.find(fleet.stations, "asleep", 10)
        kept = console.describe(station)["frames"]  # watched from this connection on
        assert any(f["what"] == ">" and "CONSOLE-1" in f["text"] for f in kept), kept
        reading = "MeterValues" if version == "1.6" else "TransactionEvent"
        await wait_until(lambda: len(calls(csms, station.id, reading)) >= 2)  # every second
        await _refused(station, "plug", {"connector": 2}, "connector 2 is not free: Charging")
        await _refused(station, "plug", {"connector": 3}, "connector: expected 1 to 2, got 3")
        await _refused(station, "unplug", {"connector": 1}, "connector 1 is not with an EV")
        await _refused(station, "plug", {"id_tag": "X" * 21}, "id_tag: at most 20 characters")

        assert "stopped by its driver" in console.act(station, "stop", {})
        await wait_until(lambda: ("stop", "Local") in _tags(csms, station.id, version))
        await wait_until(lambda: console.describe(station)["connectors"][1]["phase"] == "parked")
        assert console.act(station, "unplug", {}) == "connector 2: unplugged"
        await wait_until(lambda: console.describe(station)["connectors"][1]["phase"] == "idle")

        assert console.act(station, "plug", {}).startswith("connector 1: plugged in, badged ")
        await wait_until(lambda: console.describe(station)["connectors"][0]["phase"] == "charging")
        said = console.act(station, "unplug", {})
        assert said == "connector 1: unplugged (its transaction ended: EVDisconnected)"
        await wait_until(lambda: ("stop", "EVDisconnected") in _tags(csms, station.id, version))
        await wait_until(
            lambda: console.describe(station)["connectors"][0]["status"] == "Available"
        )
        await _refused(station, "stop", {}, f"no connector of {station.id} is charging")

        console.act(station, "plug", {"connector": 1, "id_tag": "CONSOLE-2"})
        await wait_until(lambda: console.describe(station)["connectors"][0]["phase"] == "charging")
        await _refused(station, "fault", {"error_code": "Dusty"}, "error_code: one of ")
        said = console.act(station, "fault", {"connector": 1, "error_code": "GroundFailure"})
        assert said == "connector 1: Faulted, GroundFailure (its transaction stopped)"
        stopped = "Other" if version == "1.6" else "GroundFault"
        await wait_until(lambda: ("stop", stopped) in _tags(csms, station.id, version))
        if version == "1.6":
            last = calls(csms, station.id, "StatusNotification")[-1].message[3]
            assert (last["connectorId"], last["status"], last["errorCode"]) == (
                1,
                "Faulted",
                "GroundFailure",
            )
        else:
            await wait_until(lambda: calls(csms, station.id, "NotifyEvent"))
        view = console.describe(station)["connectors"][0]
        assert (view["status"], view["error_code"], view["phase"]) == (
            "Faulted",
            "GroundFailure",
            "idle",
        )
        await _refused(station, "plug", {"connector": 1}, "connector 1 is not free: Faulted")
        assert console.find(fleet.stations, "faulted", 10)["ids"] == [station.id]
        assert console.find(fleet.stations, "charging", 10)["count"] == 0
        await _refused(station, "fault", {"connector": 1}, "not able to fail now: Faulted")
        await _refused(station, "clear", {"connector": 2}, "connector 2 is not Faulted")
        assert console.act(station, "clear", {}) == "connector 1: fault cleared, Available"
        await wait_until(
            lambda: console.describe(station)["connectors"][0]["status"] == "Available"
        )
        events = 2 if version == "2.0.1" else 0  # its start and its end
        await wait_until(lambda: len(calls(csms, station.id, "NotifyEvent")) == events)

        boots = len(calls(csms, station.id, "BootNotification"))
        assert console.act(station, "reboot", {}).startswith("rebooting")
        await wait_until(lambda: len(calls(csms, station.id, "BootNotification")) == boots + 1)
        await accepted(fleet)
        if version == "2.0.1":
            boot = calls(csms, station.id, "BootNotification")[-1].message[3]
            assert boot["reason"] == "LocalReset"

        connects = sum(
            1 for _, s, what in csms.connect_log if s == station.id and what == "connect"
        )
        assert "off the network for 0.3 s" in console.act(station, "drop", {"down_s": 0.3})
        await asyncio.sleep(0.05)
        assert console.describe(station)["state"] == "offline"
        await _refused(station, "drop", {}, f"{station.id} is not connected")
        await _refused(station, "reboot", {}, f"{station.id} is offline")
        await accepted(fleet)
        again = sum(1 for _, s, what in csms.connect_log if s == station.id and what == "connect")
        assert again == connects + 1
        await _refused(station, "fly", {}, "unknown action 'fly': one of plug, stop, unplug, fault")

        frames = console.describe(station)["frames"]
        assert len(frames) == 40  # the last ones only
        whats = [f["what"] for f in frames]
        assert {">", "<", "closed:", "connected to"} <= set(whats), whats
        sent = [orjson.loads(f["text"]) for f in frames if f["what"] == ">"]
        assert {"BootNotification", "StatusNotification"} <= {m[2] for m in sent if m[0] == 2}
        console.act(station, "unwatch", {})
        assert "frames" not in console.describe(station)
        assert station.tracer() is None  # its frames cost nothing again
        await _refused(station, "drop", {"down_s": "soon"}, "down_s: expected a number")
        stats = fleet.summary.stats
        assert other.state is State.ACCEPTED and calls(csms, other.id, "Authorize") == []
    failed = {name: t.failures for name, t in stats.timings.items() if t.failures}
    assert failed == {}, failed


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_connector_set_inoperative_that_fails_reports_faulted_then_unavailable_again(
    version: str,
) -> None:
    """The CSMS set connector 1 Inoperative; it then fails. Asked (TriggerMessage), it reports
    Faulted (1.6 with the fault's code), not Unavailable; once the fault clears it is
    Unavailable again, not Available, until the CSMS sets it Operative."""
    from ocpp.v16 import call as c16
    from ocpp.v201 import call as c201

    scenario = make_scenario(stations={"count": 1, "ocpp": {version: 1}, "connectors": 2})
    if version == "1.6":
        inoperative = c16.ChangeAvailability(connector_id=1, type="Inoperative")
        operative = c16.ChangeAvailability(connector_id=1, type="Operative")
        trigger = c16.TriggerMessage(requested_message="StatusNotification", connector_id=1)
    else:
        inoperative = c201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
        operative = c201.ChangeAvailability(operational_status="Operative", evse={"id": 1})
        evse = {"id": 1, "connector_id": 1}
        trigger = c201.TriggerMessage(requested_message="StatusNotification", evse=evse)

    def last(csms: Any, station: str) -> tuple[str, str | None]:
        payload = calls(csms, station, "StatusNotification")[-1].message[3]
        assert payload.get("connectorId", payload.get("evseId")) == 1
        return payload.get("status", payload.get("connectorStatus")), payload.get("errorCode")

    async with csms_running(interval_s=300) as csms, fleet_running(scenario, csms.url) as fleet:
        await accepted(fleet)
        (station,) = fleet.stations
        code = "NoError" if version == "1.6" else None
        assert (await csms.call(station.id, inoperative)).status == "Accepted"
        await wait_until(lambda: last(csms, station.id) == ("Unavailable", code))
        assert console.act(station, "fault", {"connector": 1, "error_code": "GroundFailure"})
        faulted = ("Faulted", "GroundFailure" if version == "1.6" else None)
        await wait_until(lambda: last(csms, station.id) == faulted)
        reported = len(calls(csms, station.id, "StatusNotification"))
        assert (await csms.call(station.id, trigger)).status == "Accepted"
        await wait_until(lambda: len(calls(csms, station.id, "StatusNotification")) > reported)
        assert last(csms, station.id) == faulted
        assert console.act(station, "clear", {}) == "connector 1: fault cleared, Unavailable"
        await wait_until(lambda: last(csms, station.id) == ("Unavailable", code))
        assert (await csms.call(station.id, operative)).status == "Accepted"
        await wait_until(lambda: last(csms, station.id) == ("Available", code))
