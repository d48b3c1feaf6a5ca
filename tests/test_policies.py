from __future__ import annotations

import itertools
import random

from fleet.policies import backoff


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
