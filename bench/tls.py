"""Benchmark 10: security profiles. Against the embedded CSMS (`fleet csms`, its own process) as
plain ws:// (profile 0), wss:// with Basic auth (profile 2) and mutual TLS (profile 3), in the
same run, rounds interleaved:

* handshakes per second: N connects (TCP, TLS, websocket upgrade; no boot), 100 in flight,
  and the client's CPU per handshake;
* memory per connected, booted, idle station: (RSS with N stations - RSS with one) / N;
* client CPU per Heartbeat round trip over each connection kind.

Certificates are made for the run in a temporary folder (``fleet.certs``, ECDSA P-256).

    python bench/tls.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import run_child
from bench.memory import idle_fleet, rss_kb

PROFILES = (0, 2, 3)
PASSWORD = "{id}-bench-secret"
IN_FLIGHT = 100
ROUND_TRIPS = 20


@contextlib.contextmanager
def csms(profile: int, certs: Path) -> Iterator[tuple[str, int]]:
    """The embedded CSMS serving ``profile`` in its own process; yields its URL and pid."""
    args = ["--interval", "300"]
    if profile:
        args += ["--tls-cert", str(certs / "csms.pem"), "--tls-key", str(certs / "csms.key")]
    if profile == 2:
        args += ["--password", PASSWORD, "--require-password"]
    if profile == 3:
        args += ["--client-ca", str(certs / "ca.pem")]
    command = [sys.executable, "-m", "fleet", "csms", "--port", "0", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"fleet csms did not start: {line!r}")
        yield line.split("listening on ", 1)[1].split()[0], process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_s(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scenario(profile: int, url: str, certs: Path, count: int) -> Any:
    from fleet.scenario import Scenario

    security: dict[str, Any] = {"profile": profile}
    if profile:
        security["ca_file"] = str(certs / "ca.pem")
    if profile == 2:
        security["password"] = PASSWORD
    if profile == 3:
        security["certs_dir"] = str(certs / "stations")
    return Scenario.model_validate(
        {"stations": {"count": count + 1}, "csms": {"url": url}, "security": security}
    )


async def _handshakes(scenario: Any, count: int, server: int) -> tuple[float, float, float]:
    """(handshakes per second, client and CSMS CPU ms per handshake) for ``count`` connects
    (``server``: the CSMS's pid)."""
    from fleet.station.connect import connect
    from fleet.station.security import access_for

    url = scenario.csms.url_for("1.6")
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        station_id = scenario.station_id(index)
        async with gate:
            access = access_for(scenario.security, url, station_id)
            ws = await connect(access.url, station_id, "1.6", 30, None, None, access)
            await ws.close()

    await one(count + 1)  # imports done, the shared context built
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_s(server)
    await asyncio.gather(*(one(i) for i in range(1, count + 1)))
    wall, spent = time.perf_counter() - started, time.process_time() - cpu
    server_spent = cpu_s(server) - server_cpu
    return count / wall, spent * 1000 / count, server_spent * 1000 / count


async def _idle(scenario: Any, count: int) -> tuple[float, float]:
    """(KB per connected idle station, client CPU µs per Heartbeat round trip)."""
    from fleet.process import raise_open_files_limit

    raise_open_files_limit(count * 2)
    url = scenario.csms.url_for("1.6")
    fleet = await idle_fleet(scenario, url, count, batch=100, pause_s=0.1)
    gc.collect()
    kb = (rss_kb() - fleet.before_kb) / count

    async def beats(station: Any) -> None:
        for _ in range(ROUND_TRIPS):
            await station.call("Heartbeat", {})

    cpu = time.process_time()
    await asyncio.gather(*(beats(s) for s in fleet.stations))
    us = (time.process_time() - cpu) * 1e6 / (count * ROUND_TRIPS)
    assert fleet.summary.failure_count == 0, fleet.summary.failure_reasons
    fleet.stop.set()
    await asyncio.wait(fleet.tasks, timeout=30)
    return kb, us


def child(profile: int, url: str, certs: str, count: int, server: int) -> None:
    from fleet.process import tune_gc

    tune_gc()
    scenario = _scenario(profile, url, Path(certs), count)
    rate, cpu_ms, csms_ms = uvloop.run(_handshakes(scenario, count, server))
    kb, us = uvloop.run(_idle(scenario, count))
    print(json.dumps({"rate": rate, "cpu_ms": cpu_ms, "csms_ms": csms_ms, "kb": kb, "us": us}))


def measure(count: int, rounds: int) -> dict[int, dict[str, float]]:
    """Median figures per profile over ``rounds`` interleaved rounds."""
    from fleet.certs import make_certificates

    results: dict[int, list[dict[str, Any]]] = {p: [] for p in PROFILES}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-certs-") as folder:
        certs = Path(folder)
        ids = [f"CP-{i:05d}" for i in range(1, count + 2)]
        made = time.perf_counter()
        make_certificates(certs, ids)
        results_made_s = time.perf_counter() - made
        for _ in range(rounds):
            for profile in PROFILES:
                with csms(profile, certs) as (url, pid):
                    args = [__file__, "child", str(profile), url, str(certs), str(count), str(pid)]
                    results[profile].append(run_child(args))
    medians = {
        p: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for p, runs in results.items()
    }
    medians[0]["certs_s"] = results_made_s
    return medians


def table(figures: dict[int, dict[str, float]], count: int) -> str:
    plain = figures[0]
    names = {0: "0: ws://", 2: "2: TLS + Basic auth", 3: "3: mutual TLS"}
    lines = [
        "| profile | handshakes/s | CPU per handshake: stations, CSMS | KB per idle station "
        "| CPU per Heartbeat round trip |",
        "|---|---:|---:|---:|---:|",
    ]
    for profile in PROFILES:
        f = figures[profile]
        ratio = "" if profile == 0 else f" ({f['us'] / plain['us']:.2f}× plain)"
        kb_ratio = "" if profile == 0 else f" (+{f['kb'] - plain['kb']:.1f})"
        lines.append(
            f"| {names[profile]} | {f['rate']:,.0f} | {f['cpu_ms']:.2f} ms, {f['csms_ms']:.2f} ms "
            f"| {f['kb']:.1f}{kb_ratio} | {f['us']:.1f} µs{ratio} |"
        )
    lines.append(
        f"\n{count:,} stations; certificates for {count + 1:,} stations made in "
        f"{plain['certs_s']:.1f} s. Both sides are one Python process on a 2-core machine: the "
        "side whose CPU per handshake is closest to 1 / the rate bounds it. A profile-3 "
        "station's first connect includes making its TLS context (its certificate and the CA "
        "loaded), as in a boot storm."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, rounds = (300, 1) if args.quick else (1000, 3)
    print(table(measure(count, rounds), count))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
