"""fleet's console in real Locust runs: a station looked at and driven through the web UI's
endpoints, on a single process and on workers behind a master; what it did is what the
embedded CSMS's ledger recorded."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_cli import csms_process, ledger
from tests.test_locust import LOCUST, free_port, get


def scenario(tmp_path: Path) -> str:
    """Four idle stations (no sessions of their own), two connectors, both versions."""
    data = {
        "stations": {"count": 4, "ocpp": {"1.6": 1, "2.0.1": 1}, "connectors": 2},
        "boot": {"ramp_per_s": 100, "jitter_s": 0},
        "sessions": {"meter_interval_s": 1},
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@contextlib.contextmanager
def web_ui(tmp_path: Path, url: str, *extra: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*LOCUST, "--scenario", scenario(tmp_path), "--host", url, "--autostart",
         "-u", "4", "-r", "4", "--web-host", "127.0.0.1", "--web-port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def ask(web: str, station: str, verb: str | None = None, **args: Any) -> tuple[int, dict]:
    """The console's HTTP status and answer (a POST with a JSON body for a verb)."""
    path = f"{web}/fleet/stations/{station}" + (f"/{verb}" if verb else "")
    body = None if verb is None else json.dumps(args).encode()
    request = urllib.request.Request(path, data=body, method="POST" if verb else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def until(check: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, KeyError, StopIteration):
            found = check()
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError("not within the time")


def transaction(url: str, tag: str) -> dict:
    """The CSMS ledger's transaction started with ``tag``."""
    return next(t for t in ledger(url, "transactions")["items"] if t["id_tag"] == tag)


def test_a_station_is_shown_and_driven_from_the_web_ui(tmp_path: Path) -> None:
    with csms_process("--interval", "300") as url, web_ui(tmp_path, url) as web:
        stations = until(lambda: len(ledger(url)) == 4 and sorted(ledger(url)))
        views = {s: until(lambda s=s: ask(web, s)[1]["station"]) for s in stations}
        assert {v["version"] for v in views.values()} == {"1.6", "2.0.1"}
        for station, view in views.items():
            until(lambda station=station: ask(web, station)[1]["station"]["state"] == "accepted")
            tag = f"HAND-{station[-2:]}"
            assert ask(web, station, "watch")[0] == 200
            status, said = ask(web, station, "plug", connector=2, id_tag=tag)
            assert (status, said["done"]) == (200, f"connector 2: plugged in, badged {tag}")
            assert said["station"]["connectors"][1]["phase"] in ("authorizing", "starting")
            started = until(lambda tag=tag: transaction(url, tag))
            assert (started["station"], started["connector"]) == (station, 2)
            status, said = ask(web, station, "plug", connector=2)
            assert status == 400 and said["error"].startswith("connector 2 is not free")
            until(
                lambda s=station: ask(web, s)[1]["station"]["connectors"][1]["phase"] == "charging"
            )
            assert ask(web, station, "stop")[0] == 200
            ended = until(lambda tag=tag: transaction(url, tag)["ended"] and transaction(url, tag))
            assert ended["stop_reason"] == "Local", (view["version"], ended)
            said = ask(web, station, "unplug")[1]
            assert said["done"] == "connector 2: unplugged"
            sent = [f["text"] for f in said["station"]["frames"] if f["what"] == ">"]
            assert any(tag in text for text in sent), sent  # its frames, seen from the UI
        status, said = ask(web, "CP-99999")
        assert (status, said) == (404, {"error": "no station CP-99999 runs in this test now"})
        found = json.loads(get(f"{web}/fleet/stations?state=accepted&limit=3"))
        assert found == {"state": "accepted", "count": 4, "ids": stations[:3]}
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(f"{web}/fleet/stations?state=asleep")
        assert refused.value.code == 400
        assert json.loads(refused.value.read())["error"].startswith("state: one of offline")
        status, said = ask(web, stations[0], "fly")
        assert status == 400 and said["error"].startswith("unknown action 'fly'")
        rows = json.loads(get(f"{web}/stats/requests"))["stats"]
        names = {row["name"] for row in rows}
        assert {"StartTransaction", "StopTransaction", "TransactionEvent(Ended)"} <= names
        failures = {row["name"]: row["num_failures"] for row in rows if row["num_failures"]}
        assert failures == {}
        page = get(f"{web}/").decode()
        assert '"fleet-console"' in page  # the tab's console box
        get(f"{web}/stop", data=b"")
        until(lambda: ask(web, stations[0])[0] == 404)  # its station stopped with its user


def test_under_a_master_the_station_is_found_on_its_worker(tmp_path: Path) -> None:
    with (
        csms_process("--interval", "300") as url,
        web_ui(tmp_path, url, "--processes", "2") as web,
    ):
        stations = until(lambda: len(ledger(url)) == 4 and sorted(ledger(url)))
        assert len({s[:-4] for s in stations}) == 2  # each worker's ids (its id stride)
        for number, station in enumerate(stations):
            until(lambda s=station: ask(web, s)[1]["station"]["state"] == "accepted")
            tag = f"W-{number}"
            status, said = ask(web, station, "plug", id_tag=tag)
            assert (status, said["done"]) == (200, f"connector 1: plugged in, badged {tag}")
            assert until(lambda tag=tag: transaction(url, tag))["station"] == station
        found = json.loads(get(f"{web}/fleet/stations?state=charging"))
        assert found == {"state": "charging", "count": 4, "ids": stations}  # both workers'
        found = json.loads(get(f"{web}/fleet/stations?state=rejected"))
        assert found == {"state": "rejected", "count": 0, "ids": []}
        status, said = ask(web, "CP-99999", "reboot")  # every worker said it is not there
        assert (status, said) == (404, {"error": "no station CP-99999 runs in this test now"})


def test_with_web_login_fleets_pages_are_guarded_as_locusts_are(tmp_path: Path) -> None:
    """--web-login without a login made: Locust's own pages and fleet's serve no data."""
    with csms_process("--interval", "300") as url, web_ui(tmp_path, url, "--web-login") as web:
        until(lambda: get(f"{web}/"))
        pages = ["/stats/requests", "/fleet/state", "/fleet/history", "/fleet/panel",
                 "/fleet/stations?state=accepted", "/fleet/stations/CP-00001"]  # fmt: skip
        bodies = {page: get(f"{web}{page}").decode() for page in pages}
        bodies["reboot"] = get(f"{web}/fleet/stations/CP-00001/reboot", data=b"").decode()
    for page, body in bodies.items():
        assert body.startswith("Locust auth exception"), (page, body[:200])
