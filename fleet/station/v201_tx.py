"""OCPP 2.0.1: the messages of a charging session (``transaction.Shapes``), as
``session_life`` decides them. Pure: given the transaction, the reading and the time,
each returns what to send. The station class and its ``@on`` handlers are in
``v201.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.station import behaviour, pnc
from fleet.station.connectors import V201 as V201_STATUS
from fleet.station.connectors import Status
from fleet.station.intents import Send
from fleet.station.meter import Reading
from fleet.station.readings import context_for, ending_values, meter_value
from fleet.station.transaction import LOCAL, Measurands, StopReason, Tx

if TYPE_CHECKING:
    from fleet.scenario_charging import Evse
    from fleet.station.contracts import Contract
    from fleet.station.generator import Demand

AC_MIN_CURRENT_A = 6  # IEC 61851-1: the least current an AC EVSE may offer
BULK_SOC = 80  # where a DC EV's fast (bulk) phase ends, per cent


class TxShapes:
    """2.0.1 messages of a charging session: TransactionEvent with seqNo from 0."""

    v201 = True

    def status(
        self, connector: int, old: Status, new: Status, now_s: float, error_code: str = "NoError"
    ) -> Send | None:
        """2.0.1 StatusNotification carries no error code (``error_code``: 1.6's)."""
        if V201_STATUS[old] == V201_STATUS[new]:
            return None  # Preparing -> Charging is Occupied -> Occupied: nothing to report
        payload = {
            "timestamp": behaviour.format_time(now_s),
            "connectorStatus": V201_STATUS[new],
            "evseId": connector,
            "connectorId": 1,
        }
        return Send("StatusNotification", payload)

    def fault_event(
        self, connector: int, error_code: str, event_id: int, now_s: float, cleared: bool
    ) -> Send:
        """NotifyEvent for a connector fault or its end: the connector's Problem variable, a
        hard-wired notification (no monitor set by the CSMS), the 1.6-style code as techCode
        (2.0.1 StatusNotification carries no error code: this is where a CSMS learns why)."""
        stamp = behaviour.format_time(now_s)
        event: dict[str, Any] = {
            "eventId": event_id,
            "timestamp": stamp,
            "trigger": "Delta",
            "actualValue": "false" if cleared else "true",
            "techCode": error_code,
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": connector, "connectorId": 1}},
            "variable": {"name": "Problem"},
        }
        if cleared:
            event["cleared"] = True
        return Send("NotifyEvent", {"generatedAt": stamp, "seqNo": 0, "eventData": [event]})

    def charging_needs(
        self, connector: int, demand: Demand, evse: Evse, departure_s: float
    ) -> Send:
        """NotifyEVChargingNeeds (K15) for an ISO 15118 EV: what its driver's visit asks for
        (the energy to its target, when it leaves) and what it can take."""
        energy_wh = int(max(demand.soc_target - demand.soc_start, 0.0) * demand.battery_kwh * 1e3)
        ev_max_w = demand.ev_max_kw * 1000
        needs: dict[str, Any] = {"departureTime": behaviour.format_time(departure_s)}
        if evse.current == "DC":
            volts = 800 if demand.ev_max_kw > 150 else 400  # the battery's class
            needs["requestedEnergyTransfer"] = "DC"
            needs["dcChargingParameters"] = {
                "evMaxCurrent": int(ev_max_w / volts),
                "evMaxVoltage": volts,
                "energyAmount": energy_wh,
                "evMaxPower": int(ev_max_w),
                "stateOfCharge": round(demand.soc_start * 100),
                "evEnergyCapacity": int(demand.battery_kwh * 1000),
                "fullSoC": round(demand.soc_target * 100),
                "bulkSoC": min(BULK_SOC, round(demand.soc_target * 100)),
            }
        else:
            phases = evse.phases
            mode = "AC_three_phase" if phases == 3 else "AC_single_phase"
            needs["requestedEnergyTransfer"] = mode
            per_phase_a = int(ev_max_w / (phases * evse.voltage_v))
            needs["acChargingParameters"] = {
                "energyAmount": energy_wh,
                "evMinCurrent": AC_MIN_CURRENT_A,
                "evMaxCurrent": max(per_phase_a, AC_MIN_CURRENT_A),
                "evMaxVoltage": int(evse.voltage_v),
            }
        return Send("NotifyEVChargingNeeds", {"evseId": connector, "chargingNeeds": needs})

    def authorize(self, tag: str, contract: Contract | None = None, central: bool = False) -> Send:
        if contract is None:
            return Send("Authorize", {"idToken": _token(tag)})
        payload = pnc.authorize_request(contract, central)
        return Send("Authorize", payload, row=pnc.ROW, judge=pnc.refusal)

    def _event(
        self, kind: str, tx: Tx, trigger: str, now_s: float, info: dict[str, Any]
    ) -> dict[str, Any]:
        tx_info = {"transactionId": tx.tx_id, "chargingState": tx.charging_state}
        if info:
            tx_info.update(info)
        return {
            "eventType": kind,
            "timestamp": behaviour.format_time(now_s),
            "triggerReason": trigger,
            "seqNo": tx.next_seq(),
            "transactionInfo": tx_info,
        }

    def start(self, tx: Tx, reading: Reading, now_s: float, begin: Measurands) -> Send:
        info = {} if tx.remote_start_id is None else {"remoteStartId": tx.remote_start_id}
        payload = self._event("Started", tx, tx.trigger, now_s, info)
        payload["evse"] = {"id": tx.connector, "connectorId": 1}
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        if tx.charging_state == "Charging":
            payload["idToken"] = _token(tx.tag, tx.contract)
        payload["meterValue"] = [
            meter_value(reading, begin, "Transaction.Begin", payload["timestamp"], v201=True)
        ]
        return Send("TransactionEvent", payload, "TransactionEvent(Started)", tx=tx)

    def update(
        self,
        tx: Tx,
        reading: Reading | None,
        trigger: str,
        now_s: float,
        measurands: Measurands | None = None,
    ) -> Send:
        remote = trigger == "RemoteStart" and tx.remote_start_id is not None
        info = {"remoteStartId": tx.remote_start_id} if remote else {}
        payload = self._event("Updated", tx, trigger, now_s, info)
        if trigger in ("Authorized", "RemoteStart"):  # the driver's token, now known
            payload["idToken"] = _token(tx.tag, tx.contract)
        if reading is not None:
            payload["meterValue"] = [
                meter_value(
                    reading,
                    measurands or tx.measurands,
                    context_for(trigger),
                    payload["timestamp"],
                    v201=True,
                )
            ]
        return Send("TransactionEvent", payload, "TransactionEvent(Updated)", tx=tx)

    def meter_values(
        self,
        connector: int,
        tx: Tx | None,
        reading: Reading,
        measurands: Measurands,
        now_s: float,
        context: str,
    ) -> Send:
        """MeterValues outside a transaction (TriggerMessage, clock-aligned data): the EVSE's
        values now."""
        sample = meter_value(reading, measurands, context, behaviour.format_time(now_s), v201=True)
        return Send("MeterValues", {"evseId": connector, "meterValue": [sample]})

    def stop(
        self, tx: Tx, reading: Reading, reason: StopReason, now_s: float, end: Measurands
    ) -> Send:
        payload = self._event("Ended", tx, reason[1], now_s, {"stoppedReason": reason[2]})
        if reason is LOCAL:  # E07: the stop was authorised by this token
            payload["idToken"] = _token(tx.tag, tx.contract)
        payload["meterValue"] = ending_values(
            tx.series, reading, end, payload["timestamp"], v201=True
        )
        return Send("TransactionEvent", payload, "TransactionEvent(Ended)", tx=tx)

    def mark_offline(self, send: Send) -> None:
        """E04: an event that happened while the station was offline says so."""
        if send.action == "TransactionEvent":
            send.payload["offline"] = True


def _token(tag: str, contract: bool = False) -> dict[str, str]:
    return {"idToken": tag, "type": "eMAID" if contract else "ISO14443"}
