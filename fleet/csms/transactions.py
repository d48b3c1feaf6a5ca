"""The embedded CSMS's per-transaction ledger: what a billing backend would know of each session.

Pure bookkeeping, fed with the payloads of StartTransaction / MeterValues / StopTransaction (1.6)
and TransactionEvent (2.0.1) after they passed the schema. It keeps, per transaction, the meter
at start, the last reading and the meter at stop (so energy = stop - start, what a driver is
billed), the messages seen, and what a real backend would flag: seqNo gaps (2.0.1), messages
received twice, messages older than one already received (out of order), messages for
transactions it never saw start, and a second start of a running transaction.

A 1.6 StartTransaction received again (same station, connector, tag, meterStart and timestamp: a
station that sent it again because the answer never reached it) gets the transaction id it got
the first time, as a real CSMS deduplicates it; it counts as a duplicate, not a new transaction.

``apply`` takes one received message (what ``Journal`` lines hold), so a ledger can be rebuilt
from its journal after the CSMS restarts (``fleet csms --ledger-file``).
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
    messages: int = 0  # every message about it, start and stop included (duplicates too)
    meter_values: int = 0  # periodic readings (MeterValues, TransactionEvent Updated with one)
    duplicates: int = 0  # messages received again (2.0.1: a seqNo seen; 1.6: a second stop)
    out_of_order: int = 0  # messages older than one received before (seqNo, or timestamp)
    stop_reason: str | None = None
    ended: bool = False
    last_at: str = ""  # the newest timestamp received
    seqs: set[int] | None = None  # 2.0.1: the seqNos received
    top_seq: int = -1  # 2.0.1: the highest of them

    @property
    def seq_gaps(self) -> int:
        """2.0.1: seqNos never received below the highest one received."""
        return self.top_seq + 1 - len(self.seqs) if self.seqs else 0

    def stamped(self, timestamp: Any) -> None:
        """A message with this timestamp: out of order when older than the newest so far
        (RFC 3339 UTC stamps of one station compare as text)."""
        if isinstance(timestamp, str):
            if timestamp < self.last_at:
                self.out_of_order += 1
            else:
                self.last_at = timestamp

    def sequenced(self, seq: Any) -> bool:
        """2.0.1: a seqNo received; False when it came before (a duplicate)."""
        if not isinstance(seq, int):
            return True
        if self.seqs is None:
            self.seqs = set()
        if seq in self.seqs:
            self.duplicates += 1
            return False
        if seq < self.top_seq:
            self.out_of_order += 1
        self.top_seq = max(self.top_seq, seq)
        self.seqs.add(seq)
        return True

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
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
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
        self.starts: dict[tuple[Any, ...], int] = {}  # 1.6 starts as received -> their id
        self.last_id = 0  # the highest 1.6 transaction id handed out

    def apply(self, station: str, action: str, payload: dict[str, Any], tx_id: Any) -> None:
        """One received transaction message (a journal line): StartTransaction (answered
        with ``tx_id``), MeterValues, StopTransaction or TransactionEvent."""
        if action == "StartTransaction":
            self.start16(station, tx_id, payload)
        elif action == "MeterValues":
            self.meter16(station, payload)
        elif action == "StopTransaction":
            self.stop16(station, payload)
        elif action == "TransactionEvent":
            self.event201(station, payload)

    def _get(self, station: str, tx_id: Any, action: str) -> Transaction | None:
        tx = self.items.get((station, tx_id))
        if tx is None:
            self.unknown[action] += 1
        return tx

    # --- 1.6 -------------------------------------------------------------------------------------

    def known_start(self, station: str, payload: dict[str, Any]) -> int | None:
        """The id a StartTransaction received before got (it comes again), else None."""
        return self.starts.get(_start_key(station, payload))

    def start16(self, station: str, tx_id: int, payload: dict[str, Any]) -> None:
        """StartTransaction, answered with ``tx_id`` (the one it got before, if it came before:
        a duplicate)."""
        key = _start_key(station, payload)
        self.last_id = max(self.last_id, tx_id)
        known = self.items.get((station, tx_id))
        if self.starts.get(key) == tx_id and known is not None:
            known.messages += 1
            known.duplicates += 1
            return
        self.starts[key] = tx_id
        tx = Transaction(station, "1.6", tx_id, payload.get("connectorId"), payload.get("idTag"))
        tx.started_at = payload.get("timestamp")
        tx.stamped(tx.started_at)
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
        values = payload.get("meterValue") or [{}]
        tx.stamped(values[0].get("timestamp"))
        tx.reading(energy_wh(values))

    def stop16(self, station: str, payload: dict[str, Any]) -> None:
        tx = self._get(station, payload.get("transactionId"), "StopTransaction")
        if tx is None:
            return
        tx.messages += 1
        if tx.ended:  # sent again: the answer to the first did not reach the station
            tx.duplicates += 1
            return
        tx.stamped(payload.get("timestamp"))
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
        seq = payload.get("seqNo")
        if kind == "Started" and (tx is None or not tx.seqs or seq not in tx.seqs):
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
        if not tx.sequenced(seq):
            return  # received before: nothing new
        tx.stamped(payload.get("timestamp"))
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
            "messages": sum(tx.messages for tx in items),
            "seq_gaps": sum(tx.seq_gaps for tx in items),
            "duplicates": sum(tx.duplicates for tx in items),
            "out_of_order": sum(tx.out_of_order for tx in items),
            "unknown": dict(self.unknown),
            "restarted": self.restarted,
            "items": [tx.to_json() for tx in items],
        }


def _start_key(station: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    return (
        station,
        payload.get("connectorId"),
        payload.get("idTag"),
        payload.get("meterStart"),
        payload.get("timestamp"),
    )
