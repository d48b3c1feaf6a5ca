"""Messages a station sends on a schedule (heartbeats; later meter values), by intended time.

Pure: no clock of its own and no loop. Due times never drift: after a late send the next is
still one period after the last *due* time. Due times that pass without a send are counted as
missed, never silently skipped: skipping them is how a stalled CSMS or a stalled simulator hides
in the figures (coordinated omission).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Periodic:
    """A message due every ``every_s`` seconds; ``due_s`` is the next due time (loop clock)."""

    every_s: float
    due_s: float

    @classmethod
    def starting(cls, now_s: float, every_s: float) -> Periodic:
        """First due one period from now."""
        return cls(every_s, now_s + every_s)

    def catch_up(self, now_s: float) -> int:
        """Make ``due_s`` the latest due time at or before ``now_s``; return how many earlier
        due times passed without a send (missed)."""
        if now_s < self.due_s + self.every_s:
            return 0
        passed = int((now_s - self.due_s) // self.every_s)
        self.due_s += passed * self.every_s
        return passed

    def sent(self, now_s: float) -> int:
        """The message due at ``due_s`` left; plan the next one. Returns how many due times
        passed while it was being sent (the previous CALL still out): missed. The latest of
        them, if any, is sent at once (late) rather than counted."""
        self.due_s += self.every_s
        return self.catch_up(now_s)

    def replan(self, now_s: float, every_s: float) -> None:
        """The period changed (e.g. HeartbeatInterval): the next one is a new period from now."""
        self.every_s = every_s
        self.due_s = now_s + every_s

    def missed_until(self, now_s: float) -> int:
        """Due times at or before ``now_s`` none of which could be sent (the station was
        offline): all of them are missed."""
        if now_s < self.due_s:
            return 0
        return int((now_s - self.due_s) // self.every_s) + 1
