"""What a station decides, with no sockets and no clocks of its own: boot outcomes, intervals,
clocks and timestamps. ``booting.py`` and ``beats.py`` build on these; configuration rules are in
``settings.py``. Shared by OCPP 1.6 and 2.0.1: the version modules only translate message shapes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fleet.scenario import Heartbeat


@dataclass(slots=True, frozen=True)
class Heartbeats:
    """Boot accepted: heartbeat every ``every_s`` seconds."""

    every_s: float


@dataclass(slots=True, frozen=True)
class BootAgain:
    """Boot not accepted: wait ``after_s`` seconds (sending nothing but answers), then boot again.
    ``answer_csms`` is False while Rejected (1.6 §4.2: no answer to any CSMS-initiated call)."""

    after_s: float
    answer_csms: bool


def heartbeat_interval(csms_interval_s: float, rules: Heartbeat) -> float:
    """The interval a station heartbeats at: the scenario's fixed override, else the CSMS's, unless
    the CSMS's is outside [min_s, max_s] (0, negative, absurd), then the scenario's fallback."""
    if rules.interval_s is not None:
        return rules.interval_s
    if rules.min_s <= csms_interval_s <= rules.max_s:
        return float(csms_interval_s)
    return rules.fallback_s


def after_boot(
    status: str, interval_s: float, rules: Heartbeat, retry_s: float
) -> Heartbeats | BootAgain:
    """Decide what follows a BootNotification answer (1.6 §4.2, 2.0.1 B01-B03).

    For Pending/Rejected the interval is the minimum wait before the next boot; "if that interval
    is zero, the Charge Point chooses a waiting interval on its own, in a way that avoids flooding
    the Central System": the scenario's ``retry_s``. An absurdly long one is capped the same way.
    """
    if status == "Accepted":
        return Heartbeats(heartbeat_interval(interval_s, rules))
    wait_s = float(interval_s) if 0 < interval_s <= rules.max_s else retry_s
    return BootAgain(after_s=wait_s, answer_csms=status != "Rejected")


BOOT_STATUSES: Final = ("Accepted", "Pending", "Rejected")


def unusable(action: str, payload: dict[str, Any]) -> str | None:
    """Why a station cannot act on an answer that broke its schema, or None when it can (the
    violation is then reported and the station goes on: csms.on_violation "report"). A station
    needs what it acts on: a boot status it knows and a numeric interval. A timestamp without
    an offset is read as UTC; a field it does not use is not its concern."""
    if action == "BootNotification":
        status = payload.get("status")
        if status not in BOOT_STATUSES:
            return f"status {status!r} is not one of {', '.join(BOOT_STATUSES)}"
        interval = payload.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            return f"interval {interval!r} is not a number"
    return None


def parse_csms_time(text: str) -> datetime | None:
    """An OCPP dateTime (RFC 3339) as an aware datetime, or None if the CSMS sent garbage."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def clock_offset_s(csms_time: str, local_now: float) -> float | None:
    """Seconds to add to the local clock so the station's clock equals the CSMS's."""
    moment = parse_csms_time(csms_time)
    return None if moment is None else moment.timestamp() - local_now


_SECOND: list[Any] = [None, ""]  # the last whole second formatted, and its text
_MILLIS: Final = tuple(f"{millis:03d}Z" for millis in range(1000))  # a format spec: 0.2 µs


def format_time(epoch_s: float) -> str:
    """OCPP dateTime in UTC with millisecond precision and a Z suffix. The date and time of day
    are formatted once per second (every message of a charging fleet carries timestamps; a
    datetime per timestamp was a tenth of a MeterValues round trip's CPU)."""
    second = math.floor(epoch_s)
    micros = round((epoch_s - second) * 1e6)  # as datetime rounds: to the microsecond first
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    if _SECOND[0] != second:
        _SECOND[0] = second
        _SECOND[1] = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
    return _SECOND[1] + _MILLIS[micros // 1000]
