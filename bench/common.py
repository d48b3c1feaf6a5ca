"""Shared benchmark plumbing: child processes on loopback, JSON results, medians."""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from fleet import children
from fleet.children import server_process

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def responder(
    interval_s: int = 300, timestamps: str = "ms"
) -> contextlib.AbstractContextManager[str]:
    """The minimal responder (bench/responder.py): millisecond timestamps, as a real CSMS sends;
    ``timestamps="repeat"`` only to show what answers repeated byte for byte would save."""
    command = [sys.executable, str(BENCH / "responder.py"), "--interval", str(interval_s)]
    return server_process([*command, "--timestamps", timestamps])


def embedded_csms(interval_s: int = 300) -> contextlib.AbstractContextManager[str]:
    return children.embedded_csms("--interval", str(interval_s))


def run_child(args: list[str], timeout_s: float = 600) -> dict[str, Any]:
    """Run ``python <args>`` and parse the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)
