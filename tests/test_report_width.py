"""report.html fits a 1,280 px wide browser window (issue 14 item 9): laid out by a real headless Chromium
(Debian's chromium + chromium-driver, driven by Selenium), neither the page nor any table's scroll box
scrolls sideways. A control page proves the measurement can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import BROWSER, chrome_driver

pytest.importorskip("selenium.webdriver")
pytestmark = BROWSER

WIDTH = 1280

MEASURE = """
const de = document.documentElement;
const over = [];
for (const el of document.querySelectorAll('body *')) {
  const ox = getComputedStyle(el).overflowX;
  if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
    const heads = [...el.querySelectorAll('th')].slice(0, 4).map(x => x.textContent.trim());
    over.push({tag: el.tagName, cls: el.className, scroll: el.scrollWidth, box: el.clientWidth, heads: heads});
  }
}
return {inner: window.innerWidth, page: de.scrollWidth, view: de.clientWidth, over: over};
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = chrome_driver(tmp_path_factory.mktemp("profile"), "--hide-scrollbars", f"--window-size={WIDTH},900")
    # the layout viewport exactly 1,280 CSS px wide, whatever the window decorations
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    )
    try:
        yield driver
    finally:
        driver.quit()


def overflow(browser, page: Path) -> dict:
    """The page's and every scroll box's horizontal overflow at 1,280 px (WebDriver scripts are not subject to
    the report's CSP, which forbids the page's own scripts)."""
    browser.get(page.as_uri())
    got = browser.execute_script(MEASURE)
    assert got["inner"] == WIDTH, got
    return got


def test_the_width_check_can_fail(browser, tmp_path: Path):
    wide = tmp_path / "wide.html"
    cells = "".join(f"<th>column_number_{i}_with_a_long_name</th>" for i in range(30))
    wide.write_text(
        "<!DOCTYPE html><html><head><title>x</title><style>th { white-space: nowrap; }</style></head>"
        f"<body><div style='overflow-x:auto'><table><tr>{cells}</tr></table></div>"
        "<p style='width:1500px'>wide</p></body></html>",
        encoding="utf-8",
    )
    got = overflow(browser, wide)
    assert got["page"] > WIDTH and len(got["over"]) == 1


def test_report_with_checkpoints_fits_1280_px(browser, tmp_path: Path):
    """Three models with checkpoint steps, two tasks with many metrics, a loss curve, slices: the
    checkpoint scores (one column per task/metric, before the fix) made the table scroll sideways."""
    from evalstack.report import write_reports
    from fixtures.report.crafted import write_run_dir

    run_dir = tmp_path / "run"
    write_reports(run_dir, write_run_dir(run_dir))
    page = run_dir / "report.html"
    assert '<h2 id="checkpoints">' in page.read_text(encoding="utf-8")
    got = overflow(browser, page)
    assert got["page"] <= WIDTH and got["over"] == [], got


@pytest.mark.slow
def test_demo_report_fits_1280_px(browser, tmp_path: Path, repo_root: Path):
    """The demo as a user runs it (17 metrics over 3 tasks, a checkpoint joined with its loss curve)."""
    out = tmp_path / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "-q", "run", str(repo_root / "configs" / "demo.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    got = overflow(browser, out / "report.html")
    assert got["page"] <= WIDTH and got["over"] == [], got
