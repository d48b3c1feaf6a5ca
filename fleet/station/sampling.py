"""When a connector's meter readings are due (pure): periodic ones every sample interval from
the moment a transaction starts, clock-aligned ones on the interval's marks. A reading that
could not be taken on time is skipped, not sent late, and counted as missed. The readings a
transaction keeps for its last message (``TxSettings.ended_s``, ``ended_aligned_s``) have
schedules of their own, alike; they are not messages, so none of them counts as missed."""

from __future__ import annotations

from fleet.station.transaction import TxSettings


class Sampling:
    __slots__ = ("ended", "missed", "next_clock", "next_sample", "settings")

    def __init__(self, settings: TxSettings) -> None:
        self.settings = settings  # the station's, shared: a configuration change applies at once
        self.next_sample = 0.0
        self.next_clock = 0.0
        self.missed = 0  # readings skipped because they could not be taken on time
        # The next kept readings (sampled, clock-aligned), while a transaction keeps a series.
        self.ended: tuple[float, float] | None = None

    def start(self, now_s: float) -> None:
        """A transaction starts (or the intervals changed): periodic readings from now."""
        settings = self.settings
        self.next_sample = now_s + settings.meter_interval_s
        self.align(now_s)
        if settings.ended_s or settings.ended_aligned_s:
            self.ended = (now_s + settings.ended_s, _mark(now_s, settings.ended_aligned_s))
        else:
            self.ended = None

    def align(self, now_s: float) -> None:
        """The next clock-aligned reading: the interval's next multiple since the epoch (since
        midnight UTC for an interval dividing a day)."""
        self.next_clock = _mark(now_s, self.settings.clock_aligned_s)

    def kept_due(self, now_s: float) -> tuple[bool, bool]:
        """Whether a kept (sampled, clock-aligned) reading is due now; if so, the next one is
        planned. A late one is taken once, on the next mark."""
        ended = self.ended
        if ended is None:
            return False, False
        sample, clock = ended
        sample_s, clock_s = self.settings.ended_s, self.settings.ended_aligned_s
        sampled = bool(sample_s) and now_s >= sample
        aligned = bool(clock_s) and now_s >= clock
        if sampled:
            sample = sample + ((now_s - sample) // sample_s + 1) * sample_s
        if aligned:
            clock = _mark(now_s, clock_s)
        self.ended = (sample, clock)
        return sampled, aligned

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
        ended = self.ended
        if periodic and ended is not None:
            sample, clock = ended
            if settings.ended_s > 0 and (until is None or sample < until):
                until = sample
            if settings.ended_aligned_s > 0 and (until is None or clock < until):
                until = clock
        return until

    def _after(self, due: float, interval: float, now_s: float) -> float:
        late = int((now_s - due) // interval)
        self.missed += late
        return due + (late + 1) * interval


def _mark(now_s: float, interval: float) -> float:
    """The interval's next multiple since the epoch after ``now_s`` (0.0: no interval)."""
    return (now_s // interval + 1) * interval if interval else 0.0
