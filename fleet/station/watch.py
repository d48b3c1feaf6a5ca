"""A station's frames, seen: logged (``run.trace``, ``--fleet-trace``) and kept for fleet's
console while someone watches the station (its last frames, both ways, across connections).

The transport hands each frame to its tracer, which only traced or watched stations have: every
other station pays one ``is None`` test per frame. Frames are decoded, and passwords the CSMS
sets hidden (``security.redacted``), only here.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from fleet.station.behaviour import format_time
from fleet.station.security import redacted

trace_log = logging.getLogger("fleet.trace")

KEPT: Final = 40  # frames a watched station keeps
MAX_CHARS: Final = 2000  # of each frame kept (a NotifyReport page runs to ~4,000)

SENT: Final = ">"
RECEIVED: Final = "<"
# A tracer is told (what, text): a frame sent or received (bytes), or an event ("connected to",
# "closed:") with its text.
Tracer = Callable[[str, bytes | str], None]


class Watch:
    """The last KEPT frames of a watched station: (epoch s, what, text)."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=KEPT)

    def add(self, what: str, text: str) -> None:
        cut = text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + f"… ({len(text)} chars)"
        self.frames.append((time.time(), what, cut))

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"at": format_time(at), "what": what, "text": text} for at, what, text in self.frames
        ]


def tracer(station_id: str, log: bool, watch: Watch | None) -> Tracer | None:
    """What the transport calls with each frame: None when the station is neither traced
    (``log``) nor watched."""
    if not log and watch is None:
        return None

    def trace(what: str, data: bytes | str) -> None:
        text = data if isinstance(data, str) else redacted(data.decode("utf-8", "replace"))
        if log:
            trace_log.info("%s %s %s", station_id, what, text)
        if watch is not None:
            watch.add(what, text)

    return trace
