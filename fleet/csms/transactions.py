"""The embedded CSMS's per-transaction ledger: what a billing backend would know of each session.

Pure bookkeeping, fed with the payloads of StartTransaction / MeterValues / StopTransaction (1.6)
and TransactionEvent (2.0.1) after they passed the schema. It keeps, per transaction, the meter
at start, the last reading and the meter at stop (so energy = stop - start, what a driver is
billed), the messages seen, and what a real backend would flag: seqNo gaps and repeats (2.0.1),
messages for transactions it never saw start, and a second start of a running transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

ENERGY: Final = "Energy.Active.Import.Register"
_TO_WH: Final = {"Wh": 1.0, "kWh": 1000.0}


def energy_wh(meter_values: Any) -> float | None:
    """The last Energy.Active.Import.Register in a list of MeterValue items (both versions;
    a sampled value without a measurand is that register, per both specs), in Wh."""
    found = None
    for item in meter_values or ():
        for sample in item.get("sampledValue") or ():
            if sample.get("measurand", ENERGY) != ENERGY or sample.get("phase"):
                continue
            unit = sample.get("unit") or (sample.get("unitOfMeasure") or {}).get("unit", "Wh")
            multiplier = (sample.get("unitOfMeasure") or {}).get("multiplier", 0)
            try:
                value = float(sample["value"])
            except (KeyError, TypeError, ValueError):
                continue
            found = value * _TO_WH.get(unit, 1.0) * 10**multiplier
    return found


@dataclass(slots=True)
class Transaction:
    station: str
    version: str
    tx_id: str | int
    connector: int | None = None
    id_tag: str | None = None
    started_at: str | None = None  # the station's timestamps
    stopped_at: str | None = None
    meter_start_wh: float | None = None
    meter_last_wh: float | None = None
    meter_stop_wh: float | None = None
    messages: int = 0  # every message about it, start and stop included
    meter_values: int = 0  # periodic readings (MeterValues, TransactionEvent Updated with one)
    next_seq: int = 0  # 2.0.1: the seqNo expected next
    seq_gaps: int = 0  # 2.0.1: seqNos skipped
    seq_repeats: int = 0  # 2.0.1: seqNos seen again or going back
    stop_reason: str | None = None
    ended: bool = False

    @property
    def energy_wh(self) -> float | None:
        """Stop minus start; while it runs, the last reading minus start."""
        end = self.meter_stop_wh if self.ended else self.meter_last_wh
        if end is None or self.meter_start_wh is None:
            return None
        return end - self.meter_start_wh

    def reading(self, meter_wh: float | None) -> None:
        if meter_wh is not None:
            self.meter_last_wh = meter_wh

    def to_json(self) -> dict[str, Any]:
        energy = self.energy_wh
        return {
            "station": self.station,
            "version": self.version,
            "transaction_id": self.tx_id,
            "connector": self.connector,
            "id_tag": self.id_tag,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "meter_start_wh": self.meter_start_wh,
            "meter_stop_wh": self.meter_stop_wh,
            "energy_wh": None if energy is None else round(energy, 3),
            "messages": self.messages,
            "meter_values": self.meter_values,
            "seq_gaps": self.seq_gaps,
            "seq_repeats": self.seq_repeats,
            "stop_reason": self.stop_reason,
            "ended": self.ended,
        }


class Transactions:
    """Every transaction the CSMS saw, by (station, transaction id)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str | int], Transaction] = {}
        # Messages naming a transaction the CSMS never saw start, per (version, action).
        self.unknown: Counter[str] = Counter()
        self.restarted = 0  # a Started for a transaction already running

    def _get(self, station: str, tx_id: Any, action: str) -> Transaction | None:
        tx = self.items.get((station, tx_id))
        if tx is None:
            self.unknown[action] += 1
        return tx

    # --- 1.6 -------------------------------------------------------------------------------------

    def start16(self, station: str, tx_id: int, payload: dict[str, Any]) -> None:
        """StartTransaction, answered with ``tx_id``."""
        tx = Transaction(station, "1.6", tx_id, payload.get("connectorId"), payload.get("idTag"))
        tx.started_at = payload.get("timestamp")
        tx.meter_start_wh = tx.meter_last_wh = float(payload.get("meterStart", 0))
        tx.messages = 1
        self.items[(station, tx_id)] = tx

    def meter16(self, station: str, payload: dict[str, Any]) -> None:
        tx_id = payload.get("transactionId")
        if tx_id is None:
            return  # readings outside a transaction
        tx = self._get(station, tx_id, "MeterValues")
        if tx is None:
            return
        tx.messages += 1
        tx.meter_values += 1
        tx.reading(energy_wh(payload.get("meterValue")))

    def stop16(self, station: str, payload: dict[str, Any]) -> None:
        tx = self._get(station, payload.get("transactionId"), "StopTransaction")
        if tx is None:
            return
        tx.messages += 1
        tx.stopped_at = payload.get("timestamp")
        tx.meter_stop_wh = tx.meter_last_wh = float(payload.get("meterStop", 0))
        tx.stop_reason = payload.get("reason", "Local")  # 1.6: absent means Local
        tx.ended = True

    # --- 2.0.1 -----------------------------------------------------------------------------------

    def event201(self, station: str, payload: dict[str, Any]) -> None:
        """A TransactionEvent: Started opens, Updated reports, Ended closes."""
        info = payload.get("transactionInfo") or {}
        tx_id = str(info.get("transactionId"))
        kind = payload.get("eventType")
        key = (station, tx_id)
        tx = self.items.get(key)
        if kind == "Started":
            if tx is not None and not tx.ended:
                self.restarted += 1
            evse = payload.get("evse") or {}
            tx = Transaction(station, "2.0.1", tx_id, evse.get("id"))
            tx.started_at = payload.get("timestamp")
            self.items[key] = tx
        elif tx is None:
            self.unknown[f"TransactionEvent({kind})"] += 1
            return
        tx.messages += 1
        seq = payload.get("seqNo")
        if isinstance(seq, int):
            if seq > tx.next_seq:
                tx.seq_gaps += seq - tx.next_seq
            elif seq < tx.next_seq:
                tx.seq_repeats += 1
            tx.next_seq = max(tx.next_seq, seq + 1)
        token = payload.get("idToken")
        if token:
            tx.id_tag = token.get("idToken")
        meter = energy_wh(payload.get("meterValue"))
        if meter is not None and tx.meter_start_wh is None:
            tx.meter_start_wh = meter
        if kind == "Updated" and meter is not None:
            tx.meter_values += 1
        tx.reading(meter)
        if kind == "Ended":
            tx.ended = True
            tx.stopped_at = payload.get("timestamp")
            tx.meter_stop_wh = tx.meter_last_wh
            tx.stop_reason = info.get("stoppedReason", "Local")  # 2.0.1: absent means Local

    # --- reading ---------------------------------------------------------------------------------

    def for_station(self, station: str) -> list[Transaction]:
        return [tx for (owner, _), tx in self.items.items() if owner == station]

    def to_json(self) -> dict[str, Any]:
        items = list(self.items.values())
        energy = sum(tx.energy_wh or 0.0 for tx in items)
        return {
            "count": len(items),
            "running": sum(not tx.ended for tx in items),
            "ended": sum(tx.ended for tx in items),
            "energy_kwh": round(energy / 1000, 3),
            "seq_gaps": sum(tx.seq_gaps for tx in items),
            "seq_repeats": sum(tx.seq_repeats for tx in items),
            "unknown": dict(self.unknown),
            "restarted": self.restarted,
            "items": [tx.to_json() for tx in items],
        }
