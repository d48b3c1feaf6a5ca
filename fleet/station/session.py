"""Keep one station connected: connect, run, and reconnect after a loss with back-off.

Thin on purpose: decisions come from ``Station`` (why a connection ended) and from
``fleet.policies`` (how long to wait); this module only performs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator

from fleet.errors import ConnectionFailed
from fleet.metrics.sample import (
    CONNECT,
    CONNECTION_LOST,
    LET_IN,
    NEGATIVE_ROWS,
    Sink,
)
from fleet.policies import reconnect_delays
from fleet.scenario import Scenario
from fleet.station import storming
from fleet.station.connect import connect
from fleet.station.core import Station
from fleet.station.engine import Ending
from fleet.station.security import access_for
from fleet.station.state import State
from fleet.station.v16 import StationV16
from fleet.station.v201 import StationV201

logger = logging.getLogger("fleet.station")

STATION_CLASSES: dict[str, type[Station]] = {"1.6": StationV16, "2.0.1": StationV201}


def make_station(scenario: Scenario, index: int, sink: Sink) -> Station:
    """The station with 1-based ``index`` in the scenario: its id and version are deterministic."""
    cls = STATION_CLASSES[scenario.version_for(index)]
    station = cls(scenario.station_id(index), scenario, sink)
    station.source_address = scenario.source_address(index)
    negative = scenario.security.negative
    if negative.any() and (kind := negative.kind_for(scenario.seed, station.id)) is not None:
        station.negative = kind
    return station


class StopSwitch:
    """Ends a group of sessions at once: ``set()`` stops new connections and closes every
    connected station cleanly (code 1000). One switch per fleet (or per Locust user) replaces a
    watcher task per station, which cost ~0.5 KB each at 10,000 stations."""

    __slots__ = ("_connected", "_event", "_one", "_set")

    def __init__(self) -> None:
        self._set = False
        # Made only when a session waits on it (between reconnects): an idle asyncio.Event costs
        # ~0.9 KB, and under Locust there is one switch per station.
        self._event: asyncio.Event | None = None
        # The stations connected: the first in a slot, a set only for more (`fleet run`'s one
        # switch). Under Locust a switch covers one station, where a set cost 216 bytes.
        self._one: Station | None = None
        self._connected: set[Station] | None = None

    def is_set(self) -> bool:
        return self._set

    def cover(self, station: Station) -> None:
        """Until ``uncover``, ``set()`` also stops ``station`` (it is connected). Two calls,
        not a context manager: the manager's generator was held for as long as the
        connection lasted (~0.35 KB a station)."""
        if self._one is None:
            self._one = station
        else:
            if self._connected is None:
                self._connected = set()
            self._connected.add(station)

    def uncover(self, station: Station) -> None:
        if self._one is station:
            self._one = None
        elif self._connected is not None:
            self._connected.discard(station)

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()
        if self._one is not None:
            self._one.request_stop()
        for station in self._connected or ():
            station.request_stop()

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()


async def keep_connected(
    station: Station,
    url: str,
    stop: StopSwitch,
    rng: random.Random | None = None,
    origin: float | None = None,
) -> None:
    """Run ``station`` against ``url`` until ``stop`` is set, reconnecting after losses; the
    scenario's storms strike it at their times after ``origin`` (epoch seconds; default now)."""
    strikes = storming.arm(station, time.time() if origin is None else origin)
    try:
        await _keep_connected(station, url, stop, rng)
    finally:
        if strikes is not None:
            strikes.cancel()
    station.ended()


async def _keep_connected(
    station: Station, url: str, stop: StopSwitch, rng: random.Random | None
) -> None:
    delays: Iterator[float] | None = None  # the policy's waits, made when first needed
    open_timeout_s = station.scenario.csms.call_timeout_s
    while not stop.is_set():
        if (down_s := station.offline_left()) > 0:  # a storm keeps it off the network
            await _wait(stop, down_s)
            continue
        station.set_state(State.CONNECTING)
        started = time.perf_counter()
        row = CONNECT if station.negative is None else NEGATIVE_ROWS[station.negative]
        target, profile = station.network_target(url)  # 2.0.1: its network profile's
        try:
            access = access_for(
                station.scenario.security,
                target,
                station.id,
                station.negative,
                station.password,
                station.certificate,
                profile,
            )
            transport = await connect(
                access.url,
                station.id,
                station.version,
                open_timeout_s,
                station.source_address,
                station.tracer(),
                access,
            )
        except ConnectionFailed as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            # A refusal is what a misbehaving station should get: not a failure.
            error = exc.reason if row is CONNECT else None
            station.sink.exchange(station.id, CONNECT, row, started, elapsed_ms, 0, error)
            station.set_state(State.OFFLINE)
            station.refused(exc)
            logger.info("%s: %s", station.id, exc.reason)
            delays = await _back_off(stop, station, delays, rng)
            continue
        except Exception as exc:  # fleet's own bug: counted and said, and the station goes on
            _station_error(station, exc)
            delays = await _back_off(stop, station, delays, rng)
            continue
        connected_at = time.perf_counter()
        connect_ms = (connected_at - started) * 1000
        if row is not CONNECT:  # the CSMS let in what it should have refused
            station.sink.exchange(station.id, CONNECT, row, started, connect_ms, 0, LET_IN)
            await transport.close(1000, "negative test")
            station.set_state(State.OFFLINE)
            delays = await _back_off(stop, station, delays, rng)
            continue
        station.sink.exchange(station.id, CONNECT, CONNECT, started, connect_ms, 0, None)
        if stop.is_set():
            await transport.close(1000, "station stopped")
            break
        stop.cover(station)
        try:
            ending = await station.run(transport)
        except Exception as exc:  # as above: a bug must not end the station for the run
            _station_error(station, exc)
            with contextlib.suppress(Exception):
                await transport.close(1011, "station error")
            delays = await _back_off(stop, station, delays, rng)
            continue
        finally:
            stop.uncover(station)
        if ending is Ending.STOPPED:
            break
        if station.accepted_on_connection:
            delays = None  # the policy starts again
        if ending is Ending.REBOOT:
            continue
        lifetime_ms = (time.perf_counter() - connected_at) * 1000
        reason = station.close_reason or "closed"
        error = None if station.storm_cut else reason  # a storm's drop is no failure
        station.sink.timing(station.id, CONNECTION_LOST, None, lifetime_ms, error)
        delays = await _back_off(stop, station, delays, rng, station.offline_left())


def _station_error(station: Station, exc: Exception) -> None:
    """fleet's own connection or station code failed: counted (``station_error``), where it
    once ended the station's task silently (the run then reported no failure at all)."""
    station.station_error(exc)
    station.set_state(State.OFFLINE)


async def _back_off(
    stop: StopSwitch,
    station: Station,
    delays: Iterator[float] | None,
    rng: random.Random | None,
    at_least_s: float = 0.0,
) -> Iterator[float]:
    """Wait the reconnect policy's next delay (at least ``at_least_s``) and return the delays
    to go on with. They are made on the first failure, not held from the start: a generator
    kept all along cost ~0.26 KB a station that never lost its connection."""
    if delays is None:
        delays = reconnect_delays(station.reconnect_rules(), rng)
    await _wait(stop, max(next(delays), at_least_s))
    return delays


async def _wait(stop: StopSwitch, delay_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)
