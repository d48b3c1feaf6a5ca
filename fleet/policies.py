"""Small, pure, replaceable decisions: how long to wait before reconnecting.

Kept apart from the session so a later reconnect policy (per-scenario storms, give-up rules)
replaces one function, and so the rules are testable in microseconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(
    min_s: float, max_s: float, factor: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Exponential back-off with full jitter: delay n is uniform in [0, min(max_s, min_s*factor^n)],
    but never below min_s / 2, so a fleet that lost its CSMS does not come back in lockstep and
    never hammers it with zero-delay retries."""
    rng = rng or random.Random()
    ceiling = min_s
    while True:
        yield max(min_s / 2, rng.uniform(0, ceiling))
        ceiling = min(max_s, ceiling * factor)
