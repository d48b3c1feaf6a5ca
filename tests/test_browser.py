"""What a person sees, in a real browser: the HTML report of a real Locust run opened in headless
Chromium, its charts rendered and their lines drawn (pixels of the series' colours inside each
plot), and a capacity search's table (its steps, its verdict, the broken gate in red). Runs
where Chromium, chromedriver, selenium and Pillow are installed; skipped elsewhere (a fresh CI
machine has none of them)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fleet.locust_ext.svg import PALETTE
from tests.test_cli import csms_process
from tests.test_locust import headless
from tests.test_locust_capacity import capacity_search

webdriver = pytest.importorskip("selenium.webdriver")
Image = pytest.importorskip("PIL.Image")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no Chromium here")

PLOT_RIGHT = 56 + 634  # line_chart: left margin + plot width; the legend is right of it
CHARTS = (
    "Stations per state",
    "Charging: stations charging, sessions started and completed",
    "Energy delivered",
    "Round trip p95 per action, last 10 s",
    "Round trip p99 per action, last 10 s",
    "fleet's event-loop lag, last 10 s",
)


def colours() -> set[tuple[int, int, int]]:
    return {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in PALETTE}  # type: ignore[misc]


def chromium() -> Any:
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1400,1200"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))


def test_the_report_charts_draw_their_lines_in_chromium(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    with csms_process("--interval", "1", "--slow-on", "Heartbeat=40") as url:
        result = headless(
            url, "--html", str(report), users=10, run_time="20s",
            scenario="scenarios/charging.yaml",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    browser = chromium()
    try:
        browser.get(report.as_uri())
        svgs = browser.find_elements("css selector", "#fleet-section svg")
        labels = [svg.get_attribute("aria-label") for svg in svgs]
        assert labels == list(CHARTS)
        palette = colours()
        for svg, label in zip(svgs, labels, strict=True):
            browser.execute_script("arguments[0].scrollIntoView()", svg)
            assert svg.size["width"] >= 800 and svg.size["height"] >= 200, label
            image = Image.open(io.BytesIO(svg.screenshot_as_png)).convert("RGB")
            plot = image.crop((60, 20, PLOT_RIGHT, image.height - 30))
            drawn = sum(n for n, colour in plot.getcolors(1 << 20) or () if colour in palette)
            assert drawn > 300, (label, drawn)  # at least one line across the plot
        browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()


def test_a_capacity_search_reads_in_the_report_as_steps_and_a_verdict(tmp_path: Path) -> None:
    """The capacity table as a person sees it: every step, the verdict, the broken gate red."""
    report = tmp_path / "report.html"
    result = capacity_search(tmp_path, "--html", str(report))
    assert result.returncode == 0, result.stderr[-2000:]
    browser = chromium()
    try:
        browser.get(report.as_uri())
        heading = browser.find_element("xpath", "//h3[text()='Capacity search']")
        browser.execute_script("arguments[0].scrollIntoView()", heading)
        section = browser.find_element("id", "fleet-section").text
        assert "capacity: held 20 stations; broke at 30" in section
        table = heading.find_element("xpath", "following-sibling::table[1]")
        rows = [row.text.split()[:3] for row in table.find_elements("css selector", "tbody tr")]
        assert [row[0] for row in rows] == ["10", "20", "30"]
        assert [row[2] for row in rows] == ["held", "held", "BROKE"]
        broken = table.find_element("xpath", ".//span[@class='bad' and contains(., 'rps')]")
        assert broken.is_displayed()
        assert broken.value_of_css_property("color") == "rgba(198, 40, 40, 1)"  # #c62828
        browser.save_screenshot(str(tmp_path / "capacity.png"))
    finally:
        browser.quit()
