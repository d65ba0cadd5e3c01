"""The review workbench in a real browser: Debian's chromium driven by Selenium (chromium-driver) through the
real `evalstack view` server: filter to regressions, open an example, label it with the keyboard, see the
label in the list after a reload, and no injected script runs. Saves a screenshot (README's is made here:
set EVALSTACK_SCREENSHOT_DIR to keep it)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from _helpers import BROWSER, chrome_driver, start_cli

pytest.importorskip("selenium.webdriver")
pytestmark = BROWSER


@pytest.fixture
def served(tmp_path):
    from test_view import make_run

    run = make_run(tmp_path, n=60)
    proc = start_cli("view", run, "--no-browser", "--reviewer", "selenium")
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/[\w-]+/)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield m.group(1), run
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def browser(tmp_path):
    driver = chrome_driver(tmp_path / "profile", "--window-size=1280,900")
    try:
        yield driver
    finally:
        driver.quit()


def _wait(cond, timeout: float = 20.0):
    """Poll ``cond`` until true; an element replaced while it was read (the page re-rendered) is "not yet"."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = cond()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_filter_open_label_with_keys_and_see_it_after_reload(served, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, run = served
    browser.get(url)
    browser.find_element(By.LINK_TEXT, "intent").click()
    Select(browser.find_element(By.NAME, "metric")).select_by_value("accuracy")
    browser.find_element(By.NAME, "regression").click()
    browser.find_element(By.ID, "apply").click()
    _wait(lambda: "regression=1" in browser.current_url)
    total = int(browser.find_element(By.ID, "total").text.replace(",", ""))
    assert total > 0
    first = browser.find_elements(By.CSS_SELECTOR, "#examples a.ex")[0]
    ex_id = first.text
    first.click()
    _wait(lambda: "/e/" in browser.current_url)
    body = browser.find_element(By.TAG_NAME, "body")
    assert browser.execute_script("return document.title") != "PWNED"
    body.send_keys("3")  # gold_wrong, saved at once
    _wait(
        lambda: (
            "gold_wrong" in browser.find_element(By.CSS_SELECTOR, "body").text
            and "selenium" in browser.find_element(By.TAG_NAME, "body").text
        )
    )
    browser.find_element(By.TAG_NAME, "body").send_keys("j")  # next example in the filtered list
    _wait(lambda: not browser.current_url.split("?")[0].endswith("/" + ex_id))
    browser.find_element(By.TAG_NAME, "body").send_keys("u")  # back to the list, filters kept
    _wait(lambda: "/t/" in browser.current_url and "regression=1" in browser.current_url)
    browser.refresh()
    rows = browser.find_elements(By.CSS_SELECTOR, "#examples tbody tr")
    labelled = {
        r.find_element(By.CSS_SELECTOR, "a.ex").text: r.find_element(By.CSS_SELECTOR, "td.label").text for r in rows
    }
    assert labelled[ex_id] == "gold_wrong"
    assert sum(1 for v in labelled.values() if v) == 1
    lines = (run / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"who": "selenium"' in lines[0]
    shot_dir = Path(os.environ.get("EVALSTACK_SCREENSHOT_DIR") or tmp_path)
    browser.get(url + "e/out/intent/t000?model=ft&metric=accuracy")
    assert browser.execute_script("return document.title") != "PWNED"
    assert "<script>alert(1)</script>" in browser.find_element(By.TAG_NAME, "body").text  # shown as text, not run
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    browser.get(url + "t/out/intent?metric=accuracy&regression=1")
    assert browser.save_screenshot(str(shot_dir / "review-workbench.png"))
