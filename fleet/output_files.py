"""The files a run writes at its end (``--summary-json``): checked before anything connects,
so a typo in a path does not lose an hour's figures after the hour, and written in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from fleet.errors import UsageError


def check_writable(path: str, flag: str) -> None:
    """Raise UsageError (one line naming ``flag``) unless ``path`` can be written: its folder
    is made if missing, as the write would."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot make its folder: {exc.strerror or exc}") from None
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a folder")
    writable = os.access(target, os.W_OK) if target.exists() else os.access(target.parent, os.W_OK)
    if not writable:
        raise UsageError(f"{flag} {path}: not writable")


def write_json(path: str, data: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
