"""Message ids without sockets: unique, canonical version-4 UUIDs that look random, never
repeated by a process, a forked child or after the counter's range is used up."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fleet.station import ids

ROOT = Path(__file__).resolve().parents[2]


def _node(text: str) -> str:
    return text.rsplit("-", 1)[1]


def test_ids_are_canonical_version_4_uuids_and_never_repeat() -> None:
    made = [ids.uuid4_text() for _ in range(200_000)]
    assert len(set(made)) == len(made)
    for text in made[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_consecutive_ids_differ_in_most_node_digits() -> None:
    """A CSMS sees no counting: consecutive node fields differ in ~11 of 12 hex digits."""
    made = [_node(ids.uuid4_text()) for _ in range(1000)]
    changed = [sum(a != b for a, b in zip(x, y, strict=True)) for x, y in itertools.pairwise(made)]
    assert sum(changed) / len(changed) >= 8


def test_a_fresh_prefix_once_the_counter_range_is_used_up(monkeypatch: pytest.MonkeyPatch) -> None:
    ids._draw()
    first = [ids.uuid4_text() for _ in range(3)]
    monkeypatch.setattr(ids, "_counter", itertools.count(ids.NODE_IDS - 1))
    last, *after = [ids.uuid4_text() for _ in range(3)]
    assert last[:24] == first[0][:24]  # the last id of the range, same prefix
    assert all(text[:24] != first[0][:24] for text in after)
    assert len({*first, last, *after}) == 6


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    """Forked in a fresh single-threaded process (forking pytest's own, threads and all, can
    hang the child on a lock another thread held)."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKING], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    parent, child = (line.split() for line in done.stdout.splitlines())
    assert len(parent) == len(child) == 3
    assert {text[:24] for text in child}.isdisjoint(text[:24] for text in parent)
    assert not set(child) & set(parent)


_FORKING = """
import os
from fleet.station.ids import uuid4_text
uuid4_text()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, " ".join(uuid4_text() for _ in range(3)).encode())
    os._exit(0)
os.close(write)
child = os.fdopen(read).read()
os.waitpid(pid, 0)
print(" ".join(uuid4_text() for _ in range(3)))
print(child)
"""
