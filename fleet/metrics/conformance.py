"""CSMS conformance: every OCPP violation a CSMS committed during a run, counted per
(direction, action, field, rule) with one example frame, so a load test doubles as a
conformance check."""

from __future__ import annotations

from typing import Any, Final

from fleet.metrics.sample import Violation

MAX_KINDS: Final = 200  # distinct (direction, action, field, rule) kept; more are only counted


class Conformance:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.examples: dict[tuple[str, str, str, str], Violation] = {}
        self.total = 0
        self.overflow = 0  # violations of kinds beyond MAX_KINDS

    def add(self, violation: Violation, count: int = 1) -> None:
        key = violation.key
        self.total += count
        if key in self.counts:
            self.counts[key] += count
        elif len(self.counts) < MAX_KINDS:
            self.counts[key] = count
            self.examples[key] = violation
        else:
            self.overflow += count

    def merge(self, other: Conformance) -> None:
        for key, n in other.counts.items():
            self.add(other.examples[key], n)
        self.overflow += other.overflow
        self.total += other.overflow

    def count(self, action: str | None = None) -> int:
        if action is None:
            return self.total
        return sum(n for key, n in self.counts.items() if key[1] == action)

    def rows(self) -> list[dict[str, Any]]:
        """Most frequent first: what the report and the JSON show."""
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return [
            {
                "direction": key[0],
                "action": key[1],
                "field": key[2],
                "rule": key[3],
                "wanted": self.examples[key].wanted,
                "count": n,
                "example": self.examples[key].example,
            }
            for key, n in ordered
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows(), "overflow": self.overflow}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conformance:
        table = cls()
        for row in data.get("rows", ()):
            violation = Violation(
                row["direction"], row["action"], row["field"], row["rule"], row["wanted"],
                row["example"],
            )  # fmt: skip
            table.add(violation, int(row["count"]))
        table.overflow = int(data.get("overflow", 0))
        table.total += table.overflow
        return table
