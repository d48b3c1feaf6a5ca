"""Benchmark 12: CPU to validate one answer, as shipped against fastjsonschema alone.

Every answer a station receives is checked against its schema (``wire.checker``): a predicate
made from the schema (fleet/fastcheck.py) passes what is certainly valid, and only what it
refuses meets fastjsonschema, which names the violation. Measured here side by side, rounds
interleaved in one process, on answers as a real CSMS sends them: each with its own millisecond
timestamp (distinct strings, nothing a cache could reuse), for the answers a charging station
waits for most.

    python bench/answer_check.py [--answers 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median
from bench.responder import now_ms
from fleet import wire

# (version, action, an answer made fresh for each timestamp)
ANSWERS: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
    ("1.6", "Heartbeat", lambda now: {"currentTime": now}),
    (
        "1.6",
        "BootNotification",
        lambda now: {"status": "Accepted", "currentTime": now, "interval": 300},
    ),
    (
        "1.6",
        "StartTransaction",
        lambda now: {"transactionId": 7, "idTagInfo": {"status": "Accepted", "expiryDate": now}},
    ),
    ("1.6", "MeterValues", lambda now: {}),
    (
        "2.0.1",
        "TransactionEvent",
        lambda now: {"idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": now}},
    ),
]


def _answers(make: Callable[[str], dict[str, Any]], count: int) -> list[dict[str, Any]]:
    base = now_ms()[:-6]  # "YYYY-MM-DDTHH:MM:S": the last digit of the seconds and the ms vary
    return [make(f"{base}{(i // 1000) % 10}.{i % 1000:03d}Z") for i in range(count)]


def _ns_per_check(check: Callable[[Any], Any], answers: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for answer in answers:
        check(answer)
    return (time.perf_counter() - started) / len(answers) * 1e9


def measure(count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per answer: (ns as shipped, ns fastjsonschema alone), medians of interleaved rounds."""
    results = {}
    for version, action, make in ANSWERS:
        answers = _answers(make, count)
        shipped = wire.checker(version, action, "response")
        compiled = wire._compiled(version, action, "response")
        assert compiled is not None
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(rounds):
            ours.append(_ns_per_check(shipped, answers))
            theirs.append(_ns_per_check(compiled, answers))
        results[f"{version} {action}"] = (median(ours), median(theirs))
    return results


def table(results: dict[str, tuple[float, float]]) -> str:
    lines = [
        "| answer | as shipped, µs | fastjsonschema alone, µs | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, (ours, theirs) in results.items():
        lines.append(f"| {name} | {ours / 1000:.2f} | {theirs / 1000:.2f} | {ours / theirs:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(table(measure(args.answers, args.rounds)))


if __name__ == "__main__":
    main()
