"""2.0.1 network profiles as decisions (B09 which profiles a station takes, B10 which one it
connects with), without sockets."""

from __future__ import annotations

import pytest

from fleet.errors import ConnectionFailed
from fleet.station.connect import connect
from fleet.station.network import NetworkProfile, choose, priority, profile_of

PLAIN = {"ocpp_version": "OCPP20", "ocpp_transport": "JSON", "message_timeout": 30}


def data(url: str, profile: int, **more: object) -> dict[str, object]:
    return {**PLAIN, "ocpp_csms_url": url, "security_profile": profile, **more}


def test_a_profile_is_taken_unless_it_downgrades_or_cannot_work() -> None:
    assert profile_of(1, data("ws://b/ocpp", 1), 1) == (NetworkProfile("ws://b/ocpp", 1), None)
    assert profile_of(3, data("wss://b/ocpp", 2), 1) == (NetworkProfile("wss://b/ocpp", 2), None)
    refusals = [
        (4, data("ws://b/ocpp", 1), 1, "slot"),
        (1, data("ws://b/ocpp", 0), 1, "downgrade"),
        (1, data("wss://b/ocpp", 1), 1, "ws://"),
        (1, data("ws://b/ocpp", 3), 0, "wss://"),
        (1, data("ws://b/ocpp", 5), 0, "does not exist"),
        (1, data("ws://b/ocpp", 1, ocpp_version="OCPP16"), 0, "2.0.1"),
        (1, data("ws://b/ocpp", 1, ocpp_transport="SOAP"), 0, "2.0.1"),
        (1, data("ws://b:70000/ocpp", 1), 0, "not a URL"),  # urllib: port out of range
        (1, data("ws://[::1/ocpp", 1), 0, "not a URL"),
        (1, data("ws:///ocpp", 1), 0, "not a URL"),  # no host
    ]
    for slot, given, current, why in refusals:
        profile, problem = profile_of(slot, given, current)
        assert profile is None and problem is not None and why in problem


def test_the_slot_connected_with_moves_on_after_failed_attempts() -> None:
    assert priority("1,0") == [1, 0] and priority(None) == [0] and priority("x") == [0]
    b, c = NetworkProfile("ws://b", 1), NetworkProfile("ws://c", 1)
    profiles = {1: b, 2: c}
    assert choose([1, 0], profiles, failures=0, attempts=3) == 1
    assert choose([1, 0], profiles, failures=2, attempts=3) == 1
    assert choose([1, 0], profiles, failures=3, attempts=3) is None  # slot 0: the scenario's
    assert choose([1, 0], profiles, failures=6, attempts=3) == 1  # round again
    assert choose([3, 2], profiles, failures=0, attempts=3) == 2  # slot 3 has no profile
    assert choose([0, 1], profiles, failures=0, attempts=3) is None
    assert choose([0, 1], {0: c}, failures=0, attempts=3) == 0  # the CSMS set slot 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ws://CP:s3cret@127.0.0.1:70000/ocpp", "Port out of range 0-65535"),
        ("ws://CP:s3cret@[::1/ocpp", "Invalid IPv6 URL"),
    ],
)
async def test_a_url_no_socket_can_take_is_a_one_line_failure(url: str, reason: str) -> None:
    """Such a URL (a CSMS's network profile, an environment variable) stopped each station's
    task with a traceback, and the run reported no failure."""
    with pytest.raises(ConnectionFailed) as caught:
        await connect(url, "CP-1", "1.6", 5)
    assert str(caught.value).startswith("invalid CSMS URL ws://CP:***@")
    assert str(caught.value).endswith(reason) and "s3cret" not in str(caught.value)
