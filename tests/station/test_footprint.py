"""What a station costs in memory, held where a test can hold it: its instance attributes.

CPython 3.11 keeps an object's attributes inline (8 bytes each) while their names are among its
class's shared keys: at most 30 names, and each new instance shrinks the room for names not yet
seen, so a name first set after a few instances exist is never added. An instance setting a name
that is not there gets a dict table of its own (1,584 bytes for a station, measured; ~1.3 KB of
the ~12.7 KB an idle station cost under Locust). Every station got one at its first acceptance,
until the names a run sets were all set in ``__init__``. This test runs enough stations, booting,
heartbeating, charging and answering a CSMS call, to exhaust that room, and looks for such
tables."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from fleet.station.core import Station
from fleet.station.sessions import Charger
from tests.conftest import csms_running, fleet_running, make_scenario, wait_until
from tests.station.test_charging import QUICK


def _completed(charger: Charger) -> bool:
    return charger.counts.completed > 0


def _own_dict(station: Station) -> bool:
    """Whether the station holds a dict table of its own. Read through the collector, which
    sees the attributes themselves while they are inline: ``vars()`` would make the table."""
    return any(
        type(ref) is dict and ref.get("id") == station.id for ref in gc.get_referents(station)
    )


async def _charging_run(ids: str) -> dict[str, object]:
    """12 stations through boot, heartbeats, sessions and a CSMS call: which hold a table."""
    scenario = make_scenario(
        csms={"message_ids": ids},
        stations={"count": 12, "ocpp": {"1.6": 1, "2.0.1": 1}},
        heartbeat={"interval_s": 0.2, "min_s": 0.01},
        sessions=QUICK,
    )
    async with csms_running(interval_s=1) as csms:
        async with fleet_running(scenario, csms.url) as fleet:
            await wait_until(
                lambda: all(
                    s.charging and _completed(s.charging.chargers[0]) for s in fleet.stations
                ),
                timeout_s=20,
            )
            for station in fleet.stations:  # a CSMS call answered: a path of its own
                clear = c16.ClearCache() if station.version == "1.6" else c201.ClearCache()
                assert (await csms.call(station.id, clear)).status == "Accepted"
            own = [station.id for station in fleet.stations if _own_dict(station)]
            versions = sorted({station.version for station in fleet.stations})
    beats = fleet.summary.rows["Heartbeat"].count
    return {"own": own, "versions": versions, "beats": beats}


@pytest.mark.parametrize("ids", ["uuid", "counter"])
def test_stations_keep_their_attributes_inline_through_a_charging_run(ids: str) -> None:
    """With counter message ids a station sets one name late (its counter): the room left
    for such names is one, so nothing else on a common path may take it. A class's shared
    keys hold every name any of its instances ever set in the process, so the run gets a fresh
    interpreter: in the test process, earlier tests' stations have taken the room."""
    code = (
        "import json, sys, uvloop\n"
        "from tests.station.test_footprint import _charging_run\n"
        "print(json.dumps(uvloop.run(_charging_run(sys.argv[1]))))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code, ids], capture_output=True, text=True, cwd=root, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["beats"] >= 12
    assert result["versions"] == ["1.6", "2.0.1"]
    own = result["own"]
    assert own == [], f"{len(own)} of 12 stations hold a dict table of their own: {own}"
