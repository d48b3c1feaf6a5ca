"""Station attributes that rare events set, kept out of the station's slots.

A station's attributes are slots (see ``life.Life``): 8 bytes each, in every station, from the
start. Twenty-odd of them are set only by rare events (a firmware update, a storm's drop, a
TriggerMessage's follow-up, a certificate) and most stations never set them: as slots they cost
0.2-0.3 KB per idle station (~2.5 %, measured at 5,000) for nothing. A ``Rare`` attribute reads
its default until set; set, it lives in the station's ``_rare`` dict, made by the first such
set, and goes when set back to its default (the dict with it once empty: every connection
boots as one of the station's tasks, set and emptied again). Reading one costs a Python call
(~0.2 µs), so nothing read per message is ``Rare``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Rare(Generic[T]):
    """A class attribute standing for a rarely set instance attribute with an immutable
    ``default`` (a mutable one would be shared by every station)."""

    __slots__ = ("default", "name")

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, station: None, owner: type | None = None) -> Rare[T]: ...
    @overload
    def __get__(self, station: Any, owner: type | None = None) -> T: ...

    def __get__(self, station: Any, owner: type | None = None) -> T | Rare[T]:
        if station is None:
            return self
        rare = station._rare
        return self.default if rare is None else rare.get(self.name, self.default)

    def __set__(self, station: Any, value: T) -> None:
        rare = station._rare
        if value is self.default:  # back to its default: nothing to keep (an emptied dict goes)
            if rare is not None:
                rare.pop(self.name, None)
                if not rare:
                    station._rare = None
            return
        if rare is None:
            rare = station._rare = {}
        rare[self.name] = value
