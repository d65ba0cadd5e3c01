"""report.html in a real headless browser (Debian's chromium): it renders, and no injected script runs.

Control pages prove the check can fail: the same payloads pasted raw into a page without a CSP do run
(title changes, an element appears); with our CSP alone they are blocked too (a second layer).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evalstack.report import CSP, write_reports
from fixtures.report.crafted import PAYLOADS, write_run_dir

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); CI installs it"
    ),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--virtual-time-budget=3000",
]


def chromium(tmp_path: Path, page: Path, *extra: str) -> str:
    profile = tmp_path / f"profile-{page.stem}-{len(extra)}"
    res = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _title(dom: str) -> str:
    m = re.search(r"<title>(.*?)</title>", dom, flags=re.S)
    assert m, dom[:500]
    return m.group(1)


def _executed(dom: str) -> bool:
    """Whether a payload ran: it sets the title to PWNED or adds <div id="pwned"> to the DOM (the serializer
    quotes attributes, so the payload's own unquoted source text does not match)."""
    return _title(dom) == "PWNED" or '<div id="pwned"></div>' in dom


def test_control_pages_show_the_check_can_fail(tmp_path: Path):
    raw = "".join(PAYLOADS[:2])
    unsafe = tmp_path / "unsafe.html"
    unsafe.write_text(f"<!DOCTYPE html><html><head><title>ok</title></head><body>{raw}</body></html>", encoding="utf-8")
    assert _executed(chromium(tmp_path, unsafe, "--dump-dom"))
    with_csp = tmp_path / "csp.html"
    with_csp.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>ok</title></head><body>{raw}</body></html>",
        encoding="utf-8",
    )
    assert not _executed(chromium(tmp_path, with_csp, "--dump-dom"))


def test_report_renders_and_runs_no_injected_script(tmp_path: Path):
    from PIL import Image, ImageStat

    run_dir = tmp_path / "run"
    run = write_run_dir(run_dir, evil=True)
    write_reports(run_dir, run)
    page = run_dir / "report.html"
    dom = chromium(tmp_path, page, "--dump-dom")
    assert not _executed(dom)
    assert _title(dom).startswith("evalstack report: crafted &lt;script&gt;document.title=")
    assert "Gate FAILED: 1 of 3 rules failed" in dom
    assert dom.count("<img ") == 8 and dom.count('src="data:image/png;base64,') == 8
    assert "&lt;img src=x onerror=" in dom  # the payload is there, as text
    assert not re.search(r"<(script|iframe|svg)\b", dom)

    shot = tmp_path / "shot.png"
    chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars")
    im = Image.open(shot).convert("L")
    assert im.size == (1280, 2400)
    stat = ImageStat.Stat(im)
    assert stat.stddev[0] > 20  # not a blank page: text, tables and plots drawn
    # the verdict banner (light red) is drawn near the top
    top = Image.open(shot).convert("RGB").crop((60, 0, 1200, 400))
    assert any(r > 240 and 220 <= g <= 240 and 220 <= b <= 240 for r, g, b in top.getdata())
