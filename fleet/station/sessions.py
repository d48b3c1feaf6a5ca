"""A connector's charger: its sessions (``session_life.SessionLife``: what runs by itself) and
what reaches them from outside: the CSMS's commands (remote start and stop, a reset or unlock
ending the session, a reservation marking the connector, TriggerMessage, changed settings), the
connection going away, and what the station reports of them. Pure, as the sessions: given the
time, the entry points answer with the messages to send, in order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fleet.scenario_charging import BY_APP
from fleet.station import pnc
from fleet.station.connectors import Status
from fleet.station.faults import FaultPlan
from fleet.station.intents import Send
from fleet.station.session_life import NOT_ASKED, Phase, SessionLife
from fleet.station.transaction import EV_LEFT, LOCAL, REMOTE, StopReason, fault_reason

__all__ = ["Charger", "FaultyCharger", "Phase"]


class Charger(SessionLife):
    """Sessions on one connector, for the station's whole life."""

    __slots__ = ()

    def went_offline(self, now_s: float) -> list[Send]:
        """The connection is gone: what waited for the CSMS goes on without it, as a real
        station keeps charging through an outage (its messages are queued, not lost)."""
        self.offline = True
        if self.phase is Phase.AUTHORIZING and self.demand is not None:
            validation, demand = self.config.plug_and_charge.validation, self.demand
            verdict = pnc.offline_verdict(self.settings, validation, demand.id_tag, demand.contract)
            return self._authorized({"idTagInfo": {"status": verdict}}, now_s)
        if self.phase is Phase.STARTING:
            return self._charging_unconfirmed(now_s)
        if self.phase is Phase.STOPPING:
            return self._ended(now_s)
        return []

    def remote_start(self, tag: str, now_s: float, remote_start_id: int | None) -> list[Send]:
        """RemoteStart/RequestStart accepted for this connector: the EV is plugged in now. With
        AuthorizeRemoteTxRequests (2.0.1 AuthorizeRemoteStart) the tag is authorised first, as
        a badge would be; refused, the transaction does not start."""
        if self.phase is Phase.PLUGGED:  # plugged in first, started from an app (F01)
            return self._started_by_app(tag, now_s, remote_start_id)
        self.demand = replace(self.gen.demand(), id_tag=tag, contract=False)
        self._leave_at = now_s + self.demand.plugged_s
        self.wake_at = None
        out = self._status(Status.PREPARING, now_s)
        if self.settings.authorize_remote:
            self._remote = (remote_start_id,)
            return out + self._ask(tag, now_s)
        return out + self._start(tag, now_s, "RemoteStart", remote_start_id)

    def _started_by_app(self, tag: str, now_s: float, remote_start_id: int | None) -> list[Send]:
        """The remote start the plugged-in driver waited for: its tag authorised as any
        remote start's (AuthorizeRemoteTxRequests), then the transaction starts (1.6
        StartTransaction; 2.0.1 the one the cable started goes on, triggerReason RemoteStart)."""
        assert self.demand is not None
        self.demand = replace(self.demand, id_tag=tag, contract=False)
        self._remote = (remote_start_id,)
        self.wake_at = None
        if self.settings.authorize_remote:
            return self._ask(tag, now_s)
        self.phase = Phase.AUTHORIZING
        return self._authorized(NOT_ASKED, now_s)

    @property
    def awaits_remote_start(self) -> bool:
        return self.phase is Phase.PLUGGED

    def remote_stop(self, now_s: float) -> list[Send]:
        return self._stop(REMOTE, now_s) if self.stoppable else []

    def end(self, reason: StopReason, now_s: float) -> list[Send]:
        """Stop a running transaction (Reset, UnlockConnector); the EV leaves with it."""
        return self._stop_unplugged(reason, now_s) if self.stoppable else []

    # --- a driver at the station (fleet's console) ---------------------------------------------

    def plug_in(self, tag: str | None, now_s: float) -> list[Send]:
        """A driver plugs in now and badges ``tag`` (None: the scenario's next driver's),
        whatever arrival was planned: the session then runs as an arrival's does (Preparing,
        authorisation, start). The caller has checked the connector is free."""
        demand = self.gen.demand()
        if tag is not None:
            demand = replace(demand, id_tag=tag, contract=False)
        self.wake_at = None
        return self._plugged(demand, now_s, tag is None and self.config.start == BY_APP)

    def stop_by_driver(self, now_s: float) -> list[Send]:
        """The driver badges to stop: the transaction ends (1.6 reason Local; 2.0.1
        triggerReason StopAuthorized with the idToken) and the EV stays plugged in until it was
        due to leave (Finishing meanwhile)."""
        return self._stop(LOCAL, now_s) if self.phase is Phase.CHARGING else []

    def unplug(self, now_s: float) -> list[Send]:
        """The driver pulls the cable out: a running transaction ends (EVDisconnected) and
        the connector is free; an EV parked after its transaction, or waiting for an app's
        start, leaves."""
        return self._pulled(EV_LEFT, now_s)

    # --- connector faults (the scenario's, or one at the console) -------------------------------

    @property
    def waiting(self) -> bool:
        """The session waits on the CSMS (an Authorize out, a start or stop unanswered)."""
        return self.phase in (Phase.AUTHORIZING, Phase.STARTING, Phase.STOPPING)

    def fail(self, code: str, now_s: float) -> list[Send]:
        """The connector fails with 1.6 error ``code``: Faulted (2.0.1 also a NotifyEvent), a
        running transaction stopped (1.6 reason Other; 2.0.1 AbnormalCondition with the
        fault's stoppedReason) and the EV unplugged with it. A connector the CSMS set
        Inoperative is Unavailable again when the fault clears, not Available."""
        connector = self.connector
        connector.error_code = code
        if connector.status is Status.UNAVAILABLE:
            connector.inoperative_after = True
        self.counts.faults += 1
        out = self._status(Status.FAULTED, now_s) + self._fault_event(code, now_s, False)
        return out + self._pulled(fault_reason(code), now_s)  # the EV unplugged with it

    def clear_fault(self, now_s: float) -> list[Send]:
        """The fault is over: Available again (Unavailable if an Inoperative was scheduled
        meanwhile, Reserved if the connector is held)."""
        connector = self.connector
        code, connector.error_code = connector.error_code, "NoError"
        if connector.status is not Status.FAULTED:  # the station was reset meanwhile
            return []
        event = self._fault_event(code, now_s, True)
        if connector.inoperative_after:  # ChangeAvailability Inoperative, Scheduled meanwhile
            connector.inoperative_after = False
            return self._status(Status.UNAVAILABLE, now_s) + event
        out = self._status(Status.AVAILABLE, now_s) + event
        if connector.reservation is not None:
            out += self._status(Status.RESERVED, now_s)
        return out

    def _fault_event(self, code: str, now_s: float, cleared: bool) -> list[Send]:
        """2.0.1 NotifyEvent for the fault (its start, or its end): event ids unique per
        connector (its id times 1,000,000 plus a count), the end's its start's + 1."""
        event_id = self.connector.id * 1_000_000 + 2 * self.counts.faults - (0 if cleared else 1)
        send = self.shapes.fault_event(self.connector.id, code, event_id, now_s, cleared)
        return [] if send is None else [send]

    def mark(self, status: Status, now_s: float) -> list[Send]:
        """The connector's status changed from outside a session (reserved, freed)."""
        return self._status(status, now_s)

    @property
    def free(self) -> bool:
        return self.phase is Phase.IDLE and not self.connector.busy

    def triggered(self, now_s: float, transaction_event: bool) -> list[Send]:
        """TriggerMessage: the values now, as MeterValues (of the running transaction, if any)
        or, 2.0.1, as a TransactionEvent Updated with triggerReason Trigger (none without a
        transaction)."""
        tx = self.tx if self.phase is Phase.CHARGING else None
        reading = self.meter.read(now_s, tx is not None and tx.charging_state == "Charging")
        if transaction_event:
            return [] if tx is None else [self.shapes.update(tx, reading, "Trigger", now_s)]
        return [self._meter_values(now_s, tx, "Trigger", reading)]

    @property
    def in_transaction(self) -> bool:
        return self.tx is not None

    @property
    def delivered_wh(self) -> float:
        """Energy delivered over the charger's life, the running session's so far included."""
        tx = self.tx
        if tx is None or self.phase is Phase.STOPPING:  # a stopped session is in counts
            return self.counts.energy_wh
        return self.counts.energy_wh + self.meter.register_wh - tx.meter_start_wh

    def matches(self, tx_id: Any) -> bool:
        return self.stoppable and self.tx is not None and self.tx.tx_id == tx_id

    def reconfigure(self, now_s: float) -> None:
        """The sample intervals changed: a running session samples on the new ones from now."""
        if self.phase is Phase.CHARGING:
            self.sampling.start(now_s)
            self._plan(now_s)
        else:
            self.sampling.align(now_s)


class FaultyCharger(Charger):
    """A charger whose connector fails now and then (scenario ``faults``): Faulted with the
    fault's error code, a running transaction stopped (1.6 reason Other; 2.0.1 triggerReason
    AbnormalCondition, stoppedReason GroundFault / OvercurrentFault / PowerQuality / Other) and
    the EV gone; arrivals go elsewhere until the fault clears, when the connector is Available
    again (Unavailable if an Inoperative was scheduled meanwhile, Reserved if it is held). A
    fault due while the charger waits on the CSMS (an Authorize, a start or stop unanswered)
    strikes once the wait is over. Only stations with faults pay for them: a separate class."""

    __slots__ = ("faults",)

    def __init__(self, *args: Any, faults: FaultPlan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults = faults

    @property
    def next_wake(self) -> float | None:
        wake, due = super().next_wake, self.faults.wake_at
        return due if wake is None or due < wake else wake

    def on_wake(self, now_s: float) -> list[Send]:
        plan = self.faults
        if now_s < plan.wake_at:
            return super().on_wake(now_s)
        out = self._cleared(now_s) if plan.code is not None else self._failed(now_s)
        return out + super().on_wake(now_s)

    def _failed(self, now_s: float) -> list[Send]:
        plan = self.faults
        if self.waiting:
            plan.defer(now_s)
            return []
        return self.fail(plan.fail(now_s), now_s)

    def _cleared(self, now_s: float) -> list[Send]:
        self.faults.clear(now_s)
        return self.clear_fault(now_s)
