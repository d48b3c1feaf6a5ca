"""The local authorisation list without sockets: updates by version, and a charger that starts
a listed driver's session without asking the CSMS (LocalPreAuthorize), driven by a fake clock."""

from __future__ import annotations

from fleet.scenario_charging import IdTags
from fleet.station.local_list import SEND_MAX, LocalList
from fleet.station.sessions import Phase
from fleet.station.transaction import TxSettings
from tests.station.test_sessions import FAST, T0, charger, valid


def test_updates_by_version_full_and_differential() -> None:
    local = LocalList()
    assert local.update(1, True, [("A", "Accepted"), ("B", "Blocked")]) == "Accepted"
    assert (local.version, local.status("A"), local.status("B")) == (1, "Accepted", "Blocked")
    assert local.update(1, False, [("C", "Accepted")]) == "VersionMismatch"  # not newer
    assert local.update(2, False, [("C", "Accepted"), ("B", None)]) == "Accepted"
    assert local.entries == {"A": "Accepted", "C": "Accepted"}
    assert local.update(3, True, [("D", "Expired")]) == "Accepted"
    assert local.entries == {"D": "Expired"}  # a full list replaces
    assert local.update(4, True, [(f"T{n}", "Accepted") for n in range(SEND_MAX + 1)]) == "Failed"
    assert local.update(0, True, []) == "Failed"
    assert local.version == 3  # a refused update changes nothing


def arrive(version: str, pre_authorize: bool, status: str | None) -> list[str]:
    """What a charger sends when a driver arrives, with every tag of the pool on the list as
    ``status`` (None: not listed), and the phase it is in then."""
    config = FAST.model_copy(update={"id_tags": IdTags(size=50)})
    one = charger(version, config)
    local = LocalList()
    if status is not None:
        assert local.update(1, True, [(f"TAG-{n:05d}", status) for n in range(1, 51)]) == "Accepted"
    changed = {"LocalPreAuthorize": "true" if pre_authorize else "false"}
    one.settings = TxSettings.of(config, changed, local)
    one.begin(T0)
    assert one.wake_at is not None
    sends = valid(version, one.on_wake(one.wake_at))
    return [s.action for s in sends] + [one.phase.value]


def test_a_listed_driver_starts_without_authorize_when_pre_authorizing() -> None:
    assert arrive("1.6", True, "Accepted") == ["StatusNotification", "StartTransaction", "starting"]
    started = arrive("2.0.1", True, "Accepted")
    assert "Authorize" not in started and started[-1] == Phase.CHARGING.value
    # Listed but blocked: the driver leaves, the CSMS is not asked.
    assert arrive("1.6", True, "Blocked") == ["StatusNotification", "StatusNotification", "idle"]
    # Not pre-authorising, or not listed: Authorize as ever.
    assert arrive("1.6", False, "Accepted")[-2:] == ["Authorize", "authorizing"]
    assert arrive("1.6", True, None)[-2:] == ["Authorize", "authorizing"]
