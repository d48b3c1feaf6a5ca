"""Charging sessions on one connector: when they happen, what the station sends, per version.

Pure decisions, no loop and no sockets. A ``Charger`` (``sessions.py``: this, and what reaches
the sessions from outside) is told the time (the station's wall
clock, epoch seconds) and what happened (a wake-up it asked for, the CSMS's answer to a message
it sent, a remote start or stop) and answers with the messages to send, in order; ``wake_at``
says when it wants to be woken next. The engine sends the messages through the station's outbox
(so they keep their order) and feeds each answer back.

The life of a session, 1.6: Preparing -> Authorize (badge first / plug first; plug then remote:
the CSMS's remote start, from the driver's app) ->
StartTransaction (the CSMS's transactionId) -> Charging, MeterValues every sample interval
(SuspendedEV once the EV is full) -> StopTransaction -> Available (EV gone) or Finishing until
it leaves. 2.0.1: the same session as TransactionEvent Started / Updated / Ended, with a
transactionId the station makes and seqNo counting every message of the transaction from 0.
"""

from __future__ import annotations

import enum
import math
from dataclasses import replace
from typing import Any, Final

from fleet.scenario_charging import BY_APP, Sessions
from fleet.station import pnc
from fleet.station.connectors import Connector, Status
from fleet.station.contracts import contracts_for
from fleet.station.generator import Demand, SessionGenerator
from fleet.station.intents import Send
from fleet.station.meter import Meter
from fleet.station.transaction import (
    DEAUTHORIZED,
    EV_LEFT,
    Counts,
    Shapes,
    StopReason,
    Tx,
    TxSettings,
    accepts,
)
from fleet.station.tx_readings import Readings

NOT_ASKED: Final = {"idTokenInfo": {"status": "Accepted"}}  # authorisation switched off
# The answers a charger acts on (besides a TransactionEvent's carrying idTokenInfo).
# (1.6 DataTransfer: only a Plug & Charge Authorize's is sent by a charger.)
_HEEDED = frozenset({"Authorize", "DataTransfer", "StartTransaction", "StopTransaction"})


class Phase(enum.Enum):
    IDLE = "idle"  # no EV (waiting for the next arrival)
    AUTHORIZING = "authorizing"
    STARTING = "starting"  # 1.6: StartTransaction sent, no transactionId yet
    CHARGING = "charging"  # a transaction runs (also while suspended)
    STOPPING = "stopping"  # 1.6: StopTransaction sent
    PARKED = "parked"  # the transaction ended, the EV is still plugged in
    PLUGGED = "plugged"  # the driver starts from an app: waiting for the CSMS's remote start


class SessionLife(Readings):
    """A connector's sessions as they run by themselves: arrivals, authorisation, start, readings,
    stop, departure, and the CSMS's answers to what they sent (``sessions.Charger`` adds what
    comes from outside; ``tx_readings.Readings`` what the meter sends meanwhile)."""

    __slots__ = (
        "_leave_at",
        "_remote",
        "counts",
        "demand",
        "gen",
        "new_tx_id",
        "offline",
        "phase",
        "tx",
        "wake_at",
    )

    def __init__(
        self,
        connector: Connector,
        meter: Meter,
        gen: SessionGenerator,
        shapes: Shapes,
        new_tx_id: Any,
        settings: TxSettings | None = None,
    ) -> None:
        super().__init__(connector, meter, shapes, settings or TxSettings.of(gen.config))
        self.gen = gen
        self.new_tx_id = new_tx_id  # () -> str: 2.0.1 transaction ids
        self.phase = Phase.IDLE
        self.demand: Demand | None = None
        self.tx: Tx | None = None
        self.counts = Counts()
        self.wake_at: float | None = None
        self._leave_at = 0.0
        # A remote start being authorised first (AuthorizeRemoteTxRequests): its remoteStartId.
        self._remote: tuple[int | None] | None = None
        # The station has no accepted connection: it decides without the CSMS (authorises by
        # its offline rules, starts and stops 1.6 transactions without waiting for answers).
        self.offline = False

    @property
    def config(self) -> Sessions:
        return self.gen.config

    # --- what the engine calls -------------------------------------------------------------------

    @property
    def next_wake(self) -> float | None:
        """When to wake the charger: its session's next step, or (outside a transaction) the
        next clock-aligned reading, whichever comes first."""
        wake = self.wake_at
        if self.phase is Phase.CHARGING:
            return wake
        return self.sampling.first_due(False, wake)

    def begin(self, now_s: float) -> list[Send]:
        """The station is accepted: plan the next arrival (or go on with the session)."""
        self.sampling.align(now_s)
        if self.phase is Phase.IDLE:
            self._plan_arrival(now_s)
        elif self.wake_at is None:
            self.wake_at = now_s
        return []

    def on_wake(self, now_s: float) -> list[Send]:
        out = []
        if self.phase is not Phase.CHARGING and self.sampling.clock_due(now_s):
            # Clock-aligned data outside a transaction: the connector's meter, no transaction
            # (1.6 MeterValues without transactionId, 2.0.1 MeterValues for the EVSE).
            out.append(self._meter_values(now_s, None, "MeterValueClock"))
        wake, self.wake_at = self.wake_at, None
        if wake is None or now_s < wake:  # woken for the clock only
            self.wake_at = wake
            return out
        if self.phase is Phase.IDLE:
            return out + self._arrive(now_s)
        if self.phase is Phase.CHARGING:
            return out + self._tick(now_s) if out else self._tick(now_s)
        if self.phase is Phase.PARKED and now_s >= self._leave_at:
            return out + self._leave(now_s)
        if self.phase is Phase.PLUGGED and now_s >= self._leave_at:  # no start came: gone
            return out + self._pulled(EV_LEFT, now_s)
        self._plan(now_s)
        return out

    @staticmethod
    def heeds(action: str, answer: dict[str, Any] | None) -> bool:
        """Whether ``on_answer`` could do anything with this answer. Most answers (a reading's,
        a status's, a TransactionEvent's without idTokenInfo) change nothing, and asking for a
        decision on each cost ~5 % of a TransactionEvent's CPU in a whole run (bench 15)."""
        if action == "TransactionEvent":
            return answer is not None and "idTokenInfo" in answer
        return action in _HEEDED

    @staticmethod
    def heeds_answer_to(send: Send) -> bool:
        """Whether ``heeds`` could say yes to the answer to ``send``; when not, the sender needs
        no callback. A TransactionEvent's only when it carried an idToken: idTokenInfo is the
        CSMS's verdict on that token (2.0.1: "required when the transactionEventRequest
        contained an idToken"); a reading's or a status's never."""
        if send.action == "TransactionEvent":
            return "idToken" in send.payload
        return send.action in _HEEDED

    def on_answer(self, action: str, answer: dict[str, Any] | None, now_s: float) -> list[Send]:
        """The CSMS's answer to a message this charger sent (None: it failed; see ``heeds``)."""
        if action == "Authorize":
            return self._authorized(answer, now_s)
        if action == "DataTransfer":  # 1.6 Plug & Charge: the 2.0.1 answer inside
            return self._authorized(pnc.unwrapped(answer), now_s)
        if action == "StartTransaction":
            return self._started16(answer, now_s)
        if action == "StopTransaction":
            return self._stopped(now_s)
        if action == "TransactionEvent" and answer is not None and self.tx is not None:
            info = answer.get("idTokenInfo")
            if info and info.get("status") != "Accepted" and self.phase is Phase.CHARGING:
                return self._stop(DEAUTHORIZED, now_s)
        return []

    # --- the session -----------------------------------------------------------------------------

    def _plan_arrival(self, now_s: float) -> None:
        if self.config.start == "remote_only":
            self.wake_at = None
            return
        self.wake_at = self.gen.next_arrival(now_s)

    def _arrive(self, now_s: float) -> list[Send]:
        connector = self.connector
        if connector.busy or connector.status is Status.UNAVAILABLE or connector.reservation:
            self._plan_arrival(now_s)  # nobody charges here now: the driver goes elsewhere
            return []
        return self._plugged(self.gen.demand(), now_s, self.config.start == BY_APP)

    def _plugged(self, demand: Demand, now_s: float, by_app: bool = False) -> list[Send]:
        """An EV is plugged in now, its driver badging ``demand.id_tag`` or (``by_app``)
        starting from an app: the station then waits for the CSMS's remote start (1.6 in
        Preparing; 2.0.1 F01, its transaction Started by the cable with TxStartPoint
        EVConnected) until the driver gives up and unplugs, when the EV was due to leave."""
        self.demand = demand
        self._leave_at = now_s + demand.plugged_s
        out = self._status(Status.PREPARING, now_s)
        if self.settings.start_on_plug and self.shapes.v201:
            out += self._start(demand.id_tag, now_s, "CablePluggedIn", None, authorized=False)
        if by_app:
            self.phase = Phase.PLUGGED
            self.wake_at = self._leave_at
            return out
        return out + self._ask(demand.id_tag, now_s)

    def _ask(self, tag: str, now_s: float) -> list[Send]:
        """Authorise ``tag`` before starting: by the local list or, offline, the station's
        offline rules when they decide, else by an Authorize to the CSMS."""
        self.phase = Phase.AUTHORIZING
        if not self.settings.authorize:  # 2.0.1 AuthCtrlr.Enabled false: nobody is asked
            return self._authorized(NOT_ASKED, now_s)
        demand, pnc_config = self.demand, self.config.plug_and_charge
        contract = demand is not None and demand.contract and demand.id_tag == tag
        if contract and not pnc.takes_contracts(self.settings, pnc_config.validation):
            assert demand is not None
            self.demand = demand = replace(demand, id_tag=demand.badge, contract=False)
            tag, contract = demand.id_tag, False  # the driver badges instead
        listed = self.settings.listed(tag)
        if listed is None and self.offline:  # nobody to ask: the station's offline rules
            listed = pnc.offline_verdict(self.settings, pnc_config.validation, tag, contract)
        if listed is not None:  # on the local list: decided without asking the CSMS
            return self._authorized({"idTagInfo": {"status": listed}}, now_s)
        if contract:
            central = pnc_config.validation == "central"
            return [self.shapes.authorize(tag, contracts_for(pnc_config).of(tag), central)]
        return [self.shapes.authorize(tag)]

    def _authorized(self, answer: dict[str, Any] | None, now_s: float) -> list[Send]:
        if self.phase is not Phase.AUTHORIZING or self.demand is None:
            return []
        accepted = accepts(answer)
        tx = self.tx
        remote, self._remote = self._remote, None
        if tx is not None and tx.started:  # 2.0.1 plug first: the transaction runs already
            if not accepted:
                return self._stop(DEAUTHORIZED, now_s)
            tx.tag, tx.charging_state = self.demand.id_tag, "Charging"
            tx.contract = self.demand.contract  # a contract the station took, not its badge
            trigger = "Authorized"
            if remote is not None:  # started from the app (F01): with its remoteStartId
                tx.remote_start_id, trigger = remote[0], "RemoteStart"
            self._charging(now_s)
            return [self.shapes.update(tx, None, trigger, now_s), *self._needs()]
        if not accepted:  # the driver leaves
            return self._gone(now_s)
        if remote is not None:
            return self._start(self.demand.id_tag, now_s, "RemoteStart", remote[0])
        return self._start(self.demand.id_tag, now_s, "Authorized", None)

    def _start(
        self,
        tag: str,
        now_s: float,
        trigger: str,
        remote_start_id: int | None,
        authorized: bool = True,
    ) -> list[Send]:
        assert self.demand is not None
        self.meter.plug(self.demand, now_s)
        reading = self.meter.read(now_s)
        tx = self.tx = Tx(self.connector.id, tag, self.settings.measurands)
        tx.contract = self.demand.contract and self.demand.id_tag == tag
        if self.settings.keeps_series:
            tx.series = []
        tx.remote_start_id, tx.trigger = remote_start_id, trigger
        held = self.connector.reservation
        if held is not None and held.tag == tag:  # the reservation's driver: it is used up
            tx.reservation_id, self.connector.reservation = held.id, None
        tx.meter_start_wh, tx.started_s = reading.energy_wh, now_s
        self.counts.started += 1
        if not self.shapes.v201:
            self.phase = Phase.STARTING
            out = [self.shapes.start(tx, reading, now_s, self.settings.begin)]
            return out + self._charging_unconfirmed(now_s) if self.offline else out
        tx.tx_id = self.new_tx_id()
        tx.charging_state = "Charging" if authorized else "EVConnected"
        tx.started = True
        out = [self.shapes.start(tx, reading, now_s, self.settings.begin)]
        if authorized:
            out = self._status(Status.CHARGING, now_s) + out + self._needs()
            self._charging(now_s)
        return out

    def _needs(self) -> list[Send]:
        config, evse = self.config.plug_and_charge, self.meter.evse
        return pnc.needs(self.shapes, config, self.connector.id, self.demand, evse, self._leave_at)

    def _charging_unconfirmed(self, now_s: float) -> list[Send]:
        """1.6, offline: charge without the CSMS's transactionId (the queue fills it in)."""
        self._charging(now_s)
        return self._status(Status.CHARGING, now_s)

    def _started16(self, answer: dict[str, Any] | None, now_s: float) -> list[Send]:
        tx = self.tx
        if self.phase is not Phase.STARTING or tx is None:
            # The answer to a start sent offline, delivered since: the session went on
            # meanwhile; if it is still the one charging, the verdict on its tag applies now.
            if answer is None or tx is None or self.phase is not Phase.CHARGING:
                return []
            if tx.tx_id == answer.get("transactionId") and not accepts(answer):
                return self._stop(DEAUTHORIZED, now_s) if self.settings.stop_on_invalid_id else []
            return []
        if answer is None:  # no transactionId: the session cannot go on
            self.meter.unplug(now_s)
            self.tx = None
            return self._gone(now_s)
        tx.tx_id = answer.get("transactionId")
        self._charging(now_s)
        if not accepts(answer):
            if self.settings.stop_on_invalid_id:
                return self._stop(DEAUTHORIZED, now_s)
            tx.charging_state = "SuspendedEVSE"
            return self._status(Status.SUSPENDED_EVSE, now_s)
        return self._status(Status.CHARGING, now_s)

    def _tick(self, now_s: float) -> list[Send]:
        tx = self.tx
        assert tx is not None
        if now_s >= self._leave_at:
            return self._stop_unplugged(EV_LEFT, now_s)
        charging = tx.charging_state == "Charging"
        out = self._due_readings(tx, now_s, charging)
        if charging and self.meter.full:
            tx.charging_state = "SuspendedEV"
            out += self._status(Status.SUSPENDED_EV, now_s)
            if self.shapes.v201:
                out.append(self.shapes.update(tx, None, "ChargingStateChanged", now_s))
        self._plan(now_s)
        return out

    def _stop(self, reason: StopReason, now_s: float) -> list[Send]:
        tx = self.tx
        assert tx is not None
        charging = tx.charging_state == "Charging"
        reading = self.meter.read(now_s, charging)
        self.counts.energy_wh += reading.energy_wh - tx.meter_start_wh
        left = reason is EV_LEFT
        tx.charging_state = "Idle" if left else "EVConnected"
        out = [self.shapes.stop(tx, reading, reason, now_s, self.settings.end)]
        if self.shapes.v201 or self.offline:  # nothing to wait for (2.0.1: its own id)
            return out + self._ended(now_s)
        self.phase = Phase.STOPPING
        self.wake_at = None
        return out

    def _stop_unplugged(self, reason: StopReason, now_s: float) -> list[Send]:
        """Stop the transaction with the EV unplugged (the driver's cable out, a fault, an
        unlock, a reset): it leaves once the transaction is over, whatever the clock reads then.
        ``now_s`` may run a few ms ahead of the answer that follows (``charging.EARLY_S``), and
        the time of leaving once read 'not yet': the EV stayed parked, Finishing, through a
        fault (with the fault's 1.6 errorCode) or until it was due to leave."""
        self._leave_at = -math.inf
        return self._stop(reason, now_s)

    @property
    def stoppable(self) -> bool:
        """A transaction has begun and is not stopping yet: charging, or waiting (1.6 for
        its transactionId; 2.0.1 started by the cable, for authorisation or an app)."""
        return self.tx is not None and self.phase is not Phase.STOPPING

    def _pulled(self, reason: StopReason, now_s: float) -> list[Send]:
        """The cable is out now (the driver, a fault): a transaction that has begun ends with
        ``reason``; an EV parked or waiting for an app's start just leaves."""
        if self.stoppable:
            return self._stop_unplugged(reason, now_s)
        if self.phase in (Phase.PARKED, Phase.PLUGGED):
            return self._leave(now_s)
        return []

    def _stopped(self, now_s: float) -> list[Send]:
        if self.phase is not Phase.STOPPING:
            return []
        return self._ended(now_s)

    def _ended(self, now_s: float) -> list[Send]:
        """The transaction is over on the station's side (1.6: StopTransaction answered)."""
        self.counts.completed += 1
        self.tx = None
        if now_s >= self._leave_at:
            return self._leave(now_s)
        self.phase = Phase.PARKED
        self.wake_at = self._leave_at
        return self._status(Status.FINISHING, now_s)

    def _leave(self, now_s: float) -> list[Send]:
        self.meter.unplug(now_s)
        return self._gone(now_s)

    # --- helpers ---------------------------------------------------------------------------------

    def _charging(self, now_s: float) -> None:
        """The transaction charges: readings sampled from now, the next wake-up planned."""
        self.phase = Phase.CHARGING
        self.sampling.start(now_s)
        self._plan(now_s)

    def _gone(self, now_s: float) -> list[Send]:
        """The EV left (or the driver, without a session): the next arrival is planned and the
        connector is Available, or Unavailable if an Inoperative waited for the session to
        end. One Faulted or set Unavailable meanwhile stays so (a fault's end reports it)."""
        self.demand = None
        self.phase = Phase.IDLE
        connector = self.connector
        if connector.status in (Status.FAULTED, Status.UNAVAILABLE):
            out = []
        elif connector.inoperative_after:
            connector.inoperative_after = False
            out = self._status(Status.UNAVAILABLE, now_s)
        else:
            out = self._status(Status.AVAILABLE, now_s)
        self._plan_arrival(now_s)
        return out

    def _plan(self, now_s: float) -> None:
        """Charging: wake for the next sample or when the EV leaves, whichever comes first."""
        if self.phase is Phase.CHARGING:
            due = self.sampling.first_due(True, self._leave_at)
            assert due is not None
            self.wake_at = due if due > now_s else now_s
        elif self.phase in (Phase.PARKED, Phase.PLUGGED):
            self.wake_at = self._leave_at

    def _status(self, status: Status, now_s: float) -> list[Send]:
        old = self.connector.status
        moved = self.connector.move(status)
        if moved is None:
            return []
        connector = self.connector
        message = self.shapes.status(connector.id, old, moved, now_s, connector.error_code)
        return [] if message is None else [message]
