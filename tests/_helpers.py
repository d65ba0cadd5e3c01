"""What several test files need alike: the real CLI in a child process, and a headless Chromium driven by
Selenium (Debian's chromium + chromium-driver). Import them (``from _helpers import run_cli``) rather than
copying them into a test file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest


def _cli_command(args: tuple[object, ...]) -> list[str]:
    return [sys.executable, "-m", "evalstack", *map(str, args)]


def run_cli(
    *args: object, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m evalstack ARGS`` run to the end in a child process: the test's environment plus ``env``,
    stdout and stderr captured as text."""
    return subprocess.run(
        _cli_command(args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def start_cli(*args: object, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m evalstack ARGS`` started in a child process (the test's environment plus ``env``, stdout
    and stderr piped as text): for tests that signal, kill or read it while it runs."""
    return subprocess.Popen(
        _cli_command(args), env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver); CI installs them",
    ),
]
"""``pytestmark`` of a Selenium test file: marked ``browser``, skipped where chromium or its driver is missing."""


def chrome_driver(profile: Path, *flags: str) -> Any:
    """A headless Chromium under Selenium, its profile in ``profile`` (a fresh folder), ``flags`` added (window
    size...), pages given 60 s to load. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        *flags,
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver
