"""Who the embedded CSMS lets charge: an authorisation policy over idTags (1.6) and idTokens
(2.0.1), so a load test can exercise the refused-driver path (``fleet csms --reject-tags``).

Patterns are shell-style (``UNKNOWN-*``, ``TAG-0000?``). A tag is Invalid when it matches a
rejected pattern, or when accepted patterns are given and it matches none; otherwise Accepted.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

ACCEPTED = "Accepted"
INVALID = "Invalid"


def compiled(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression for shell-style ``patterns``; None for none."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True)
class TagPolicy:
    accept: Sequence[str] = ()  # empty: every tag not rejected
    reject: Sequence[str] = ()
    revoke: Sequence[str] = ()  # Plug & Charge contracts (eMAIDs) whose certificate is revoked
    _accept: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _reject: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _revoke: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("accept", "reject", "revoke"):  # "a, b," from a command line: ("a", "b")
            cleaned = tuple(p.strip() for p in getattr(self, name) if p.strip())
            object.__setattr__(self, name, cleaned)
        object.__setattr__(self, "_accept", compiled(self.accept))
        object.__setattr__(self, "_reject", compiled(self.reject))
        object.__setattr__(self, "_revoke", compiled(self.revoke))

    def revoked(self, contract: str) -> bool:
        """Whether the certificate of the contract ``contract`` (an eMAID) is revoked."""
        return self._revoke is not None and self._revoke.match(contract) is not None

    def status(self, tag: str | None) -> str:
        """The idTagInfo / idTokenInfo status for ``tag``."""
        if tag is None:
            return ACCEPTED
        if self._reject is not None and self._reject.match(tag):
            return INVALID
        if self._accept is not None and not self._accept.match(tag):
            return INVALID
        return ACCEPTED

    def describe(self) -> str:
        if not self.accept and not self.reject and not self.revoke:
            return "every tag accepted"
        parts = []
        if self.accept:
            parts.append(f"accepting {', '.join(self.accept)}")
        if self.reject:
            parts.append(f"rejecting {', '.join(self.reject)}")
        if self.revoke:
            parts.append(f"contracts {', '.join(self.revoke)} revoked")
        return " and ".join(parts)
