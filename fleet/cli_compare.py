"""The ``fleet compare`` command: two runs' summary JSON files (``--summary-json`` of ``fleet
run`` or of a Locust run), the rows that moved, and an exit code a CI job can gate a release on:
0 no regression, 1 a regression, 2 bad usage (a file that is not a run's summary)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from fleet.errors import UsageError
from fleet.metrics.compare import QUANTILES, Rules, compare, format_comparison, from_locust_csv


def add_compare_parser(sub: Any) -> None:
    """Add ``compare`` to the ``fleet`` command's subparsers."""
    cmp = sub.add_parser(
        "compare",
        help="compare two runs' --summary-json files: which rows got slower or failed more; "
        "exit 1 on a regression",
    )
    cmp.add_argument(
        "baseline", help="summary JSON (or Locust <prefix>_stats.csv) of the run to compare against"
    )
    cmp.add_argument("current", help="summary JSON (or Locust stats CSV) of the run under test")
    cmp.add_argument(
        "--tolerance",
        type=_percent,
        default=10.0,
        metavar="PCT",
        help="how much a quantile may rise before the row is slower, in %% (default 10)",
    )
    cmp.add_argument(
        "--floor-ms",
        type=float,
        default=1.0,
        metavar="MS",
        help="and by at least this much, in ms (default 1): noise on fast rows is not a regression",
    )
    cmp.add_argument(
        "--min-count",
        type=int,
        default=100,
        metavar="N",
        help="rows with fewer samples in either run are shown, not judged (default 100)",
    )
    cmp.add_argument(
        "--gate",
        default="p95,p99",
        metavar="LIST",
        help="the quantiles whose slowdown is a regression (default p95,p99)",
    )
    cmp.add_argument(
        "--fail-points",
        type=float,
        default=0.1,
        metavar="POINTS",
        help="how many percentage points a row's failure share may rise (default 0.1)",
    )
    cmp.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")


def cmd_compare(args: argparse.Namespace) -> int:
    gates = tuple(g.strip() for g in args.gate.split(",") if g.strip())
    unknown = [g for g in gates if g not in QUANTILES]
    if unknown or not gates:
        raise UsageError(f"--gate: {', '.join(unknown) or 'nothing'}: choose from p50, p95, p99")
    if args.min_count < 0 or args.floor_ms < 0 or args.fail_points < 0:
        raise UsageError("--min-count, --floor-ms and --fail-points cannot be negative")
    rules = Rules(
        tolerance=args.tolerance / 100,
        floor_ms=args.floor_ms,
        min_count=args.min_count,
        gates=gates,
        fail_points=args.fail_points,
    )
    base, current = _summary(args.baseline), _summary(args.current)
    comparison = compare(base, current, rules)
    labels = (_label(args.baseline, base), _label(args.current, current))
    print(format_comparison(comparison, rules, labels))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(comparison.to_json(), option=orjson.OPT_INDENT_2))
    return 1 if comparison.regressions else 0


def _summary(path: str) -> dict[str, Any]:
    """A run's summary JSON (or Locust stats CSV), or a one-line error saying what is wrong
    with the file."""
    try:
        raw = Path(path).read_bytes()
        if path.endswith(".csv"):
            return from_locust_csv(raw.decode("utf-8", "replace"))
        data = orjson.loads(raw)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("actions"), dict):
        raise UsageError(
            f'{path}: not a run\'s summary (no "actions"; write one with --summary-json)'
        )
    return data


def _label(path: str, summary: dict[str, Any]) -> str:
    stations = (summary.get("stations") or {}).get("total")
    duration = summary.get("duration_s")
    parts = [f"{stations} stations" if stations is not None else None]
    parts.append(f"{duration:g} s" if isinstance(duration, int | float) else None)
    shown = ", ".join(p for p in parts if p)
    return f"{path} ({shown})" if shown else path


def _percent(text: str) -> float:
    value = float(text.rstrip("%"))
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value
