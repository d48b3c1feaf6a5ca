"""Two runs' summaries side by side: did the CSMS get slower? Pure: given the two summary JSON
documents (``fleet run --summary-json`` or Locust's ``--summary-json``, the same shape) and the
rules, it says per row what moved and whether that is a regression.

A CSMS team runs one scenario against release N and release N+1 and wants a verdict, not two
tables to read by eye. Latency quantiles are noisy from run to run, so a row counts as slower
only when it moved by more than a relative tolerance *and* an absolute floor (1.2 ms -> 1.5 ms is
+25 % and nothing anyone should block a release on), and only on rows with enough samples. A row
whose samples overlapped fleet's own stalls measures the simulator as much as the CSMS: it is
shown, and said to be not judged, rather than blamed on the release.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fleet.metrics.report import DISTRUST_SHARE
from fleet.metrics.sample import BOOT_ACCEPTED, RECONNECTED

QUANTILES: Final = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
# Besides the wire rows, fleet's own rows that measure the CSMS (how long it takes to accept a
# station, at boot and after a lost connection); loop lag, drift and the stations' handling
# times measure the simulator and are not compared.
CSMS_ROWS: Final = (BOOT_ACCEPTED, RECONNECTED)
SLOWER, FASTER, SAME, WORSE, BETTER = "slower", "faster", "same", "more failures", "fewer failures"
UNSURE = "not judged"  # too few samples beyond the quantile to say where it lies


@dataclass(frozen=True, slots=True)
class Rules:
    """When a move counts. ``gates``: the quantiles whose slowdown is a regression (all three
    are shown); ``fail_points``: how many percentage points the failure share may rise."""

    tolerance: float = 0.10
    floor_ms: float = 1.0
    min_count: int = 100
    gates: tuple[str, ...] = ("p95", "p99")
    fail_points: float = 0.1
    # A quantile is judged only with this many samples beyond it in both runs: the p99 of 150
    # samples is their second-largest, and moves with whichever one sample lands there.
    tail: int = 10


@dataclass(slots=True)
class Change:
    """One row of both runs: its figures, what moved, and why it is not judged (if so)."""

    name: str
    base: Mapping[str, Any] | None
    current: Mapping[str, Any] | None
    moves: dict[str, str] = field(default_factory=dict)  # "p95": SLOWER, "failures": WORSE
    not_judged: str | None = None
    regression: list[str] = field(default_factory=list)  # what makes this row a regression


@dataclass(slots=True)
class Comparison:
    rows: list[Change]
    notes: list[str]  # about the runs as a whole: different loads, saturation
    regressions: list[str]  # one line each, the verdict's reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "regression": bool(self.regressions),
            "regressions": self.regressions,
            "notes": self.notes,
            "rows": [
                {
                    "name": row.name,
                    "base": row.base,
                    "current": row.current,
                    "moves": row.moves,
                    "not_judged": row.not_judged,
                }
                for row in self.rows
            ],
        }


def from_locust_csv(text: str) -> dict[str, Any]:
    """A Locust ``<prefix>_stats.csv`` as a summary's "actions" (Locust's whole milliseconds, no
    taint figures), for runs whose summary JSON was not kept. fleet's rows are per OCPP version
    there: a name two versions share is told apart by its type ("Heartbeat [OCPP2.0.1]")."""
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r.get("Name") != "Aggregated"]
    if not rows or not {"Name", "Request Count", "95%"} <= set(rows[0]):
        raise ValueError("not a Locust stats CSV (no Name, Request Count, 95% columns)")
    names = Counter(r["Name"] for r in rows)
    actions = {}
    for r in rows:
        name = r["Name"] if names[r["Name"]] == 1 else f"{r['Name']} [{r['Type']}]"
        actions[name] = {
            "count": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            **{f"{q}_ms": _number(r.get(f"{q[1:]}%")) for q in QUANTILES},
        }
    return {"actions": actions, "source": "locust-csv"}


def _number(text: str | None) -> float | None:
    return None if text in (None, "", "N/A") else float(text)


def compare(base: Mapping[str, Any], current: Mapping[str, Any], rules: Rules) -> Comparison:
    """Every wire row and CSMS row of either run, judged by ``rules``. Two capacity searches
    are judged by the stations they held: their whole-run figures mix steps of different
    loads (a search that went further reads slower for it), so their rows are only shown."""
    searches = bool(base.get("capacity")) and bool(current.get("capacity"))
    rows = []
    for name, kind in _row_names(base, current):
        change = Change(name, base.get(kind, {}).get(name), current.get(kind, {}).get(name))
        if searches:
            change.not_judged = "capacity searches: compared by the stations they held"
        else:
            _judge(change, rules)
        rows.append(change)
    regressions = [line for row in rows for line in row.regression]
    before, after = _violations(base), _violations(current)
    if after > before:
        regressions.append(f"CSMS schema violations: {before} -> {after}")
    notes = _notes(base, current)
    held = [(s.get("capacity") or {}).get("held") for s in (base, current)]
    if searches:
        notes.append(f"capacity: held {held[0]} -> {held[1]} stations")
        if (held[1] or 0) < (held[0] or 0):
            regressions.append(f"capacity: held {held[0]} -> {held[1]} stations")
    return Comparison(rows, notes, regressions)


def _row_names(base: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, str]]:
    wire = list(dict.fromkeys([*base["actions"], *current["actions"]]))
    own = [n for n in CSMS_ROWS if n in base.get("fleet", {}) or n in current.get("fleet", {})]
    return [(name, "actions") for name in wire] + [(name, "fleet") for name in own]


def _judge(change: Change, rules: Rules) -> None:
    base, current = change.base, change.current
    if base is None or current is None:
        change.not_judged = "only in the current run" if base is None else "only in the baseline"
        return
    fewest = min(base.get("count") or 0, current.get("count") or 0)
    if fewest < rules.min_count:
        change.not_judged = f"{fewest} samples, fewer than {rules.min_count}"
        return
    share = max(_tainted(base), _tainted(current))
    if share >= DISTRUST_SHARE:
        change.not_judged = (
            f"{100 * share:.0f} % of its samples overlapped fleet's own stalls: "
            "the simulator, not the CSMS, may have moved it"
        )
        return
    for quantile, fraction in QUANTILES.items():
        if round(fewest * (1 - fraction), 6) < rules.tail:
            change.moves[quantile] = UNSURE
            continue
        before, after = base.get(f"{quantile}_ms"), current.get(f"{quantile}_ms")
        if before is None or after is None:
            change.moves[quantile] = SAME
            continue
        move = change.moves[quantile] = _moved(before, after, rules)
        if move == SLOWER and quantile in rules.gates:
            change.regression.append(
                f"{change.name} {quantile} {before:g} -> {after:g} ms ({_pct(before, after)})"
            )
    before_pct, after_pct = _fail_pct(base), _fail_pct(current)
    if after_pct - before_pct > rules.fail_points:
        change.moves["failures"] = WORSE
        change.regression.append(
            f"{change.name} failures {before_pct:.2f} % -> {after_pct:.2f} % of its calls"
        )
    elif before_pct - after_pct > rules.fail_points:
        change.moves["failures"] = BETTER


def _moved(before: float, after: float, rules: Rules) -> str:
    if after - before > rules.floor_ms and after > before * (1 + rules.tolerance):
        return SLOWER
    if before - after > rules.floor_ms and before > after * (1 + rules.tolerance):
        return FASTER
    return SAME


def _pct(before: float, after: float) -> str:
    return f"{100 * (after - before) / before:+.0f} %" if before else "from 0"


def _tainted(row: Mapping[str, Any]) -> float:
    count = row.get("count") or 0
    return (row.get("tainted") or 0) / count if count else 0.0


def _fail_pct(row: Mapping[str, Any]) -> float:
    count = row.get("count") or 0
    return 100 * (row.get("failures") or 0) / count if count else 0.0


def _violations(summary: Mapping[str, Any]) -> int:
    return int((summary.get("conformance") or {}).get("violations") or 0)


def _notes(base: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What makes the two runs less than comparable, in plain words."""
    notes = []
    if "locust-csv" in (base.get("source"), current.get("source")):
        notes.append(
            "a Locust stats CSV has whole milliseconds and no taint figures: whether fleet's "
            "own stalls moved a row is not known (--summary-json files have both)"
        )
    stations = [(s.get("stations") or {}).get("total") for s in (base, current)]
    if stations[0] != stations[1]:
        notes.append(
            f"the runs had {stations[0]} and {stations[1]} stations: not the same load, so "
            "latencies may differ for that reason alone"
        )
    durations = [s.get("duration_s") or 0.0 for s in (base, current)]
    if min(durations) > 0 and max(durations) > 1.1 * min(durations):
        notes.append(f"the runs lasted {durations[0]:g} s and {durations[1]:g} s")
    for label, summary in (("baseline", base), ("current", current)):
        if summary.get("saturated"):
            notes.append(
                f"the {label} run's event loop was saturated: rows whose samples overlapped "
                "its stalls are not judged; run fewer stations per process"
            )
    return notes


def format_comparison(comparison: Comparison, rules: Rules, labels: tuple[str, str]) -> str:
    """The comparison as a user reads it: the runs, one line per row (baseline -> current),
    the notes, and the verdict last."""
    lines = [
        f"baseline: {labels[0]}",
        f"current:  {labels[1]}",
        f"a row is slower when a quantile rose by more than {100 * rules.tolerance:g} % and "
        f"{rules.floor_ms:g} ms; judged: {', '.join(rules.gates)}, failures (+"
        f"{rules.fail_points:g} points); rows with fewer than {rules.min_count} samples, and "
        f"quantiles with fewer than {rules.tail} beyond them, are shown, not judged",
        "",
        f"{'row':<28} {'count':>15}  {'p50 ms':>15}  {'p95 ms':>15}  {'p99 ms':>15}  "
        f"{'fail %':>13}  verdict",
    ]
    for row in comparison.rows:
        lines.append(_row_line(row))
    lines.append("")
    lines += [f"note: {note}" for note in comparison.notes]
    if comparison.regressions:
        lines.append(f"REGRESSION: {len(comparison.regressions)} finding(s)")
        lines += [f"  {line}" for line in comparison.regressions]
    else:
        judged = sum(1 for row in comparison.rows if row.not_judged is None)
        lines.append(f"no regression: {judged} row(s) judged")
    return "\n".join(lines)


def _row_line(row: Change) -> str:
    def pair(key: str, digits: int = 1) -> str:
        values = [None if r is None else r.get(key) for r in (row.base, row.current)]
        shown = ["-" if v is None else f"{v:.{digits}f}" for v in values]
        return f"{shown[0]} -> {shown[1]}"

    def fails(summary: Mapping[str, Any] | None) -> str:
        return "-" if summary is None else f"{_fail_pct(summary):.2f}"

    counts = [str((r or {}).get("count", "-")) for r in (row.base, row.current)]
    if row.not_judged is not None:
        verdict = f"not judged: {row.not_judged}"
    else:
        moved = [f"{key} {move}" for key, move in row.moves.items() if move not in (SAME, UNSURE)]
        verdict = ", ".join(moved) if moved else SAME
        if row.regression:
            verdict = f"REGRESSION: {verdict}"
        unsure = [key for key, move in row.moves.items() if move == UNSURE]
        if unsure:
            verdict += f" ({', '.join(unsure)}: too few samples beyond)"
    return (
        f"{row.name:<28} {' -> '.join(counts):>15}  {pair('p50_ms'):>15}  {pair('p95_ms'):>15}  "
        f"{pair('p99_ms'):>15}  {fails(row.base) + ' -> ' + fails(row.current):>13}  {verdict}"
    )
