"""A station's life on the engine, shared by OCPP 1.6 and 2.0.1: boot until accepted, report
connectors, start the chargers (heartbeats and the clock: ``beating.Beating``, its base). What
to do is decided by the pure ``booting.Booting``; this carries its intents out on the loop.
A station lives across connections (its id, configuration and counters persist); ``run()`` is
one connection's life, until the transport closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, ClassVar

from fleet.errors import CallFailed
from fleet.metrics.sample import BOOT_ACCEPTED, RECONNECTED, Sink
from fleet.scenario import Reconnect, Scenario
from fleet.station.beating import Beating
from fleet.station.booting import (
    Accepted,
    Become,
    Booting,
    ReportConnectors,
    StartBeats,
    StartChargers,
    SyncClock,
)
from fleet.station.booting import Intent as BootIntent
from fleet.station.charging import Chargers
from fleet.station.delivery import Delivery, Done
from fleet.station.engine import Ending
from fleet.station.local_list import LocalList
from fleet.station.rare import Rare
from fleet.station.settings import RECONNECT, SETTINGS
from fleet.station.state import State
from fleet.station.transaction import Shapes, Tx

logger = logging.getLogger("fleet.station")
_WHOLE = ("repeat_times", "offline_threshold_s")  # reconnect fields that are whole numbers


class Life(Beating):
    """A station's life on its connections, common to both versions: boot until accepted,
    connector reports, and its chargers started once accepted (heartbeats: ``Beating``).
    ``Station`` adds the answers to the CSMS's commands."""

    # A station's attributes live in slots, declared by the class that owns them. In a plain
    # instance CPython 3.11 keeps them inline only while their names are among the class's
    # shared keys: at most 30, and each new instance shrinks the room for names not yet seen,
    # so a name first set after a few stations exist gets that station a dict table of its
    # own (1,584 bytes; ~12 % of an idle station). Names set late are the rare events': a
    # TriggerMessage's follow-up, a connector set Inoperative, a storm's drop (measured: every
    # one of 12 stations got a table from each). Slots have room for every name from the start;
    # what only rare events set is ``Rare`` (``rare.py``), costing nothing until set.
    __slots__ = (
        "_lost_at",
        "_resume",
        "accepted_on_connection",
        "boot_reason",
        "booting",
        "charging",
        "outbound",
        "settings",
        "source_address",
        "tx_open",
    )
    tx_shapes: ClassVar[Shapes]
    after_reboot: Rare[dict[str, str] | None] = Rare(None)  # changes that wait for a reboot
    unavailable: Rare[frozenset[int]] = Rare(frozenset())  # connectors set Inoperative
    _wake: Rare[asyncio.Future[bool] | None] = Rare(None)
    _outage_since: Rare[float | None] = Rare(None)  # as _lost_at, perf_counter, until accepted
    firmware: Rare[str | None] = Rare(None)  # installed by an update (None: the scenario's)
    local_list: Rare[LocalList | None] = Rare(None)  # made by the first SendLocalList
    negative: Rare[str | None] = Rare(None)  # security.negative: what it does wrong on purpose
    password: Rare[bytes | None] = Rare(None)  # Basic auth, as the CSMS set it (None: scenario's)
    certificate: Rare[tuple[str, str] | None] = Rare(None)  # signed by the CSMS: chain, key files
    network_profile: Rare[int | None] = Rare(None)  # the security profile a network profile set
    surges: Rare[tuple[tuple[float, float, float], ...]] = Rare(())  # peak hours, epoch seconds
    # The connectors' statuses when an accepted connection was lost (when drops may resume).
    lost_statuses: Rare[tuple[str, ...] | None] = Rare(None)

    def __init__(self, station_id: str, scenario: Scenario, sink: Sink) -> None:
        super().__init__(station_id, scenario, sink)
        self.settings: dict[str, str] = {}  # only keys changed from settings.SETTINGS defaults
        self.booting = Booting(scenario.heartbeat, scenario.boot.retry_s)
        self.accepted_on_connection = False  # the session resets its back-off only after this
        self.charging: Chargers | None = None  # made when first needed
        self._resume: list[BootIntent] = []  # this connection goes on without booting
        self.boot_reason = "PowerUp"
        self.tx_open = False  # accepted and started on this connection: transaction messages go
        self.outbound: Delivery | None = None  # transaction messages (made by the first one)
        self._lost_at: float | None = None  # when an accepted connection was lost (monotonic)
        self.source_address: str | None = None  # local address to connect from (None: any)

    def deliver(
        self, action: str, payload: dict[str, Any], row: str, tx: Tx, done: Done | None
    ) -> None:
        """Send a transaction message in order after the ones before it; while offline it
        waits for the next acceptance (``delivery.Delivery``)."""
        if self.outbound is None:
            self.outbound = Delivery(self)
        self.outbound.put(action, payload, row, tx, done)

    def _busy(self) -> bool:
        return super()._busy() or (self.outbound is not None and self.outbound.pending > 0)

    def message_attempts(self) -> tuple[int, float]:
        """(attempts, interval s) for a transaction message the CSMS did not process: 1.6
        TransactionMessageAttempts / RetryInterval, 2.0.1 OCPPCommCtrlr.MessageAttempts /
        MessageAttemptInterval (TransactionEvent)."""
        offline = self.scenario.offline
        attempts = self.settings.get("TransactionMessageAttempts")
        interval = self.settings.get("TransactionMessageRetryInterval")
        return (
            offline.message_attempts if attempts is None else int(attempts),
            offline.attempt_interval_s if interval is None else float(interval),
        )

    def local(self) -> LocalList | None:
        """The local list, when LocalAuthListEnabled (LocalAuthListCtrlr.Enabled)."""
        enabled = self.settings.get(
            "LocalAuthListEnabled", SETTINGS["LocalAuthListEnabled"].default
        )
        return self.local_list if enabled == "true" else None

    def reconnect_rules(self) -> Reconnect:
        """The scenario's reconnect rules, with the RetryBackOff values the CSMS set (2.0.1)."""
        rules = self.scenario.reconnect
        changed = {
            field: (int if field in _WHOLE else float)(self.settings[key])
            for key, field in RECONNECT.items()
            if key in self.settings
        }
        return rules.model_copy(update=changed) if changed else rules

    def chargers(self) -> Chargers:
        """The station's chargers (sessions, meters), made on first use."""
        if self.charging is None:
            self.charging = Chargers(self)
        return self.charging

    def running_chargers(self) -> Chargers:
        """The chargers, with their timers running once the station is accepted: a session
        started from outside (a remote start, fleet's console) on a station whose scenario
        has none of its own reads its meter and ends as any other. (Made but not begun, such
        a session sent StartTransaction and then nothing: no meter values, no end.)"""
        chargers = self.chargers()
        if not chargers.running and self.state is State.ACCEPTED:
            chargers.begin()
        return chargers

    # --- version-specific shapes (overridden) ----------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def status_payloads(self, connectors: list[int]) -> list[dict[str, Any]]:
        """StatusNotification payloads for these connectors (1.6: 0 = whole station)."""
        raise NotImplementedError

    def all_connectors(self) -> list[int]:
        raise NotImplementedError

    def status_of(self, connector: int) -> str:
        """The status StatusNotification reports for this connector."""
        raise NotImplementedError

    def statuses(self) -> tuple[str, ...]:
        """Every connector's status, in ``all_connectors()`` order."""
        return tuple(self.status_of(connector) for connector in self.all_connectors())

    # --- one connection --------------------------------------------------------------------------

    def _connected(self) -> None:
        super()._connected()
        if self.outbound is not None:
            self.outbound.returned()
        self.booting.connected()
        self.accepted_on_connection = False
        lost_at, self._lost_at = self._lost_at, None
        lost_for = None if lost_at is None else time.monotonic() - lost_at
        rules = self.reconnect_rules()
        self._resume = self.booting.resumed(
            lost_for, rules.resume_within_s, self.heartbeat_s, rules.offline_threshold_s
        )

    def _disconnected(self, ending: Ending) -> None:
        lost = ending is Ending.LOST and self.state is State.ACCEPTED
        self._lost_at = time.monotonic() if lost else None
        if lost and self._outage_since is None:
            self._outage_since = time.perf_counter()
            if self.scenario.reconnect.resume_within_s:  # what a resumed drop compares with
                self.lost_statuses = self.statuses()
        if ending is Ending.REBOOT and self.after_reboot:
            self.settings.update(self.after_reboot)
            self.after_reboot = None
        self.tx_open = False
        if self.outbound is not None:
            self.outbound.offline()
        if self.charging is not None:
            if ending is Ending.LOST:  # a real station keeps charging through an outage
                self.charging.went_offline()
            else:
                self.charging.halt()
        self._beats_disconnected(lost=ending is Ending.LOST)

    def ended(self) -> None:
        """The session is over (stopped while offline): beats missed since the connection was
        lost are counted now, as no new connection will."""
        self._run_beats(self.beats.ended(self._loop_time()))
        if self.charging is not None:
            self.charging.close()
        if self.outbound is not None:
            self.outbound.stopped()

    # --- life: boot, then heartbeats -------------------------------------------------------------

    async def _life(self) -> None:
        resume, self._resume = self._resume, []
        if resume:  # a short drop: on as Accepted, no BootNotification
            await self._carry_out(resume, None)
            return
        while (again_at := await self.boot()) is not None:
            await self._sleep_until(again_at)

    async def boot(self) -> float | None:
        """Send BootNotification and carry out what the answer means (``booting.Booting``
        decides). Returns when to boot again (loop time), or None once accepted."""
        loop = asyncio.get_running_loop()
        self.booting.sending(loop.time())
        try:
            answer = await self.call("BootNotification", self.boot_payload(), judge=_judge_boot)
        except CallFailed:
            answer = None
        return await self._carry_out(
            self.booting.answered(answer, loop.time(), time.time()), answer
        )

    async def _carry_out(self, intents: list[BootIntent], answer: Any) -> float | None:
        """Carry out what booting decided; when to boot again (loop time), or None."""
        loop = asyncio.get_running_loop()
        again_at = None
        for intent in intents:
            if isinstance(intent, SyncClock):
                self.clock_offset_s = intent.offset_s
            elif isinstance(intent, Accepted):
                self._accepted(intent)
            elif isinstance(intent, ReportConnectors):
                await self.send_status(self._to_report(intent.changed_only))
            elif isinstance(intent, StartBeats):
                self._run_beats(self.beats.start(loop.time(), intent.every_s))
            elif isinstance(intent, StartChargers):
                self.tx_open = True
                if self.outbound is not None:
                    self.outbound.online()  # what waited goes first, in order
                self._start_chargers()
                await self.booted()
            elif isinstance(intent, Become):
                self.set_state(intent.state)
            else:
                again_at = intent.at_s
                status = "no answer" if answer is None else answer["status"]
                wait_s = again_at - loop.time()
                logger.info("%s %s, booting again in %.3g s", self.id, status, wait_s)
        return again_at

    def _to_report(self, changed_only: bool) -> list[int]:
        """The connectors to report on a connection: all, or (after a short resumed drop)
        those whose status changed since the connection was lost."""
        connectors = self.all_connectors()
        before = self.lost_statuses
        if before is None:
            return connectors
        self.lost_statuses = None  # (only when set: setting a Rare makes the station's table)
        if not changed_only:
            return connectors
        now = self.statuses()
        return [c for c, old, new in zip(connectors, before, now, strict=True) if old != new]

    def set_state(self, new: State) -> None:
        super().set_state(new)
        if new is State.ACCEPTED and self._outage_since is not None:
            since, self._outage_since = self._outage_since, None
            ms = (time.perf_counter() - since) * 1000
            self.sink.timing(self.id, RECONNECTED, since, ms, None)

    def _accepted(self, accepted: Accepted) -> None:
        self.heartbeat_s = accepted.every_s
        if accepted.waited_s is not None:
            started = time.perf_counter() - accepted.waited_s
            self.sink.timing(self.id, BOOT_ACCEPTED, started, accepted.waited_s * 1000, None)
            logger.info("%s accepted (heartbeat every %g s)", self.id, accepted.every_s)
        self.set_state(State.ACCEPTED)
        self.accepted_on_connection = True
        self.boot_reason = "PowerUp"

    async def booted(self) -> None:
        """Accepted on a connection, connectors reported, schedules started (a hook)."""

    def _start_chargers(self) -> None:
        """Chargers run once the station has any (a remote start made them before), or when
        the scenario has sessions; an idle fleet makes none."""
        sessions = self.scenario.sessions
        if (
            self.charging is not None
            or sessions.arrivals_per_hour
            or sessions.start == "remote_only"
            or self.scenario.faults.per_day
        ):
            self.chargers().begin()

    async def _sleep_until(self, due: float) -> bool:
        """Sleep until ``due`` (loop time); True if ``wake()`` cut it short. No task is created."""
        loop = self._loop or asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_at(due, _resolve, wake, False)
        try:
            return await wake
        finally:
            timer.cancel()
            self._wake = None

    def wake(self) -> None:
        """Cut the current wait short: boot now (Pending) or re-plan heartbeats (Accepted)."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(True)
        self._replan_beats()

    async def send_each(self, action: str, payloads: list[dict[str, Any]]) -> None:
        """Send CALLs one after another (reports after their request's answer); one that
        fails does not stop the rest."""
        for payload in payloads:
            with contextlib.suppress(CallFailed):
                await self.call(action, payload)

    def then_send(self, action: str, payload: dict[str, Any]) -> None:
        """Send a CALL from synchronous code, as a task of its own (its failure is counted)."""
        self._spawn(self.send_each(action, [payload]))

    async def send_status(self, connectors: list[int]) -> None:
        for payload in self.status_payloads(connectors):
            with contextlib.suppress(CallFailed):
                await self.call("StatusNotification", payload)


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _judge_boot(payload: dict[str, Any]) -> str | None:
    return "boot Rejected by the CSMS" if payload.get("status") == "Rejected" else None
