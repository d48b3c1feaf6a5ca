"""When a connector's meter readings are due (pure): periodic ones every sample interval from
the moment a transaction starts, clock-aligned ones on the interval's marks. A reading that
could not be taken on time is skipped, not sent late, and counted as missed."""

from __future__ import annotations

from fleet.station.transaction import TxSettings


class Sampling:
    __slots__ = ("missed", "next_clock", "next_sample", "settings")

    def __init__(self, settings: TxSettings) -> None:
        self.settings = settings  # the station's, shared: a configuration change applies at once
        self.next_sample = 0.0
        self.next_clock = 0.0
        self.missed = 0  # readings skipped because they could not be taken on time

    def start(self, now_s: float) -> None:
        """A transaction starts (or the intervals changed): periodic readings from now."""
        self.next_sample = now_s + self.settings.meter_interval_s
        self.align(now_s)

    def align(self, now_s: float) -> None:
        """The next clock-aligned reading: the interval's next multiple since the epoch (since
        midnight UTC for an interval dividing a day)."""
        aligned = self.settings.clock_aligned_s
        self.next_clock = (now_s // aligned + 1) * aligned if aligned else 0.0

    def periodic_due(self, now_s: float) -> bool:
        """Whether a periodic reading is due now; if so, the next one is planned."""
        interval = self.settings.meter_interval_s
        due = self.next_sample
        if not interval or now_s < due:
            return False
        after = due + interval
        # On time (the common case) the next is an interval on; late, _after counts the missed.
        self.next_sample = after if now_s < after else self._after(due, interval, now_s)
        return True

    def clock_due(self, now_s: float) -> bool:
        """Whether a clock-aligned reading is due now; if so, the next one is planned."""
        aligned = self.settings.clock_aligned_s
        if not aligned or now_s < self.next_clock:
            return False
        self.next_clock = self._after(self.next_clock, aligned, now_s)
        return True

    def first_due(self, periodic: bool, until: float | None) -> float | None:
        """The next reading due (periodic ones only during a transaction), or ``until`` if that
        comes first; None when nothing is. Asked after every reading: no lists made."""
        settings = self.settings
        if periodic and settings.meter_interval_s > 0:
            sample = self.next_sample
            if until is None or sample < until:
                until = sample
        if settings.clock_aligned_s > 0:
            clock = self.next_clock
            if until is None or clock < until:
                until = clock
        return until

    def _after(self, due: float, interval: float, now_s: float) -> float:
        late = int((now_s - due) // interval)
        self.missed += late
        return due + (late + 1) * interval
