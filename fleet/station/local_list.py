"""The local authorisation list (1.6 §3.5 / §5.15, 2.0.1 D01-D02): tags a station may accept
without asking the CSMS. Pure: updates by version, lookups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

SEND_MAX: Final = 100  # SendLocalListMaxLength / LocalAuthListCtrlr.ItemsPerMessage
LIST_MAX: Final = 1000  # LocalAuthListMaxLength / LocalAuthListCtrlr.Entries' limit


class LocalList:
    __slots__ = ("entries", "version")

    def __init__(self) -> None:
        self.version = 0  # 0: no list installed
        self.entries: dict[str, str] = {}  # tag -> its status (Accepted, Blocked, ...)

    def update(self, version: int, full: bool, items: Iterable[tuple[str, str | None]]) -> str:
        """SendLocalList: a Full list replaces the old, a Differential one adds, changes and
        (an entry without status) removes. Answered Accepted, Failed (too many entries, a
        version below 1) or VersionMismatch (a Differential update not newer than the list)."""
        changes = list(items)
        if len(changes) > SEND_MAX or version < 1:
            return "Failed"
        if not full and version <= self.version:
            return "VersionMismatch"
        entries = {} if full else dict(self.entries)
        for tag, status in changes:
            if status is None:
                entries.pop(tag, None)
            else:
                entries[tag] = status
        if len(entries) > LIST_MAX:
            return "Failed"
        self.entries, self.version = entries, version
        return "Accepted"

    def status(self, tag: str) -> str | None:
        """The tag's status on the list, or None when it is not listed."""
        return self.entries.get(tag)
