"""Process-wide settings for carrying thousands of stations: the ramp's GC freezer and Locust's
worker spawn messages. Pure: no sockets, no sleeping."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from locust import argument_parser, runners

from fleet.locust_ext import worker_spawn
from fleet.process import RampFreezer

pytestmark = pytest.mark.in_process_locust  # see tests/conftest.py


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic GC frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test freezes the pytest process's objects: thaw them after."""
    gc.collect()
    frozen_before = gc.get_freeze_count()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()
    if frozen_before:
        gc.freeze()


def test_a_freeze_collects_cyclic_garbage_first_and_keeps_the_living(unfrozen: None) -> None:
    freezer = RampFreezer(every=3)
    living = _Node()
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage  # unreachable, but alive until the cyclic GC runs
    freezer.started()
    freezer.started()
    assert gone() is not None and gc.get_freeze_count() == 0  # no freeze yet
    freezer.started()  # the third: a freeze
    assert gone() is None  # collected, not frozen until the test ends
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(living) and living.me is living


def test_locust_workers_work_out_the_default_options_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = []
    locusts_own = worker_spawn._made_by_locust

    def counted() -> dict[str, object]:
        made.append(1)
        return dict(locusts_own())

    worker_spawn._defaults.cache_clear()
    monkeypatch.setattr(worker_spawn, "_made_by_locust", counted)
    worker_spawn.install()  # also done when fleet's Locust listeners are imported
    # Where a worker's runner looks it up, for every option of every spawn message:
    lookup = runners.argument_parser.default_args_dict
    first = lookup()
    for _ in range(100):
        assert lookup() == first
    assert len(made) == 1
    assert first == locusts_own()
    assert "spawn_rate" in first and "host" in first
    lookup()["host"] = "changed by a caller"
    assert lookup()["host"] != "changed by a caller"
    worker_spawn._defaults.cache_clear()
    assert argument_parser.default_args_dict is lookup
