"""Responder policies without sockets: seeded draws of statuses, delays, CallErrors and calls
never answered, and which stations a group picks."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import pytest

from fleet.station.responder import NOW, Responder, group_of
from tests.conftest import make_scenario

N = 20_000


def responder(responses: dict[str, Any], station: str = "CP-1", **more: Any) -> Responder:
    return Responder.for_station(make_scenario(responses=responses, **more), station, "1.6")


def test_a_status_mix_follows_its_weights_and_a_seed_repeats_it() -> None:
    policy = {"ChangeConfiguration": {"status": {"Accepted": 90, "Rejected": 9, "NotSupported": 1}}}
    one = responder(policy)
    drawn = [one.status("ChangeConfiguration") for _ in range(N)]
    shares = {k: v / N for k, v in Counter(drawn).items()}
    assert shares["Accepted"] == pytest.approx(0.90, abs=0.01)
    assert shares["Rejected"] == pytest.approx(0.09, abs=0.01)
    assert shares["NotSupported"] == pytest.approx(0.01, abs=0.004)
    again = responder(policy)
    assert [again.status("ChangeConfiguration") for _ in range(N)] == drawn
    other_station = responder(policy, station="CP-2")
    assert [other_station.status("ChangeConfiguration") for _ in range(200)] != drawn[:200]
    other_seed = responder(policy, seed=7)
    assert [other_seed.status("ChangeConfiguration") for _ in range(200)] != drawn[:200]


def test_one_status_and_no_policy_draw_nothing() -> None:
    plain = responder({"Reset": "Rejected"})
    assert plain.rng is None  # shared by every station: nothing to draw
    assert plain.status("Reset") == "Rejected"
    assert plain.status("UnlockConnector") == "Unlocked"  # the success status
    assert plain.reply("Reset") is NOW


def test_shares_of_call_errors_and_calls_never_answered() -> None:
    policy = {"Reset": {"call_errors": 0.1, "error_code": "GenericError", "unanswered": 0.05}}
    one = responder(policy)
    replies = [one.reply("Reset") for _ in range(N)]
    unanswered = sum(r is None for r in replies) / N
    errors = [r.error_code for r in replies if r is not None and r.error_code]
    assert unanswered == pytest.approx(0.05, abs=0.006)
    assert len(errors) / N == pytest.approx(0.95 * 0.1, abs=0.008)
    assert set(errors) == {"GenericError"}
    assert one.reply("UnlockConnector") is NOW  # another action: its own (no) policy


@pytest.mark.parametrize(
    ("delay", "p50", "p99", "low", "high"),
    [
        (0.25, 0.25, 0.25, 0.25, 0.25),
        ({"min": 0.1, "max": 0.5}, 0.3, 0.496, 0.1, 0.5),
        ({"p50": 0.2, "p99": 2.0}, 0.2, 2.0, 0.0, 3600),
    ],
)
def test_answer_delays_have_the_asked_distribution(
    delay: Any, p50: float, p99: float, low: float, high: float
) -> None:
    one = responder({"Reset": {"delay_s": delay}})
    drawn = []
    for _ in range(N):
        reply = one.reply("Reset")
        assert reply is not None
        drawn.append(reply.delay_s)
    cuts = statistics.quantiles(drawn, n=100)
    assert statistics.median(drawn) == pytest.approx(p50, rel=0.05)
    assert cuts[98] == pytest.approx(p99, rel=0.1)
    assert low <= min(drawn) and max(drawn) <= high


def test_groups_pick_by_pattern_or_seeded_share_and_override_per_action() -> None:
    scenario = make_scenario(
        responses={"Reset": "Rejected", "UnlockConnector": "UnlockFailed"},
        response_groups=[
            {"name": "site-a", "stations": ["CP-00*"], "responses": {"Reset": "Accepted"}},
            {"name": "tenth", "share": 0.1, "responses": {"ClearCache": "Rejected"}},
        ],
    )
    ids = [f"CP-{n:05d}" for n in range(1, 2001)]
    groups = Counter(group_of(scenario, i) for i in ids)
    assert groups["site-a"] == 999  # CP-00001 .. CP-00999
    assert groups["tenth"] == pytest.approx(0.1 * 1001, abs=30)  # of the rest
    assert [group_of(scenario, i) for i in ids] == [group_of(scenario, i) for i in ids]
    site_a = Responder.for_station(scenario, "CP-00042", "1.6")
    assert site_a.status("Reset") == "Accepted"
    assert site_a.status("UnlockConnector") == "UnlockFailed"  # the fleet's, not overridden
    rest = [i for i in ids if group_of(scenario, i) is None]
    assert Responder.for_station(scenario, rest[0], "1.6").status("Reset") == "Rejected"
