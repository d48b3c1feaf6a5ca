"""OCPP 1.6-J: the messages of a charging session (``transaction.Shapes``), as
``session_life`` decides them. Pure: given the transaction, the reading and the time,
each returns what to send. The station class and its ``@on`` handlers are in
``v16.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.station import behaviour, pnc
from fleet.station.connectors import Status
from fleet.station.intents import Send
from fleet.station.meter import Reading
from fleet.station.readings import context_for, ending_values, meter_value
from fleet.station.transaction import Measurands, StopReason, Tx

if TYPE_CHECKING:
    from fleet.scenario_charging import Evse
    from fleet.station.contracts import Contract
    from fleet.station.generator import Demand


class TxShapes:
    """1.6 messages of a charging session (``sessions.Charger`` decides when)."""

    v201 = False

    def status(
        self, connector: int, old: Status, new: Status, now_s: float, error_code: str = "NoError"
    ) -> Send:
        payload = {
            "connectorId": connector,
            "errorCode": error_code,
            "status": new.value,
            "timestamp": behaviour.format_time(now_s),
        }
        return Send("StatusNotification", payload)

    def charging_needs(
        self, connector: int, demand: Demand, evse: Evse, departure_s: float
    ) -> None:
        """1.6 has no NotifyEVChargingNeeds (the OCA's Plug & Charge on 1.6 carries none)."""
        return None

    def authorize(self, tag: str, contract: Contract | None = None, central: bool = False) -> Send:
        if contract is None:
            return Send("Authorize", {"idTag": tag})
        payload = pnc.data_transfer(contract, central)
        return Send("DataTransfer", payload, row=pnc.ROW, judge=pnc.refusal16)

    def start(self, tx: Tx, reading: Reading, now_s: float, begin: Measurands) -> Send:
        """StartTransaction: the register only (meterStart); ``begin`` is 2.0.1's."""
        payload: dict[str, Any] = {
            "connectorId": tx.connector,
            "idTag": tx.tag,
            "meterStart": int(reading.energy_wh),
            "timestamp": behaviour.format_time(now_s),
        }
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        return Send("StartTransaction", payload, tx=tx)

    def update(
        self,
        tx: Tx,
        reading: Reading | None,
        trigger: str,
        now_s: float,
        measurands: Measurands | None = None,
    ) -> Send:
        assert reading is not None  # 1.6 reports only meter values during a transaction
        context = context_for(trigger)
        measurands = measurands or tx.measurands
        return self.meter_values(tx.connector, tx, reading, measurands, now_s, context)

    def meter_values(
        self,
        connector: int,
        tx: Tx | None,
        reading: Reading,
        measurands: Measurands,
        now_s: float,
        context: str,
    ) -> Send:
        """MeterValues: the connector's values now, with its transaction's id when one runs
        (periodic and clock-aligned readings, TriggerMessage, clock-aligned when idle)."""
        sample = meter_value(reading, measurands, context, behaviour.format_time(now_s), v201=False)
        payload: dict[str, Any] = {"connectorId": connector, "meterValue": [sample]}
        if tx is None:
            return Send("MeterValues", payload)
        payload["transactionId"] = tx.tx_id  # None until a start sent offline is answered
        return Send("MeterValues", payload, tx=tx)

    def stop(
        self, tx: Tx, reading: Reading, reason: StopReason, now_s: float, end: Measurands
    ) -> Send:
        stamp = behaviour.format_time(now_s)
        payload = {
            "transactionId": tx.tx_id,
            "idTag": tx.tag,
            "meterStop": int(reading.energy_wh),
            "timestamp": stamp,
            "reason": reason[0],
            "transactionData": ending_values(tx.series, reading, end, stamp, v201=False),
        }
        return Send("StopTransaction", payload, tx=tx)

    def fault_event(
        self, connector: int, error_code: str, event_id: int, now_s: float, cleared: bool
    ) -> None:
        """1.6 reports a fault in StatusNotification's errorCode alone."""
        return None

    def mark_offline(self, send: Send) -> None:
        """1.6 messages do not say they were made offline (their timestamps do)."""
