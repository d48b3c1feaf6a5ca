"""What the embedded CSMS remembers of stations: per-station records and captured frames."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True, frozen=True)
class Captured:
    """A frame the CSMS received (with capture on): what a station really put on the wire."""

    at: float  # time.monotonic()
    station: str
    version: str
    raw: str

    @property
    def message(self) -> list[Any]:
        decoded: list[Any] = orjson.loads(self.raw)
        return decoded


@dataclass
class StationRecord:
    """What the CSMS knows of one station."""

    version: str
    received: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # CallErrors the CSMS answered with
    connections: int = 0
    connected: bool = False
    first_boot_at: float | None = None
    boot_status: str | None = None
    peers: set[str] = field(default_factory=set)  # source addresses the station came from
    jobs: dict[str, str] = field(default_factory=dict)  # firmware/diagnostics/log: last status
    security_events: Counter[str] = field(default_factory=Counter)  # by type
    # Certificate renewals: "requested", "refused" (CSR), "Accepted"/"Rejected" (the station's
    # answer to CertificateSigned), "unanswered".
    certificates: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "received": dict(self.received),
            "errors": dict(self.errors),
            "connections": self.connections,
            "connected": self.connected,
            "boot_status": self.boot_status,
            "peers": sorted(self.peers),
            "jobs": dict(self.jobs),
            "security_events": dict(self.security_events),
            "certificates": dict(self.certificates),
        }
