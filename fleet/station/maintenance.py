"""Firmware updates and log uploads as a station walks them: pure decisions, seeded per station.
Given the request and the time, ``firmware_steps`` and ``upload_steps`` say which statuses are
sent and when (seconds after the request), and where the station reboots; ``jobs.py`` runs them.

1.6: Downloading -> Downloaded | DownloadFailed -> Installing -> (reboot) -> Installed |
InstallationFailed; diagnostics: Uploading -> Uploaded | UploadFailed.
2.0.1 (L01, N01), and 1.6's security extension (its L01 and N01: SignedUpdateFirmware and GetLog,
reported by SignedFirmwareStatusNotification and LogStatusNotification with 2.0.1's statuses):
DownloadScheduled (retrieveDateTime ahead) -> Downloading -> Downloaded |
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
    l01: bool,
    retrieve_in_s: float,
    install_in_s: float | None = None,
    signed: bool = False,
) -> list[Step]:
    """The statuses of one firmware update, from the request. ``l01``: the secure update's
    statuses (2.0.1, 1.6 SignedUpdateFirmware), else 1.6's UpdateFirmware; ``retrieve_in_s``: how
    far ahead the download may start; ``install_in_s``: the same for installing (L01 only), None:
    at once."""
    steps = []
    at = max(retrieve_in_s, 0.0)
    if l01 and at > 0:
        steps.append(Step(0.0, "DownloadScheduled"))
    steps.append(Step(at, "Downloading"))
    at += _draw(rng, config.download_s)
    if rng.random() < config.download_failures:
        return [*steps, Step(at, "DownloadFailed")]
    steps.append(Step(at, "Downloaded"))
    if l01 and signed:
        steps.append(Step(at, "SignatureVerified"))
    if l01 and install_in_s is not None and install_in_s > at:
        steps.append(Step(at, "InstallScheduled"))
        at = install_in_s
    steps.append(Step(at, "Installing"))
    at += _draw(rng, config.install_s)
    if rng.random() < config.install_failures:
        return [*steps, Step(at, "InstallationFailed")]
    if l01:
        steps.append(Step(at, "InstallRebooting"))
    return [*steps, Step(at, REBOOT)]


def upload_steps(config: Maintenance, rng: Rng, n01: bool) -> list[Step]:
    """The statuses of one upload, from the request: a log (``n01``: 2.0.1 GetLog, 1.6's
    security extension's GetLog) or 1.6 diagnostics (GetDiagnostics)."""
    done = _draw(rng, config.upload_s)
    failed = rng.random() < config.upload_failures
    last = ("UploadFailure" if n01 else "UploadFailed") if failed else "Uploaded"
    return [Step(0.0, "Uploading"), Step(done, last)]


def firmware_name(location: str) -> str:
    """The version a station reports after installing from ``location``: the file's name
    without its extension (``https://x/fw/v2.1.0.bin`` -> ``v2.1.0``), at most 50 characters."""
    name = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return (stem or "updated")[:50]
