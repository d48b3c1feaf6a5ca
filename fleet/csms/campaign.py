"""Campaigns: one CSMS-initiated command sent to every connected station (or those an id pattern
picks), with what came back: answers per status, CallErrors per code, timeouts, and answer
latencies. What a CSMS operator does to a fleet (a configuration push, a reset wave), measured
from the CSMS's side."""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed

from fleet.routing import to_payload

IN_FLIGHT: Final = 500  # calls out at once: a campaign must not be a storm of its own making
TIMEOUT: Final = "timeout"
CLOSED: Final = "connection closed"


@dataclass
class Campaign:
    """The outcome of one campaign, filled as answers come in."""

    action: str
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # answers, by status
    errors: Counter[str] = field(default_factory=Counter)  # CallErrors by code, and timeouts
    skipped: Counter[str] = field(default_factory=Counter)  # stations not sent to, and why
    latencies_ms: list[float] = field(default_factory=list)  # answered calls (not timeouts)
    took_s: float = 0.0

    def answered(self, payload: dict[str, Any], ms: float) -> None:
        status = payload.get("status")
        self.statuses[status if isinstance(status, str) else "(answered)"] += 1
        self.latencies_ms.append(ms)

    def failed(self, code: str, ms: float | None) -> None:
        self.errors[code] += 1
        if ms is not None:
            self.latencies_ms.append(ms)

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def pct(fraction: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)

        return {
            "action": self.action,
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "skipped": dict(self.skipped),
            "latency_ms": {
                "p50": pct(0.5),
                "p95": pct(0.95),
                "p99": pct(0.99),
                "max": round(ordered[-1], 2) if ordered else None,
            },
            "took_s": round(self.took_s, 3),
        }


Send = Callable[[str], Awaitable[Any]]  # station id -> the station's answer (raises on error)


async def run_campaign(
    action: str,
    targets: Iterable[tuple[str, Send | None]],
    pattern: str | None = None,
    in_flight: int = IN_FLIGHT,
) -> Campaign:
    """Send to every target (station id, how to send; None: its version has no such action)
    that ``pattern`` picks, ``in_flight`` at a time; gather the outcome."""
    campaign = Campaign(action)
    limit = asyncio.Semaphore(in_flight)
    started = time.perf_counter()

    async def one(station_id: str, send: Send) -> None:
        async with limit:
            sent_at = time.perf_counter()
            try:
                answer = await send(station_id)
            except OCPPError as exc:
                campaign.failed(exc.code, (time.perf_counter() - sent_at) * 1000)
            except TimeoutError:
                campaign.failed(TIMEOUT, None)
            except ConnectionClosed:
                campaign.failed(CLOSED, None)
            else:
                campaign.answered(to_payload(answer), (time.perf_counter() - sent_at) * 1000)

    jobs = []
    for station_id, send in targets:
        if pattern is not None and not fnmatch.fnmatchcase(station_id, pattern):
            continue
        if send is None:
            campaign.skipped["not this OCPP version's call"] += 1
            continue
        campaign.sent += 1
        jobs.append(one(station_id, send))
    await asyncio.gather(*jobs)
    campaign.took_s = time.perf_counter() - started
    return campaign
