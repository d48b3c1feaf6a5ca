"""The embedded CSMS's transaction journal (``fleet csms --ledger-file``): every transaction
message it receives, one JSON line each, written as it comes and flushed, so a CSMS killed
mid-run loses none of them and one restarted on the same file rebuilds its ledger from them
(and hands out no transaction id twice). A last line cut short by the kill is skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any

import orjson

from fleet.csms.transactions import Transactions
from fleet.errors import FleetError

logger = logging.getLogger("fleet.csms")


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def open(self, ledger: Transactions) -> int:
        """Replay what the file holds into ``ledger``, then append to it; the lines replayed."""
        lines = 0
        try:
            if self.path.exists():
                with self.path.open("rb") as f:
                    for raw in f:
                        try:
                            station, action, payload, tx_id = orjson.loads(raw)
                        except (orjson.JSONDecodeError, ValueError, TypeError):
                            logger.warning("%s: skipped a damaged line", self.path)
                            continue
                        ledger.apply(station, action, payload, tx_id)
                        lines += 1
            self._file = self.path.open("ab")
        except OSError as exc:
            raise FleetError(f"--ledger-file {self.path}: {exc.strerror or exc}") from None
        return lines

    def write(self, station: str, action: str, payload: dict[str, Any], tx_id: Any) -> None:
        if self._file is not None:
            self._file.write(orjson.dumps([station, action, payload, tx_id]) + b"\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
