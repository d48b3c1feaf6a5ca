"""Firmware updates and log uploads on the loop: the thin layer that runs ``maintenance`` steps.

A job is a task of its own, not of a connection: a real station goes on downloading while its
connection is down (a status due meanwhile is lost, as the CALL cannot leave). One job of each
kind at a time; a new request cancels the running one (answered AcceptedCanceled where the
response has a status). A 1.6 station has two firmware requests (UpdateFirmware, and
SignedUpdateFirmware from the security extension) but one firmware: either cancels the other.
A job is named by the notification that reports it. The firmware job ends in a reboot;
"Installed" is sent once the station is accepted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from fleet.errors import CallFailed
from fleet.station import maintenance
from fleet.station.generator import Rng
from fleet.station.maintenance import INSTALLED, REBOOT, Step

if TYPE_CHECKING:
    from fleet.station.core import Station

logger = logging.getLogger("fleet.station")

FIRMWARE, LOG = "FirmwareStatusNotification", "LogStatusNotification"
DIAGNOSTICS = "DiagnosticsStatusNotification"
SIGNED_FIRMWARE = "SignedFirmwareStatusNotification"  # 1.6 security extension
NOTIFICATIONS = (FIRMWARE, SIGNED_FIRMWARE, LOG, DIAGNOSTICS)
# Jobs that share what they work on: starting one cancels the others.
_SHARED: dict[str, tuple[str, ...]] = {
    FIRMWARE: (FIRMWARE, SIGNED_FIRMWARE),
    SIGNED_FIRMWARE: (FIRMWARE, SIGNED_FIRMWARE),
}


class Jobs:
    __slots__ = ("count", "installed", "request_ids", "station", "statuses", "tasks")

    def __init__(self, station: Station) -> None:
        self.station = station
        self.tasks: dict[str, asyncio.Task[None]] = {}  # notification action -> its job
        self.statuses: dict[str, str] = {}  # notification action -> the last status sent
        self.request_ids: dict[str, int | None] = {}  # the request a job answers (not 1.6 Core)
        # (notification, request id, version) to report once accepted after the reboot
        self.installed: tuple[str, int | None, str] | None = None
        self.count = 0  # jobs started: each draws from its own seeded generator

    @property
    def v201(self) -> bool:
        return self.station.version == "2.0.1"

    def _rng(self, kind: str) -> Rng:
        self.count += 1
        station = self.station
        return Rng(f"{station.scenario.seed}:{station.id}:{kind}:{self.count}")

    def update_firmware(
        self,
        location: str,
        retrieve_at: float,
        install_at: float | None = None,
        request_id: int | None = None,
        signed: bool = False,
        action: str = FIRMWARE,
    ) -> bool:
        """Start a firmware update reported by ``action`` (times: the station's wall clock);
        True if it cancelled one under way."""
        now = self.station.now()
        install_in = None if install_at is None else install_at - now
        config = self.station.scenario.maintenance
        l01 = self.v201 or action == SIGNED_FIRMWARE
        steps = maintenance.firmware_steps(
            config, self._rng("firmware"), l01, retrieve_at - now, install_in, signed
        )
        version = maintenance.firmware_name(location)
        return self._start(action, steps, request_id, version)

    def upload(self, action: str, request_id: int | None = None) -> bool:
        """Start a log upload (``LOG``) or a 1.6 diagnostics one (``DIAGNOSTICS``); True if it
        cancelled one."""
        steps = maintenance.upload_steps(
            self.station.scenario.maintenance, self._rng(action), action == LOG
        )
        return self._start(action, steps, request_id, "")

    def _start(self, action: str, steps: list[Step], request_id: int | None, version: str) -> bool:
        cancelled = self.busy(action)
        for each in _SHARED.get(action, (action,)):
            running = self.tasks.pop(each, None)
            if running is not None:
                running.cancel()
        self.request_ids[action] = request_id
        task = asyncio.get_running_loop().create_task(self._run(action, steps, version))
        self.tasks[action] = task
        task.add_done_callback(_logged)
        return cancelled

    async def _run(self, action: str, steps: list[Step], version: str) -> None:
        started = time.monotonic()
        for step in steps:
            delay = started + step.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if step.status == REBOOT:
                self.installed = (action, self.request_ids.get(action), version)
                await self.station.reboot_for_firmware()
                return
            await self.notify(action, step.status)

    async def notify(self, action: str, status: str) -> None:
        """Send a status notification (a job's step, or triggered: the last status sent)."""
        self.statuses[action] = status
        payload: dict[str, Any] = {"status": status}
        request_id = self.request_ids.get(action)  # None for 1.6's Core jobs
        if request_id is not None and status != "Idle":
            payload["requestId"] = request_id
        with contextlib.suppress(CallFailed):
            await self.station.call(action, payload)

    def running(self, action: str) -> bool:
        task = self.tasks.get(action)
        return task is not None and not task.done()

    def busy(self, action: str) -> bool:
        """Would a new ``action`` job cancel one under way (its own, or one it shares with)?"""
        return any(self.running(each) for each in _SHARED.get(action, (action,)))

    def status(self, action: str) -> str:
        """What a triggered notification reports: the last status sent, or Idle once a job
        has ended (or before any)."""
        return self.statuses.get(action, "Idle") if self.running(action) else "Idle"

    async def booted(self) -> None:
        """Accepted after the firmware reboot: report the update installed."""
        if self.installed is None:
            return
        action, request_id, _ = self.installed
        self.installed = None
        self.request_ids[action] = request_id
        await self.notify(action, INSTALLED)

    def close(self) -> None:
        """The station stopped for good: its jobs end with it."""
        for task in self.tasks.values():
            task.cancel()


def _logged(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("firmware or log job failed", exc_info=task.exception())
