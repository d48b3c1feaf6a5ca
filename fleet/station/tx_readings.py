"""What a connector's meter sends on its schedule: sampled readings during a transaction, clock-
aligned ones with or without one, the readings a transaction keeps for its last message, and
MeterValues a TriggerMessage asks for. Pure: given the time, the messages to send.

``Readings`` is the base of ``session_life.SessionLife`` (as that is of ``sessions.Charger``):
the phases of a session decide *whether* a connector charges; this decides what its meter says
meanwhile. One object per connector, no extra one per reading: readings are the hot path of a
charging fleet (a MeterValues every sample interval on every connector)."""

from __future__ import annotations

from typing import Any

from fleet.station.connectors import Connector
from fleet.station.intents import Send
from fleet.station.meter import Meter, Reading
from fleet.station.readings import context_for
from fleet.station.sampling import Sampling
from fleet.station.transaction import Shapes, Tx, TxSettings


class Readings:
    """A connector's meter readings on schedule (see the module)."""

    __slots__ = ("connector", "meter", "sampling", "settings", "shapes")

    def __init__(
        self, connector: Connector, meter: Meter, shapes: Shapes, settings: TxSettings
    ) -> None:
        self.connector = connector
        self.meter = meter
        self.shapes = shapes
        self.settings = settings
        self.sampling = Sampling(settings)

    def _due_readings(self, tx: Tx, now_s: float, charging: bool) -> list[Send]:
        """The transaction's readings due now (sampled, clock-aligned; those it keeps for its
        last message). The meter advances to now whether or not one is due."""
        out: list[Send] = []
        reading = None
        if self.sampling.periodic_due(now_s):
            reading = self.meter.read(now_s, charging)  # the meter advanced to now
            out.append(self.shapes.update(tx, reading, "MeterValuePeriodic", now_s))
        if self.sampling.clock_due(now_s):
            reading = self.meter.read(now_s, charging)
            aligned = self.settings.aligned
            out.append(self.shapes.update(tx, reading, "MeterValueClock", now_s, aligned))
        if tx.series is not None:
            reading = self._keep(tx.series, now_s, charging, reading)
        if reading is None:
            self.meter.advance(now_s, charging)
        return out

    def _keep(
        self, series: list[Any], now_s: float, charging: bool, reading: Reading | None
    ) -> Reading | None:
        """The readings due for the transaction's last message join its series (the reading
        just sent when there is one: the same values); the reading taken, if any."""
        sampled, aligned = self.sampling.kept_due(now_s)
        if sampled or aligned:
            if reading is None:
                reading = self.meter.read(now_s, charging)
            settings = self.settings
            if sampled:
                series.append((now_s, reading, "Sample.Periodic", settings.end))
            if aligned:
                series.append((now_s, reading, "Sample.Clock", settings.end_aligned))
        return reading

    def _meter_values(
        self, now_s: float, tx: Tx | None, trigger: str, reading: Reading | None = None
    ) -> Send:
        """MeterValues for the connector (of ``tx`` when given): clock-aligned readings carry
        MeterValuesAlignedData, the others MeterValuesSampledData; no SoC without an EV."""
        if reading is None:
            reading = self.meter.read(now_s, False)
        settings = self.settings
        measurands = settings.aligned if trigger == "MeterValueClock" else settings.measurands
        if not self.meter.plugged:
            measurands = tuple(m for m in measurands if m != "SoC") or measurands
        context = context_for(trigger)
        return self.shapes.meter_values(self.connector.id, tx, reading, measurands, now_s, context)
