"""report.html, statically: self-contained (no script, no external resource), strict CSP, every piece of model
text escaped, the plots inline as real PNGs. (The browser test renders it in chromium.)"""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evalstack.report import CSP, render_html
from fixtures.report.crafted import PAYLOADS, TRICKY, write_run_dir

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "link",
    "base",
    "form",
    "svg",
    "frame",
    "applet",
    "audio",
    "video",
}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Page]:
    d = tmp_path_factory.mktemp("evil")
    run = write_run_dir(d, evil=True)
    html = render_html(run, d)
    page = Page()
    page.feed(html)
    _DIRS[html] = d
    return html, page


_DIRS: dict[str, Path] = {}


def test_no_script_no_external_resource(evil):
    html, page = evil
    tags = [t for t, _ in page.tags]
    assert not FORBIDDEN_TAGS & set(tags), FORBIDDEN_TAGS & set(tags)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "srcset", "poster", "data", "action", "formaction", "background"):
                assert tag == "img" and name == "src" and value.startswith("data:image/png;base64,"), (
                    tag,
                    name,
                    value[:40],
                )
            if name == "href":
                assert value.startswith("#"), value
            if name == "style":
                assert "url(" not in value
    assert "url(" not in html and "@import" not in html
    ids = {a.get("id") for _, a in page.tags if a.get("id")}
    assert {a["href"][1:] for t, a in page.tags if t == "a"} <= ids  # every in-page link has its target


def test_csp_meta_comes_first(evil):
    html, page = evil
    assert CSP.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'")
    metas = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": CSP}]
    head = [t for t, _ in page.tags][: [t for t, _ in page.tags].index("style")]
    assert "meta" in head  # the policy is in force before any style or content


def test_model_text_is_escaped_and_shown_as_text(evil):
    html, page = evil
    text = "".join(page.text)
    for payload in PAYLOADS:
        assert payload in text  # visible to the reader, verbatim
    assert "<script" not in html and "<img src=x" not in html and "<svg" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=" in html
    assert "{{ 7*7 }}" in text and "49" not in text.split("{{ 7*7 }}")[0][-5:]  # no template evaluation of data
    assert TRICKY in text  # newlines and quotes kept (pre-wrap cells)


def test_plots_are_inline_pngs(evil):
    from PIL import Image

    html, page = evil
    imgs = [(a["alt"], a["src"]) for t, a in page.tags if t == "img"]
    alts = [alt.split(" (means drawn")[0].split(": means drawn")[0] for alt, _ in imgs]  # captions give the means
    assert alts == [
        "Deltas vs the baseline with confidence intervals",
        "Confusion matrices: intent",
        "Score distribution: intent/accuracy",
        "Score distribution: summaries/judge_faithfulness",
        "Score distribution: summaries/rouge1",
        "Score distribution: summaries/rougeL",
        "Score distribution: summaries/toxicity_rate",
        "loss",
    ]  # not-a-png.png is left out
    for alt, src in imgs:
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        im = Image.open(io.BytesIO(data))
        assert im.format == "PNG"
        if alt != "loss":
            assert im.size[0] >= 300 and im.size[1] >= 150, (alt, im.size)


def test_sections_and_review_lists(evil):
    html, page = evil
    text = " ".join(" ".join(page.text).split())
    assert "Gate FAILED: 1 of 3 rules failed (confidence 0.95)." in text
    from fixtures.report.crafted import raw_rows

    tox = [
        r["scores"]["toxicity_rate"]
        for r in raw_rows(_DIRS[html])
        if r["task"] == "summaries" and r["model"] == "ckpt-200" and r["scores"].get("toxicity_rate") is not None
    ]
    assert len(tox) == 10 and 0 < tox.count(min(tox)) < 10  # lower is better: rows at the best (min) are not low
    assert (
        f"summaries/toxicity_rate: ckpt-200 ({10 - tox.count(min(tox))} lowest, lower is better: highest values)"
        in text
    )
    assert "summaries/rougeL: ckpt-200 vs base (6 examples)" in text
    assert "intent/accuracy: ckpt-100 vs base (1 example)" in text
    assert "best value per column in bold (direction-aware)." in text
    assert "valid_rises" in text and "Loss curves" in text
    strong = [d for d in html.split("<strong>")[1:]]
    assert any(s.startswith("0</strong>") for s in strong)  # best (lowest) toxicity in bold


def test_without_examples_the_page_says_so(tmp_path: Path):
    run = write_run_dir(tmp_path, curves=False)
    (tmp_path / "examples.jsonl").unlink()
    html = render_html(run, tmp_path)
    assert "examples.jsonl was not found: no per-example lists." in html
    assert "Lowest-scoring examples" not in html and "Score distribution" not in html
    assert "Confusion matrices: intent" in html  # from run.json alone
