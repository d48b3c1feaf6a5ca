"""Benchmark 8: storms under 10,000 stations in one Locust process, sessions running, against
the embedded CSMS with a ledger file in its own process.

* CSMS restart: the CSMS is killed (SIGKILL) mid-run and started again on the same port and
  ledger file 3 s later. Every station must be accepted again; how long each took (lost ->
  accepted) is the reconnect storm's spread under the scenario's reconnect policy; the CSMS's
  ledger must hold every transaction message the stations delivered, without gap or disorder;
  the loop lag is read in the 30 s from the kill.
* Blackout: 30 % of the stations drop and stay offline for 5 minutes (a storm the stations
  strike), charging and queueing, then return: every queued message delivered, in order.

    python bench/storms.py restart|blackout [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH, ROOT
from bench.memory import rss_kb
from fleet.metrics.reconcile import reconcile

RAMP_PER_S = 250
SESSIONS = {  # every station's connector in a session within seconds, all run long
    "arrivals_per_hour": 3600,
    "plug_in_min": {"min": 600, "max": 600},
    "meter_interval_s": 30,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _csms(port: int, ledger: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "csms", "--port", str(port), "--interval", "300",
         "--ledger-file", str(ledger)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None and "listening on" in process.stdout.readline()
    return process


def _ledger(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ledger", timeout=30) as response:
        transactions: dict[str, Any] = json.loads(response.read())["transactions"]
    return transactions


def _run(
    users: int, seconds: int, scenario: dict[str, Any], restart_at_s: float | None = None
) -> dict[str, Any]:
    """One headless `fleet locust` run against a `fleet csms --ledger-file`, the CSMS killed and
    started again ``restart_at_s`` into the run when given. Returns the summary, the lag
    samples, the ledger, when the CSMS was killed, and the peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario))
        port, ledger = _free_port(), folder / "ledger.jsonl"
        csms = _csms(port, ledger)
        env = {k: v for k, v in os.environ.items() if k != "FLEET_CSMS_URL"}
        env["FLEET_BENCH_LAG_JSON"] = str(folder / "lag.json")
        started = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "fleet", "locust", "-f", str(BENCH / "storm_locustfile.py"),
             "--scenario", str(folder / "scenario.yaml"),
             "--host", f"ws://127.0.0.1:{port}/ocpp", "--headless", "-u", str(users),
             "-r", str(RAMP_PER_S), "-t", f"{seconds}s", "--only-summary",
             "--loglevel", "WARNING", "--summary-json", str(folder / "summary.json")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        killed_at = None
        peak = 0
        try:
            while process.poll() is None:
                with contextlib.suppress(OSError, RuntimeError):
                    peak = max(peak, rss_kb(process.pid))
                due = restart_at_s is not None and time.time() - started >= restart_at_s
                if due and killed_at is None:
                    csms.kill()
                    csms.wait(timeout=10)
                    killed_at = time.time()
                    time.sleep(3)
                    csms = _csms(port, ledger)
                time.sleep(0.5)
            transactions = _ledger(port)
        finally:
            process.kill()
            csms.terminate()
            csms.wait(timeout=30)
        summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
        lag = json.loads((folder / "lag.json").read_text())
    return {
        "summary": summary,
        "lag": lag,
        "ledger": reconcile(summary["delivery"], [transactions]),
        "killed_at": killed_at,
        "started": started,
        "rss_mb": peak / 1024,
    }


def _lag_p99(samples: list[list[float]], since: float, until: float) -> float:
    window = sorted(ms for at, ms in samples if since <= at < until)
    return window[min(len(window) - 1, int(len(window) * 0.99))] if window else 0.0


def _reconnects(summary: dict[str, Any]) -> str:
    block = summary.get("reconnects") or {}
    buckets = " · ".join(f"{k} {v:,}" for k, v in (block.get("buckets") or {}).items())
    return buckets or "none"


def _scenario(users: int, **more: Any) -> dict[str, Any]:
    return {
        "stations": {"count": users, "ocpp": {"1.6": 70, "2.0.1": 30}},
        "heartbeat": {"interval_s": 300},
        "sessions": SESSIONS,
        **more,
    }


def restart(quick: bool) -> tuple[str, dict[str, Any]]:
    users = 2000 if quick else 10_000
    ramp_s = users / RAMP_PER_S
    kill_s = ramp_s + 20
    result = _run(users, int(kill_s + 70), _scenario(users), restart_at_s=kill_s)
    summary, ledger = result["summary"], result["ledger"]
    killed = result["killed_at"] or 0.0
    row = summary["fleet"].get("lost→accepted", {})
    delivery = summary["delivery"]
    queued = sum(r["queued offline"] for r in delivery.values())
    replayed = sum(r["replayed"] for r in delivery.values())
    lines = [
        "| stations | re-accepted | lost→accepted p50 / p95 / p99 / max | messages delivered "
        "| queued offline / replayed | missing | seqNo gaps | out of order | unknown tx "
        "| loop lag p99, 30 s from the kill | peak RSS |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {row.get('count', 0):,} of {summary['stations']['accepted']:,} "
        f"| {_s(row.get('p50_ms'))} / {_s(row.get('p95_ms'))} / {_s(row.get('p99_ms'))} / "
        f"{_s(row.get('max_ms'))} | {ledger['delivered']:,} | {queued:,} / {replayed:,} "
        f"| {ledger['missing']} | {ledger['seq_gaps']} | {ledger['out_of_order']} "
        f"| {ledger['unknown']} | {_lag_p99(result['lag'], killed, killed + 30):.0f} ms "
        f"| {result['rss_mb']:,.0f} MB |",
        "",
        f"Reconnect times (lost→accepted), reconnect policy exponential 1-30 s: "
        f"{_reconnects(summary)}.",
    ]  # fmt: skip
    return "\n".join(lines), result


def blackout(quick: bool) -> tuple[str, dict[str, Any]]:
    users = 2000 if quick else 10_000
    down_s = 60 if quick else 300
    at_s = users / RAMP_PER_S + 20
    storm = {"kind": "blackout", "at_s": at_s, "share": 0.3, "duration_s": down_s}
    result = _run(users, int(at_s + down_s + 60), _scenario(users, storms=[storm]))
    summary, ledger = result["summary"], result["ledger"]
    delivery = summary["delivery"]
    total = {k: sum(r[k] for r in delivery.values()) for k in next(iter(delivery.values()))}
    back = result["started"] + at_s + down_s
    lines = [
        "| stations | offline | queued offline | replayed | given up / dropped / still queued "
        "| missing | seqNo gaps | out of order | unknown tx | accepted at the end "
        "| loop lag p99, 30 s from the return |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users:,} | {summary['fleet'].get('lost→accepted', {}).get('count', 0):,} for "
        f"{down_s} s | {total['queued offline']:,} | {total['replayed']:,} "
        f"| {total['given up']} / {total['dropped']} / {total['still queued']} "
        f"| {ledger['missing']} | {ledger['seq_gaps']} | {ledger['out_of_order']} "
        f"| {ledger['unknown']} | {summary['stations']['accepted']:,} "
        f"| {_lag_p99(result['lag'], back, back + 30):.0f} ms |",
    ]  # fmt: skip
    return "\n".join(lines), result


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=("restart", "blackout"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    text, _ = (restart if args.which == "restart" else blackout)(args.quick)
    print(text)


if __name__ == "__main__":
    main()
