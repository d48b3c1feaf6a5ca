"""Scenario section for firmware updates and log uploads: how long each step takes and how
often it fails. Nothing is downloaded or uploaded: a station walks through the statuses a CSMS
campaign tracks, at these times."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from fleet.scenario_charging import Range
from fleet.scenario_fields import Section


def _range(low: float, high: float) -> Any:
    return Field(default_factory=lambda: Range(min=low, max=high))


class Maintenance(Section):
    download_s: Range = _range(10, 30)  # firmware download (Downloading -> Downloaded)
    install_s: Range = _range(5, 20)  # installing until the reboot
    download_failures: float = Field(0.0, ge=0, le=1)  # share ending DownloadFailed
    install_failures: float = Field(0.0, ge=0, le=1)  # share ending InstallationFailed
    upload_s: Range = _range(2, 10)  # a log or diagnostics upload
    upload_failures: float = Field(0.0, ge=0, le=1)  # share ending UploadFailed / UploadFailure
