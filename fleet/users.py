"""ChargePointUser: one Locust user is one charging station.

Users = stations, spawn rate = stations booted per second. A user that stops keeps its station
for as long as the process lives: when the user count rises again, or a new test starts from the
web UI, the same stations come back from the scenario's first id on (ids, energy registers,
configuration, sessions). The station itself runs on the process's uvloop thread
(``fleet.locust_ext.bridge``); the user only starts it and, when Locust stops the user, closes
its websocket cleanly and waits for its last samples. A user with nothing else to do runs no
greenlet at all (``station_only``). Write your own::

    from fleet.users import ChargePointUser

    class PublicChargers(ChargePointUser):
        scenario = "scenarios/mixed-fleet.yaml"
        weight = 3

    class DepotChargers(ChargePointUser):
        scenario = "scenarios/depot.yaml"   # its own id_pattern keeps ids apart
        weight = 1
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar

import gevent
import gevent.event
from gevent.pool import Group
from locust import User, constant
from locust.env import Environment
from locust.user.task import LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from fleet.errors import UsageError
from fleet.locust_ext import listeners
from fleet.locust_ext.bridge import get_bridge
from fleet.locust_ext.options import DEFAULT_ID_STRIDE
from fleet.scenario import Scenario, load_scenario
from fleet.shapes import with_shape_storm
from fleet.station.core import Station
from fleet.station.session import make_station

# gevent records, for every greenlet made, the stack it was spawned from (for its debugging
# tools, which neither Locust nor fleet use): a station-only user's never-started greenlet
# held ~0.7-1.4 KB of copied frames for it. One greenlet per station: not recorded.
gevent.config.track_greenlet_tree = False

_scenarios: dict[tuple[Any, ...], Scenario] = {}


class _Stations:
    """This process's stations of one id pattern. Numbers go out lowest free first, and a
    station whose user stops is kept: when Locust raises the user count again (or a new test
    starts), the same stations come back (same ids, registers, sessions) instead of new ones."""

    __slots__ = ("free", "kept", "numbers")

    def __init__(self) -> None:
        self.numbers: Iterator[int] = itertools.count(1)
        self.free: list[int] = []  # numbers whose user stopped (a heap)
        self.kept: dict[int, Station] = {}  # their stations

    def take(self) -> int:
        return heapq.heappop(self.free) if self.free else next(self.numbers)

    def give_back(self, number: int, station: Station) -> None:
        """The number is free again; its station is kept when the scenario keeps state
        (``stations.keep_state``), else the next user makes a new one with the same id."""
        heapq.heappush(self.free, number)
        if station.scenario.stations.keep_state:
            self.kept[number] = station


_stations: dict[str, _Stations] = {}  # per id pattern


assert listeners  # imported for its listeners on Locust's events


def scenario_for(
    user_class: type[ChargePointUser],
    environment: Environment,
    scenario: str | None = None,
    host: str | None = None,
    trace: str | None = None,
) -> Scenario:
    """The class's scenario (its own file, else --scenario), with --host as the CSMS URL and
    --fleet-trace as run.trace; ``scenario``, ``host`` and ``trace`` replace the options (the web
    UI's start form, before it takes effect). Loaded once per process for each (file, host,
    trace) and shared by all users of the class."""
    parsed = environment.parsed_options
    if scenario is None:
        scenario = getattr(parsed, "scenario", "") if parsed else ""
    path = user_class.scenario or scenario
    if not path:
        raise UsageError(
            f"{user_class.__name__} has no scenario: pass --scenario FILE or set "
            "`scenario = 'file.yaml'` on the class"
        )
    host = host or environment.host or user_class.host or None
    if trace is None:
        trace = getattr(parsed, "fleet_trace", "") if parsed else ""
    shape = environment.shape_class
    key = (path, host, trace or None, getattr(shape, "storm", None))
    if key not in _scenarios:
        loaded = load_scenario(path, {"csms.url": host, "run.trace": trace or None})
        _scenarios[key] = with_shape_storm(loaded, shape)  # a storm shape's storm added
    return _scenarios[key]


def station_index(environment: Environment, number: int) -> int:
    """Unique and deterministic across a run: worker index * stride + user number (from 1)."""
    runner = environment.runner
    worker = max(getattr(runner, "worker_index", 0), 0)
    return worker * _stride(environment) + number


def _stride(environment: Environment) -> int:
    return int(getattr(environment.parsed_options, "fleet_id_stride", DEFAULT_ID_STRIDE))


def ids_problem(
    environment: Environment, scenarios: list[Scenario], users: int, workers: int
) -> str | None:
    """Why ``users`` stations on ``workers`` processes would run past one of the scenarios'
    ids_file, else None."""
    stride = _stride(environment)
    for scenario in scenarios:
        problem = _past_ids(scenario, users, workers, stride)
        if problem is not None:
            return problem
    return None


def _past_ids(scenario: Scenario, users: int, workers: int, stride: int) -> str | None:
    """Each worker takes its ids from worker index x stride + 1; Locust gives each at most
    users / workers, rounded up."""
    listed = scenario.stations.listed_ids
    if not listed:
        return None
    per_worker = -(-users // max(workers, 1))
    last = (max(workers, 1) - 1) * stride + per_worker
    if last <= listed:
        return None
    if workers <= 1:
        return f"{users} stations, but stations.ids_file lists {listed} ids"
    return (
        f"{users} stations on {workers} workers need ids up to {last} (worker index x "
        f"--fleet-id-stride {stride} + its {per_worker}), but stations.ids_file lists "
        f"{listed}: set --fleet-id-stride to at most {listed // workers}"
    )


class ChargePointUser(User):
    """One simulated charging station. Subclass it and set ``scenario`` (or pass --scenario);
    ``--host`` (or the scenario's URL, or FLEET_CSMS_URL) is the CSMS.

    The station runs on its own (boot, heartbeats, answers). A subclass may add ``@task``s that
    send more with ``self.call(action, payload)``, paced by ``wait_time`` as in any Locust User::

        class Authorizing(ChargePointUser):
            wait_time = constant(60)

            @task
            def authorize(self):
                self.call("Authorize", {"idTag": "TAG-1"})

    A class without tasks, ``on_start`` or ``on_stop`` of its own is ``station_only``: its
    users hold no running greenlet (~8 KB less per station), and Locust counts, stops and
    waits for them as for any user.
    """

    abstract = True
    scenario: ClassVar[str | None] = None
    wait_time = constant(1)
    # True for a class with no tasks, on_start or on_stop of its own: its users need no running
    # greenlet (see ``start``). Worked out when the class is defined.
    station_only: ClassVar[bool] = False
    spare = False  # a user past the end of the scenario's ids_file: no station of its own

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.tasks:
            # Nothing to do but be a station: one task that returns at once, then a long wait,
            # so the user sits in Locust's waiting state (stopped at once, no wake-ups).
            cls.tasks = [_hold]
            if "wait_time" not in cls.__dict__:
                cls.wait_time = constant(24 * 3600)
        cls.station_only = (
            cls.tasks == [_hold]
            and cls.on_start is ChargePointUser.on_start
            and cls.on_stop is ChargePointUser.on_stop
        )

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        scenario = self.fleet_scenario = scenario_for(type(self), environment)
        self.bridge = get_bridge(environment.events, scenario.run.lag_warn_ms)
        ids = scenario.stations.ids_file or scenario.stations.id_pattern
        pool = self._pool = _stations.setdefault(ids, _Stations())
        self._number = pool.take()
        kept = pool.kept.pop(self._number, None)
        index = station_index(environment, self._number)
        # Past the end of an ids_file (the checks before a start let no such count through,
        # so this is a safety net): a user without a station of its own, which never starts,
        # and the test stops, saying why.
        self.spare = kept is None and 0 < scenario.stations.listed_ids < index
        if self.spare:
            _out_of_ids(environment, scenario, index)
        number = 1 if self.spare else index  # a spare's station object is never started
        self.station: Station = kept or make_station(scenario, number, self.bridge.sink)

    def start(self, group: Group) -> gevent.Greenlet:
        """Locust runs every user in a greenlet; a station-only user's would only sleep, and a
        sleeping greenlet keeps its slice of the C stack on the heap: ~8 KB per station, as
        much as the whole station headless. Such a user gets a greenlet that is never started,
        in Locust's group as any user's is (counted, found by class, waited for when stopped);
        its station starts here and ``stop`` ends it. Other users run as Locust runs them."""
        if not self.station_only:
            return super().start(group)
        self._greenlet = gevent.Greenlet(_never_runs, self)  # args[0]: Locust finds the user
        self._group = group
        group.add(self._greenlet)
        self._state = LOCUST_STATE_WAITING
        self.on_start()
        return self._greenlet

    def stop(self, force: bool = False) -> bool:
        """Locust calls this from a greenlet of its own: a station-only user's station is
        closed here (``on_stop``, waiting for it as Locust waits for a user's on_stop), then its
        greenlet is ended, which Locust's stopping waits for."""
        if not self.station_only:
            return bool(super().stop(force))
        if self._state == LOCUST_STATE_STOPPING:
            return False  # being stopped already: Locust waits for the greenlet
        self._state = LOCUST_STATE_STOPPING
        try:
            self.on_stop()
        finally:
            self._group.killone(self._greenlet, block=False)
        return True

    def on_start(self) -> None:
        if not self.spare:
            self.bridge.start(self.station, self.fleet_scenario.csms.url_for(self.station.version))

    def call(self, action: str, payload: dict[str, Any], timeout_s: float | None = None) -> Any:
        """Send an OCPP CALL from a task and return the CALLRESULT payload; raises CallFailed.
        Reported like every station exchange (once: the station records it)."""
        wait_s = timeout_s or self.fleet_scenario.csms.call_timeout_s * 2
        return self.submit(lambda: self.station.call(action, payload)).get(timeout=wait_s)

    def submit(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> gevent.event.AsyncResult:
        """Run a coroutine on the stations' loop, e.g. ``lambda: self.station.send_status([1])``."""
        return self.bridge.submit(make)

    def on_stop(self) -> None:
        if self.spare:
            return
        # Close code 1000, then wait (gevent-friendly) so the station's last samples are reported.
        ended = self.bridge.stop(self.station, timeout_s=self.fleet_scenario.csms.call_timeout_s)
        if ended:  # a session still winding down is not handed to a new user
            self._pool.give_back(self._number, self.station)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.station.id} OCPP {self.station.version}>"


def _out_of_ids(environment: Environment, scenario: Scenario, index: int) -> None:
    """One line, and the test stops: no station runs without an id of its own."""
    listed = scenario.stations.listed_ids
    listeners.logger.error(
        "fleet: station %d has no id: stations.ids_file lists %d (worker index x "
        "--fleet-id-stride %d + user number); the test stops",
        index,
        listed,
        _stride(environment),
    )
    environment.process_exit_code = 2
    runner = environment.runner
    if runner is not None:
        gevent.spawn(runner.quit)


def _never_runs(user: ChargePointUser) -> None:
    raise AssertionError(f"{user!r}: a station-only user's greenlet is never started")


def _hold(user: ChargePointUser) -> None:
    """The task of a station with nothing else to do: its own state machine drives it."""


# What Locust's task ratio (the report's "Final ratio") shows for such a station.
_hold.__name__ = _hold.__qualname__ = "station (boots, heartbeats, answers the CSMS)"
