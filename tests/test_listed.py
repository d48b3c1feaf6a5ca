"""A CSMS's own station ids and test tags, as files (stations.ids_file, sessions.id_tags.file):
read as a CSMS exports them, refused naming the field and the line, and used: the ids on the
wire in a real `fleet run` and Locust run, the tags drawn by the drivers."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from fleet.errors import ScenarioError
from fleet.scenario import load_scenario
from fleet.station.generator import SessionGenerator
from tests.test_cli import csms_process, fleet_run, ledger
from tests.test_locust import LOCUST, free_port, get

IDS = ["DE*ABC*E0001", "DE*ABC*E0002", "station-7", "Z9"]


def _files(tmp_path: Path, scenario: str, ids: str = "", tags: str = "") -> Path:
    (tmp_path / "ids.csv").write_text(ids, encoding="utf-8")
    (tmp_path / "tags.txt").write_text(tags, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(scenario)
    return path


def _export() -> str:
    """Station ids as a CSMS exports them: a BOM, a header comment, more columns, quotes."""
    rows = [f'"{IDS[0]}",Berlin', f"{IDS[1]},Hamburg", "", f"  {IDS[2]} ,x", IDS[3]]
    return "\ufeff# id,site\n" + "\n".join(rows) + "\n"


def test_ids_and_tags_are_read_as_a_csms_exports_them(tmp_path: Path) -> None:
    path = _files(
        tmp_path,
        "stations: {ids_file: ids.csv}\nsessions:\n  arrivals_per_hour: 1\n"
        "  id_tags: {file: tags.txt}\n",
        ids=_export(),
        tags="04A1B2C3\n# more\nTAG-2\r\nTAG-3\n",
    )
    scenario = load_scenario(path, environ={})
    assert scenario.stations.count == 4  # all of them, unless count says fewer
    assert [scenario.station_id(i) for i in range(1, 5)] == IDS
    with pytest.raises(IndexError):
        scenario.station_id(5)
    draws = collections.Counter(
        SessionGenerator.for_connector(scenario.sessions, station, 1).demand().id_tag
        for station in map(str, range(600))
    )
    assert set(draws) == {"04A1B2C3", "TAG-2", "TAG-3"} and min(draws.values()) > 150
    again = SessionGenerator.for_connector(scenario.sessions, "7", 1).demand().id_tag
    assert again == SessionGenerator.for_connector(scenario.sessions, "7", 1).demand().id_tag

    fewer = _files(tmp_path, "stations: {ids_file: ids.csv, count: 2}\n", ids=_export())
    assert load_scenario(fewer, environ={}).stations.count == 2


@pytest.mark.parametrize(
    ("text", "ids", "tags", "field", "words"),
    [
        ("stations: {ids_file: ids.csv, count: 5}", _export(), "", "stations.count",
         "5 stations, but ids_file lists 4 ids"),
        ("stations: {ids_file: ids.csv, id_pattern: 'X{index}'}", _export(), "",
         "stations.ids_file", "replaces id_pattern: give one or the other"),
        ("stations: {ids_file: ids.csv}", "A1\nA 2\n", "", "stations.ids_file",
         "line 2: station id 'A 2': ids are 1-48 characters"),
        ("stations: {ids_file: ids.csv}", "A1\nB2\nA1\n", "", "stations.ids_file",
         "line 3: station id 'A1' again (line 1)"),
        ("stations: {ids_file: ids.csv}", "# nothing\n\n", "", "stations.ids_file",
         "lists no station id"),
        ("stations: {ids_file: missing.csv}", "", "", "stations.ids_file", "cannot read it"),
        ("sessions: {id_tags: {file: tags.txt, size: 9}}", "", "T1\n",
         "sessions.id_tags.file", "replaces size: give one or the other"),
        ("sessions: {id_tags: {file: tags.txt}}", "", "T1\n" + "X" * 21 + "\n",
         "sessions.id_tags.file", "line 2: idTag 'XXXXXXXXXXXXXXXXXXXXX': 1-20 printable"),
    ],
)  # fmt: skip
def test_bad_lists_are_refused_naming_the_field_and_the_line(
    tmp_path: Path, text: str, ids: str, tags: str, field: str, words: str
) -> None:
    path = _files(tmp_path, text + "\n", ids=ids, tags=tags)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, environ={})
    message = str(caught.value)
    assert f": {field}: " in message and words in message, message


def test_fleet_run_connects_the_listed_stations_and_badges_the_listed_tags(
    tmp_path: Path,
) -> None:
    path = _files(
        tmp_path,
        "stations: {ids_file: ids.csv, ocpp: {'1.6': 1, '2.0.1': 1}}\n"
        "sessions:\n  arrivals_per_hour: 3600\n  plug_in_min: {min: 0.02, max: 0.03}\n"
        "  id_tags: {file: tags.txt}\nboot: {jitter_s: 0}\n",
        ids=_export(),
        tags="CSMS-TAG-1\nCSMS-TAG-2\n",
    )
    with csms_process("--interval", "300") as url:
        result = fleet_run(str(path), "--csms", url, "--duration", "6")
        seen, transactions = ledger(url), ledger(url, "transactions")["items"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(seen) == sorted(IDS)
    assert transactions and {t["id_tag"] for t in transactions} <= {"CSMS-TAG-1", "CSMS-TAG-2"}


def _locust(path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCUST, "--scenario", str(path), "--host", url, "--headless", "-r", "10", "-t", "3s",
         *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_locust_takes_the_listed_ids_and_refuses_more_users_than_ids(tmp_path: Path) -> None:
    path = _files(tmp_path, "stations: {ids_file: ids.csv}\nboot: {jitter_s: 0}\n", _export())
    with csms_process("--interval", "300") as url:
        too_many = _locust(path, url, "-u", "5")
        workers = _locust(path, url, "-u", "4", "--processes", "2")
        run = _locust(path, url, "-u", "4", "--processes", "2", "--fleet-id-stride", "2")
        seen = ledger(url)
    assert too_many.returncode == 2
    assert "fleet: error: -u 5: 5 stations, but stations.ids_file lists 4 ids" in too_many.stderr
    assert workers.returncode == 2
    assert "set --fleet-id-stride to at most 2" in workers.stderr
    assert "Traceback" not in too_many.stderr + workers.stderr
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(seen) == sorted(IDS)  # each worker took its two, none twice


def test_a_shape_asking_more_stations_than_ids_stops_the_test_saying_why(
    tmp_path: Path,
) -> None:
    """A load shape sets the user count itself, past the checks made before a start: the
    station without an id never connects, and the test stops with one line."""
    path = _files(tmp_path, "stations: {ids_file: ids.csv}\nboot: {jitter_s: 0}\n", _export())
    locustfile = tmp_path / "shaped.py"
    locustfile.write_text(
        "from locust import LoadTestShape\n"
        "from fleet.users import ChargePointUser\n\n"
        "class Station(ChargePointUser):\n    pass\n\n"
        "class Six(LoadTestShape):\n"
        "    def tick(self):\n"
        "        return (6, 10) if self.get_run_time() < 5 else None\n"
    )
    command = [*LOCUST[:-1], str(locustfile), "--scenario", str(path), "--headless"]
    with csms_process("--interval", "300") as url:
        result = subprocess.run(
            [*command, "--host", url], capture_output=True, text=True, timeout=120
        )
        seen = ledger(url)
    assert result.returncode == 2
    assert "station 5 has no id: stations.ids_file lists 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(seen) == sorted(IDS)  # the four listed, no other


def test_the_web_ui_refuses_a_start_with_more_users_than_ids(tmp_path: Path) -> None:
    path = _files(tmp_path, "stations: {ids_file: ids.csv}\nboot: {jitter_s: 0}\n", _export())
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    with csms_process("--interval", "300") as url:
        process = subprocess.Popen(
            [*LOCUST, "--scenario", str(path), "--host", url, "--web-host", "127.0.0.1",
             "--web-port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    get(f"{web}/")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the web UI did not come up"
                    time.sleep(0.1)
            answers = [
                json.loads(get(f"{web}/swarm", data=urllib.parse.urlencode(form).encode()))
                for form in (
                    {"user_count": 5, "spawn_rate": 10},
                    {"user_count": 4, "spawn_rate": 10},
                )
            ]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    refused, started = answers
    assert refused["success"] is False
    assert refused["message"] == "Number of users 5: 5 stations, but stations.ids_file lists 4 ids"
    assert started["success"] is True, started
