"""fleet's console: one station looked at, and driven by hand, while the fleet runs.

A CSMS engineer chasing a bug under load wants to see what one station is doing and make it do
one thing now, with the rest of the fleet going on: a driver plugging in with a given tag,
badging to stop, pulling the cable out, a connector failing and recovering, the station
rebooted on site, its link dropped. Each is what a person at a real station does, so it runs
the station's own paths (authorisation, the transaction messages, the offline queue, the
reconnect policy), never a message made up here. Besides, the console finds stations (in a
state, charging, faulted) and keeps a watched station's last frames (``watch.py``).

These are the station-side halves, run on the stations' loop: ``find``, ``describe`` (a
JSON-ready view) and ``act`` (a verb and its arguments; refused with a one-line
``ConsoleRefused``). The Locust web UI and the master/worker hand-off are in
``fleet.locust_ext.console``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from fleet.errors import FleetError
from fleet.scenario_faults import ERROR_CODES
from fleet.station.charging import Chargers
from fleet.station.connectors import Status
from fleet.station.core import Station
from fleet.station.sessions import Charger, Phase
from fleet.station.state import State
from fleet.station.watch import KEPT

MAX_DOWN_S: Final = 3600.0
MAX_TAG_CHARS: Final = 20  # 1.6 idTag is CiString20 (2.0.1 allows 36): what both accept
VERBS: Final = ("plug", "stop", "unplug", "fault", "clear", "reboot", "drop", "watch", "unwatch")
DEFAULT_FAULT: Final = "OtherError"


class ConsoleRefused(FleetError):
    """The station cannot do what was asked now; the message says why, in one line."""


def answer(station: Station, verb: str | None, args: dict[str, Any]) -> dict[str, Any]:
    """What the console's caller gets: the station's view (``verb`` None), or what was done
    (``done``) or refused (``error``) and the view after it. (Should fleet's own code fail,
    the caller turns that into an answer too: ``Bridge._console_on_loop``.)"""
    if verb is None:
        return {"station": describe(station)}
    try:
        done = act(station, verb, args)
    except ConsoleRefused as exc:
        return {"error": str(exc), "station": describe(station)}
    return {"done": done, "station": describe(station)}


def find(stations: Iterable[Station], which: str, limit: int) -> dict[str, Any]:
    """The stations ``which`` names (a state, ``charging``: a transaction runs, ``faulted``: a
    connector is Faulted, ``waiting_for_app``: an EV plugged in waits for the CSMS's remote
    start): how many, and the first ``limit`` ids in order."""
    fits = _FINDS.get(which)
    if fits is None:
        raise ConsoleRefused(f"state: one of {', '.join(_FINDS)}; got {which!r}")
    found = sorted(station.id for station in stations if fits(station))
    return {"count": len(found), "ids": found[:limit]}


def _in_state(state: State) -> Callable[[Station], bool]:
    return lambda station: station.state is state


def _in_transaction(station: Station) -> bool:
    return station.charging is not None and station.charging.busy


def _with_fault(station: Station) -> bool:
    connectors = range(1, station.scenario.stations.connectors + 1)
    return any(station.connector_state(n) is Status.FAULTED for n in connectors)


def _waiting_for_app(station: Station) -> bool:
    charging = station.charging
    return charging is not None and any(c.awaits_remote_start for c in charging.chargers)


_FINDS: Final[dict[str, Callable[[Station], bool]]] = {
    **{state.value: _in_state(state) for state in State},
    "charging": _in_transaction,
    "faulted": _with_fault,
    "waiting_for_app": _waiting_for_app,
}
FINDABLE: Final = tuple(_FINDS)


def describe(station: Station) -> dict[str, Any]:
    """What the station is doing now: its connection, boot state, CALLs and connectors."""
    in_flight, waiting = station.pending()
    outbound = station.outbound
    view: dict[str, Any] = {
        "id": station.id,
        "version": station.version,
        "state": station.state.value,
        "connected": station.connected,
        "heartbeat_s": station.heartbeat_s,
        "clock_offset_s": round(station.clock_offset_s, 3),
        "call_in_flight": in_flight,
        "calls_waiting": waiting,
        "tx_messages_queued": 0 if outbound is None else outbound.pending,
        "missed": dict(station.missed or {}),
        "firmware": station.firmware or station.scenario.stations.firmware,
        "connectors": [],
    }
    if station.watched is not None:
        view["frames"] = station.watched.to_json()
    charging = station.charging
    for number in range(1, station.scenario.stations.connectors + 1):
        status = station.connector_state(number)
        connector: dict[str, Any] = {"id": number, "status": status.value, "phase": "idle"}
        if status is Status.FAULTED:
            connector["error_code"] = station.error_code_of(number)
        if charging is not None and number <= len(charging.chargers):
            connector.update(_session(charging.chargers[number - 1]))
        view["connectors"].append(connector)
    return view


def _session(charger: Charger) -> dict[str, Any]:
    view: dict[str, Any] = {"phase": charger.phase.value}
    demand, tx = charger.demand, charger.tx
    if demand is not None:
        view["id_tag"] = demand.id_tag
    if tx is not None:
        view["soc_percent"] = round(charger.meter.soc * 100, 1)
        view["transaction_id"] = tx.tx_id
        view["charging_state"] = tx.charging_state
        charging_now = tx.charging_state == "Charging"
        view["power_w"] = round(charger.meter.power_w(charging_now))
        view["session_wh"] = round(charger.meter.register_wh - tx.meter_start_wh)
    view["sessions_completed"] = charger.counts.completed
    return view


def act(station: Station, verb: str, args: dict[str, Any]) -> str:
    """Do ``verb`` at the station now; returns what was done, in one line."""
    action = _ACTIONS.get(verb)
    if action is None:
        raise ConsoleRefused(f"unknown action {verb!r}: one of {', '.join(VERBS)}")
    return action(station, args)


def _plug(station: Station, args: dict[str, Any]) -> str:
    tag = args.get("id_tag") or None
    if tag is not None and (not isinstance(tag, str) or len(tag) > MAX_TAG_CHARS):
        raise ConsoleRefused(f"id_tag: at most {MAX_TAG_CHARS} characters, got {tag!r}")
    chargers = _running_chargers(station, "a driver can plug in")
    index = _pick(station, chargers, args, lambda c: _free(c, tag), "free")
    chargers.decide(index, lambda charger, now: charger.plug_in(tag, now))
    charger = chargers.chargers[index]
    if charger.awaits_remote_start:
        return f"connector {index + 1}: plugged in, waiting for the CSMS's remote start"
    badged = "" if charger.demand is None else f", badged {charger.demand.id_tag}"
    return f"connector {index + 1}: plugged in{badged}"


def _stop(station: Station, args: dict[str, Any]) -> str:
    chargers = _running_chargers(station, "a driver can stop a session")
    index = _pick(station, chargers, args, _charging, "charging")
    chargers.decide(index, Charger.stop_by_driver)
    return f"connector {index + 1}: stopped by its driver (Local); the EV stays plugged in"


def _unplug(station: Station, args: dict[str, Any]) -> str:
    chargers = _running_chargers(station, "a driver can unplug")
    index = _pick(station, chargers, args, _plugged, "with an EV plugged in")
    was = chargers.chargers[index].phase
    chargers.decide(index, Charger.unplug)
    ended = " (its transaction ended: EVDisconnected)" if was is Phase.CHARGING else ""
    return f"connector {index + 1}: unplugged{ended}"


def _fault(station: Station, args: dict[str, Any]) -> str:
    code = args.get("error_code") or DEFAULT_FAULT
    if code not in ERROR_CODES:
        raise ConsoleRefused(f"error_code: one of {', '.join(ERROR_CODES)}; got {code!r}")
    chargers = _running_chargers(station, "a connector can fail")
    index = _pick(station, chargers, args, _can_fail, "able to fail now")
    was = chargers.chargers[index].phase
    chargers.decide(index, lambda charger, now: charger.fail(code, now))
    ended = " (its transaction stopped)" if was is Phase.CHARGING else ""
    return f"connector {index + 1}: Faulted, {code}{ended}"


def _clear(station: Station, args: dict[str, Any]) -> str:
    chargers = _running_chargers(station, "a fault can clear")
    index = _pick(station, chargers, args, _faulted, "Faulted")
    chargers.decide(index, Charger.clear_fault)
    status = chargers.chargers[index].connector.status.value
    return f"connector {index + 1}: fault cleared, {status}"


def _watch(station: Station, args: dict[str, Any]) -> str:
    station.watch(True)
    return f"watching: the last {KEPT} frames of {station.id} are kept from now"


def _unwatch(station: Station, args: dict[str, Any]) -> str:
    station.watch(False)
    return "no longer watched: its frames are not kept"


def _reboot(station: Station, args: dict[str, Any]) -> str:
    if station.state is not State.ACCEPTED or not station.connected:
        raise ConsoleRefused(
            f"{station.id} is {station.state.value}: only a station the CSMS accepted reboots"
        )
    station.local_reboot()
    return "rebooting: sessions end (reason Reboot), then it boots again"


def _drop(station: Station, args: dict[str, Any]) -> str:
    down_s = _number(args, "down_s", 0.0, MAX_DOWN_S)
    if not station.connected:
        raise ConsoleRefused(f"{station.id} is not connected")
    station.drop(down_s, silent=False, cause="console")
    return f"connection dropped, off the network for {down_s:g} s, then it reconnects"


_ACTIONS: Final[dict[str, Callable[[Station, dict[str, Any]], str]]] = {
    "plug": _plug,
    "stop": _stop,
    "unplug": _unplug,
    "fault": _fault,
    "clear": _clear,
    "reboot": _reboot,
    "drop": _drop,
    "watch": _watch,
    "unwatch": _unwatch,
}


def _running_chargers(station: Station, what: str) -> Chargers:
    """The station's chargers, running; refused before it was first accepted (a station that
    went offline since goes on charging, as a real one does)."""
    charging = station.charging
    if (charging is None or not charging.running) and station.state is not State.ACCEPTED:
        raise ConsoleRefused(f"{station.id} is {station.state.value}: {what} once it booted")
    return station.running_chargers()


def _pick(
    station: Station,
    chargers: Chargers,
    args: dict[str, Any],
    fits: Callable[[Charger], bool],
    wanted: str,
) -> int:
    """The charger asked for (``connector``), or the first that fits; refused with why not."""
    count = len(chargers.chargers)
    connector = args.get("connector")
    if connector not in (None, ""):
        number = _number(args, "connector", 1, count)
        charger = chargers.chargers[int(number) - 1]
        if int(number) != number or not fits(charger):
            raise ConsoleRefused(f"connector {number:g} is not {wanted}: {_state_of(charger)}")
        return int(number) - 1
    for index, charger in enumerate(chargers.chargers):
        if fits(charger):
            return index
    states = "; ".join(f"{c.connector.id} {_state_of(c)}" for c in chargers.chargers)
    raise ConsoleRefused(f"no connector of {station.id} is {wanted} ({states})")


def _state_of(charger: Charger) -> str:
    status = charger.connector.status.value
    phase = charger.phase.value
    return status if phase == "idle" else f"{status}, {phase}"


def _free(charger: Charger, tag: str | None) -> bool:
    held = charger.connector.reservation
    return charger.free and (held is None or held.tag == tag)


def _charging(charger: Charger) -> bool:
    return charger.phase is Phase.CHARGING


def _can_fail(charger: Charger) -> bool:
    """Not Faulted already, nor waiting on the CSMS (a scenario's fault waits then too)."""
    return charger.connector.status is not Status.FAULTED and not charger.waiting


def _faulted(charger: Charger) -> bool:
    return charger.connector.status is Status.FAULTED


def _plugged(charger: Charger) -> bool:
    return charger.phase in (Phase.CHARGING, Phase.PARKED, Phase.PLUGGED)


def _number(args: dict[str, Any], name: str, low: float, high: float) -> float:
    value = args.get(name)
    if value in (None, "") and name == "down_s":
        return low
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConsoleRefused(f"{name}: expected a number, got {value!r}") from None
    if not low <= number <= high:
        raise ConsoleRefused(f"{name}: expected {low:g} to {high:g}, got {number:g}")
    return number
