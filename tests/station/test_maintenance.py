"""Firmware updates and log uploads as decisions, without sockets or clocks: the statuses a
station walks through, when, seeded."""

from __future__ import annotations

from fleet.scenario_maintenance import Maintenance
from fleet.station.generator import Rng
from fleet.station.maintenance import REBOOT, firmware_name, firmware_steps, upload_steps

FIXED = Maintenance.model_validate(
    {
        "download_s": {"min": 10, "max": 10},
        "install_s": {"min": 5, "max": 5},
        "upload_s": {"min": 3, "max": 3},
    }
)


def walk(steps) -> list[tuple[float, str]]:
    return [(step.at_s, step.status) for step in steps]


def test_1_6_update_downloads_installs_and_reboots() -> None:
    steps = firmware_steps(FIXED, Rng("x"), l01=False, retrieve_in_s=-3)  # a date in the past
    assert walk(steps) == [(0, "Downloading"), (10, "Downloaded"), (10, "Installing"), (15, REBOOT)]


def test_2_0_1_update_waits_for_its_dates_and_verifies_a_signature() -> None:
    steps = firmware_steps(
        FIXED, Rng("x"), l01=True, retrieve_in_s=60, install_in_s=100, signed=True
    )
    assert walk(steps) == [
        (0, "DownloadScheduled"),
        (60, "Downloading"),
        (70, "Downloaded"),
        (70, "SignatureVerified"),
        (70, "InstallScheduled"),
        (100, "Installing"),
        (105, "InstallRebooting"),
        (105, REBOOT),
    ]


def test_failures_end_the_update_without_a_reboot() -> None:
    download = FIXED.model_copy(update={"download_failures": 1.0})
    assert walk(firmware_steps(download, Rng("x"), False, 0))[-1] == (10, "DownloadFailed")
    install = FIXED.model_copy(update={"install_failures": 1.0})
    assert walk(firmware_steps(install, Rng("x"), True, 0))[-1] == (15, "InstallationFailed")
    failing = FIXED.model_copy(update={"upload_failures": 1.0})
    assert walk(upload_steps(failing, Rng("x"), n01=True)) == [
        (0, "Uploading"),
        (3, "UploadFailure"),
    ]
    assert walk(upload_steps(failing, Rng("x"), n01=False))[-1] == (3, "UploadFailed")
    assert walk(upload_steps(FIXED, Rng("x"), n01=False))[-1] == (3, "Uploaded")


def test_shares_and_durations_are_drawn_and_seeded() -> None:
    config = Maintenance.model_validate({"download_failures": 0.3})
    outcomes = [walk(firmware_steps(config, Rng(f"s:{n}"), False, 0)) for n in range(2000)]
    failed = sum(o[-1][1] == "DownloadFailed" for o in outcomes) / len(outcomes)
    assert 0.26 < failed < 0.34
    assert len({o[1][0] for o in outcomes}) > 1000  # download times spread over the range
    assert all(10 <= o[1][0] <= 30 for o in outcomes)
    again = [walk(firmware_steps(config, Rng(f"s:{n}"), False, 0)) for n in range(2000)]
    assert again == outcomes


def test_the_installed_version_comes_from_the_file_name() -> None:
    assert firmware_name("https://fw.example/builds/v2.1.0.bin") == "v2.1.0"
    assert firmware_name("ftp://x/fw/ACME-7?token=1") == "ACME-7"
    assert firmware_name("https://x/") == "x"
