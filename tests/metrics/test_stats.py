"""fleet's own statistics: what a Locust worker sends the master (plain data) must merge into
exactly what one process would have counted."""

from __future__ import annotations

import random

import orjson
import pytest

from fleet.metrics.conformance import MAX_KINDS, Conformance
from fleet.metrics.sample import ANSWER, DELIVERY_EVENTS, SessionDelta, Violation
from fleet.metrics.stats import TOP_STATIONS, FleetStats


def violation(field: str = "currentTime", example: str = "[3,...]") -> Violation:
    return Violation(ANSWER, "BootNotification", field, "format", "date-time", example)


def record(stats: FleetStats, rng: random.Random, worker: int) -> None:
    for n in range(500):
        stats.timing("boot→accepted", rng.uniform(1, 900), None, tainted=n % 50 == 0)
        stats.timing("CSMS→CP Reset", rng.uniform(0.1, 3), "NotSupported: x" if n % 7 else None)
        stats.exchange("OCPP1.6", "Heartbeat", rng.uniform(1, 50), None, tainted=n % 25 == 0)
        stats.missed_beats(f"CP-{worker}{n % 40:03d}", "Heartbeat", ("offline", "busy")[n % 2], 2)
        stats.answered("Reset", rng.choice(["Accepted", "Rejected", "(unanswered)"]))
        stats.delivered("MeterValues", rng.choice(DELIVERY_EVENTS))
        stats.session("1.6", SessionDelta(0, 1, n % 2, rng.uniform(0, 100), faults=int(n % 3 == 0)))
    stats.violation(violation())
    stats.violation(violation("interval"))


def test_a_merge_of_workers_equals_one_process_counting_everything() -> None:
    rng_a, rng_b, rng_all = random.Random(7), random.Random(8), random.Random(7)
    a, b, both = FleetStats(), FleetStats(), FleetStats()
    record(a, rng_a, 1)
    record(b, rng_b, 2)
    record(both, rng_all, 1)
    record(both, random.Random(8), 2)
    # Through the wire format, as msgpack or JSON would carry it.
    merged = FleetStats()
    for part in (a, b):
        merged.merge(FleetStats.from_dict(orjson.loads(orjson.dumps(part.to_dict()))))
    for name, row in both.timings.items():
        assert merged.timings[name].to_json() == row.to_json(), name
    assert merged.tainted_share("Heartbeat") == both.tainted_share("Heartbeat") == 20 / 500
    assert merged.missed_total("Heartbeat") == both.missed_total() == 2000
    missed = merged.missed_json()["Heartbeat"]
    assert (missed["offline"], missed["busy"], missed["stall"]) == (1000, 1000, 0)
    # Only the worst TOP_STATIONS per worker travel, but the station count stays whole.
    assert missed["stations"] == both.missed_json()["Heartbeat"]["stations"] == 80
    assert len(missed["worst"]) == TOP_STATIONS
    assert merged.conformance.rows() == both.conformance.rows()
    assert merged.reasons == both.reasons and merged.failures == both.failures
    assert merged.answers_json() == both.answers_json()
    assert merged.answers_json()["Reset"]["count"] == 1000
    assert merged.delivery_json() == both.delivery_json()
    assert sum(merged.delivery_json()["MeterValues"].values()) == 1000
    totals, whole = merged.sessions["1.6"], both.sessions["1.6"]
    assert (totals.started, totals.completed, totals.faults) == (1000, 500, 2 * 167)
    assert (whole.started, whole.completed, whole.faults) == (1000, 500, 2 * 167)
    assert totals.energy_wh == pytest.approx(whole.energy_wh)


def test_conformance_keeps_one_example_per_kind_and_counts_beyond_its_limit() -> None:
    table = Conformance()
    table.add(violation(example="first"))
    table.add(violation(example="second"))
    for n in range(MAX_KINDS + 10):
        table.add(violation(field=f"f{n}"))
    rows = table.rows()
    assert rows[0]["field"] == "currentTime" and rows[0]["count"] == 2
    assert rows[0]["example"] == "first"
    assert len(rows) == MAX_KINDS and table.overflow == 11
    assert table.total == MAX_KINDS + 12
    assert table.count("BootNotification") == MAX_KINDS + 1  # counted per kind kept
