"""Firmware updates and log uploads as a station walks them: pure decisions, seeded per station.
Given the request and the time, ``firmware_steps`` and ``upload_steps`` say which statuses are
sent and when (seconds after the request), and where the station reboots; ``jobs.py`` runs them.

1.6: Downloading -> Downloaded | DownloadFailed -> Installing -> (reboot) -> Installed |
InstallationFailed; diagnostics: Uploading -> Uploaded | UploadFailed.
2.0.1 (L01, N01): DownloadScheduled (retrieveDateTime ahead) -> Downloading -> Downloaded |
DownloadFailed -> SignatureVerified (signed firmware) -> InstallScheduled (installDateTime
ahead) -> Installing -> InstallRebooting -> (reboot, boot reason FirmwareUpdate) -> Installed |
InstallationFailed; logs: Uploading -> Uploaded | UploadFailure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fleet.scenario_charging import Range
from fleet.scenario_maintenance import Maintenance
from fleet.station.generator import Rng, between

REBOOT: Final = "(reboot)"  # not a status: the station reboots here
INSTALLED: Final = "Installed"  # sent once the station is accepted again after the reboot


@dataclass(slots=True, frozen=True)
class Step:
    at_s: float  # seconds after the request
    status: str  # the status to send, or REBOOT


def _draw(rng: Rng, span: Range) -> float:
    return between(rng, span.min, span.max)


def firmware_steps(
    config: Maintenance,
    rng: Rng,
    v201: bool,
    retrieve_in_s: float,
    install_in_s: float | None = None,
    signed: bool = False,
) -> list[Step]:
    """The statuses of one firmware update, from the request. ``retrieve_in_s``: how far ahead
    the download may start; ``install_in_s``: the same for installing (2.0.1), None: at once."""
    steps = []
    at = max(retrieve_in_s, 0.0)
    if v201 and at > 0:
        steps.append(Step(0.0, "DownloadScheduled"))
    steps.append(Step(at, "Downloading"))
    at += _draw(rng, config.download_s)
    if rng.random() < config.download_failures:
        return [*steps, Step(at, "DownloadFailed")]
    steps.append(Step(at, "Downloaded"))
    if v201 and signed:
        steps.append(Step(at, "SignatureVerified"))
    if v201 and install_in_s is not None and install_in_s > at:
        steps.append(Step(at, "InstallScheduled"))
        at = install_in_s
    steps.append(Step(at, "Installing"))
    at += _draw(rng, config.install_s)
    if rng.random() < config.install_failures:
        return [*steps, Step(at, "InstallationFailed")]
    if v201:
        steps.append(Step(at, "InstallRebooting"))
    return [*steps, Step(at, REBOOT)]


def upload_steps(config: Maintenance, rng: Rng, v201: bool) -> list[Step]:
    """The statuses of one log (2.0.1) or diagnostics (1.6) upload, from the request."""
    done = _draw(rng, config.upload_s)
    failed = rng.random() < config.upload_failures
    last = ("UploadFailure" if v201 else "UploadFailed") if failed else "Uploaded"
    return [Step(0.0, "Uploading"), Step(done, last)]


def firmware_name(location: str) -> str:
    """The version a station reports after installing from ``location``: the file's name
    without its extension (``https://x/fw/v2.1.0.bin`` -> ``v2.1.0``), at most 50 characters."""
    name = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return (stem or "updated")[:50]
