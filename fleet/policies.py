"""Small, pure, replaceable decisions: how long to wait before reconnecting.

Kept apart from the session so a later reconnect policy (per-scenario storms, give-up rules)
replaces one function, and so the rules are testable in microseconds.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.scenario import Reconnect

# The jitter's source when the caller gives none: one for the process. A Random per generator
# held its 2.5 KB state in every station that had reconnected once, for the station's life
# (under Locust: +2.6 KB per station after a reconnect storm, on ~9.5 KB).
_JITTER = random.Random()


def reconnect_delays(rules: Reconnect, rng: random.Random | None = None) -> Iterator[float]:
    """The waits before each reconnect attempt after a loss, per the scenario's policy."""
    if rules.policy == "naive":
        return itertools.repeat(0.0)
    if rules.policy == "spec":
        return spec_backoff(rules.min_s, rules.random_range_s, rules.repeat_times, rng)
    return backoff(rules.min_s, rules.max_s, rules.factor, rng)


def spec_backoff(
    wait_min_s: float, random_range_s: float, repeat_times: int, rng: random.Random | None = None
) -> Iterator[float]:
    """OCPP 2.0.1's reconnect back-off (OCPPCommCtrlr.RetryBackOff*): the first wait is
    RetryBackOffWaitMinimum, each next one doubles it, RetryBackOffRepeatTimes times, then it
    stays; every wait gets a random part of up to RetryBackOffRandomRange."""
    rng = rng or _JITTER
    doublings = 0
    while True:
        yield wait_min_s * 2**doublings + rng.uniform(0, random_range_s)
        doublings = min(doublings + 1, repeat_times)


def backoff(
    min_s: float, max_s: float, factor: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Exponential back-off with full jitter: delay n is uniform in [0, min(max_s, min_s*factor^n)],
    but never below min_s / 2, so a fleet that lost its CSMS does not come back in lockstep and
    never hammers it with zero-delay retries."""
    rng = rng or _JITTER
    ceiling = min_s
    while True:
        yield max(min_s / 2, rng.uniform(0, ceiling))
        ceiling = min(max_s, ceiling * factor)
