from __future__ import annotations

import itertools
import random

from fleet.policies import backoff, reconnect_delays, spec_backoff
from fleet.scenario import Reconnect


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    delays = list(itertools.islice(backoff(1, 8, 2, random.Random(7)), 200))
    assert all(0.5 <= d <= 8 for d in delays)
    assert max(delays[:1]) <= 1  # first attempt: at most min_s
    assert max(delays[10:]) > 4  # later attempts reach towards max_s
    assert len({round(d, 6) for d in delays}) > 150  # jittered, not lockstep


def test_backoff_is_reproducible_with_a_seed() -> None:
    first = list(itertools.islice(backoff(1, 30, 2, random.Random(1)), 10))
    again = list(itertools.islice(backoff(1, 30, 2, random.Random(1)), 10))
    assert first == again


def test_spec_backoff_doubles_its_minimum_then_holds_with_a_random_part() -> None:
    # OCPP 2.0.1 RetryBackOff: minimum 2 s, doubled 3 times, then kept; plus up to 5 s random.
    waits = list(itertools.islice(spec_backoff(2, 5, 3, random.Random(3)), 400))
    floors = [2, 4, 8, 16, 16, 16]
    for wait, floor in zip(waits, floors, strict=False):
        assert floor <= wait <= floor + 5
    assert all(16 <= w <= 21 for w in waits[3:])
    randoms = [w - 16 for w in waits[3:]]
    assert min(randoms) < 0.5 and max(randoms) > 4.5  # the random part spans its range
    assert list(itertools.islice(spec_backoff(2, 0, 3), 5)) == [2, 4, 8, 16, 16]


def test_the_scenario_picks_the_policy() -> None:
    naive = Reconnect(policy="naive")
    assert list(itertools.islice(reconnect_delays(naive), 3)) == [0.0, 0.0, 0.0]
    spec = Reconnect(policy="spec", min_s=1, random_range_s=0, repeat_times=2)
    assert list(itertools.islice(reconnect_delays(spec), 4)) == [1, 2, 4, 4]
    default = list(itertools.islice(reconnect_delays(Reconnect(min_s=1, max_s=8)), 50))
    assert all(0.5 <= d <= 8 for d in default) and len(set(default)) > 40  # full jitter
