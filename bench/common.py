"""Shared benchmark plumbing: child processes on loopback, JSON results, medians."""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


@contextlib.contextmanager
def process_printing_url(command: list[str], timeout_s: float = 30) -> Iterator[str]:
    """Start a server process that prints "... listening on <url>" first; yield the URL."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if " listening on " not in f" {line}":
            raise RuntimeError(f"{command[:3]} did not start: {line!r}")
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def responder(interval_s: int = 300) -> contextlib.AbstractContextManager[str]:
    return process_printing_url(
        [sys.executable, str(BENCH / "responder.py"), "--interval", str(interval_s)]
    )


def embedded_csms(interval_s: int = 300) -> contextlib.AbstractContextManager[str]:
    return process_printing_url(
        [sys.executable, "-m", "fleet", "csms", "--port", "0", "--interval", str(interval_s)]
    )


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
