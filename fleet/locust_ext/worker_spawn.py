"""A Locust worker's spawn messages, made cheap.

For every spawn message from the master (one a second per worker during a ramp), a worker sorts
the master's options into its own and custom ones with ``default_args_dict()`` called once per
option: each call builds and runs Locust's whole argument parser, ~2.3 ms. With ~65 options
(Locust's 56 and fleet's) that is ~0.15 s of CPU per message on the worker's gevent thread,
holding the GIL the stations' loop needs, and ~15 MB of parser garbage per 2,000 stations
ramped. The defaults do not change within a process, so they are worked out once here; callers
only read them.
"""

from __future__ import annotations

import functools
from typing import Any

from locust import argument_parser

_made_by_locust = argument_parser.default_args_dict


@functools.cache
def _defaults() -> dict[str, Any]:
    return _made_by_locust()


def default_args_dict() -> dict[str, Any]:
    """Locust's defaults, computed on the first call (a copy: a caller may not change ours)."""
    return dict(_defaults())


def install() -> None:
    """Put the cached defaults where the worker's runner looks them up."""
    argument_parser.default_args_dict = default_args_dict
