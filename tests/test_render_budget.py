"""Templates that raise, loop or blow up at render time, rubric templates that fail, and data paths that are
not files (issue 13, item 13): exit 2 naming the task and the template key, before any request is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.hostile import cli, write_run

BAD_TEMPLATES = [
    ("division by zero", "{{ 1/0 }}", "ZeroDivisionError"),
    ("huge range", "{{ range(10**9)|list|length }}", "range"),
    ("recursive macro", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
    ("huge string", "{{ 'x'*10**10 }}", "render budget"),
    ("huge power", "{{ 10**(10**10) }}", "render budget"),
    ("huge width", "{{ 'x'.center(10**10) }}", "render budget"),
    ("huge format width", "{{ '%99999999999d' % 1 }}", "render budget"),
    ("endless loop", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "took longer"),
    ("huge output", "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "larger than"),
]


@pytest.mark.parametrize("name,template,needle", BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
def test_a_template_that_fails_at_render_is_exit_2_naming_its_key(
    tmp_path: Path, srv, name: str, template: str, needle: str
) -> None:
    cfg = write_run(tmp_path, srv.base_url, user=template.replace('"', '\\"'))
    r = cli("run", str(cfg), timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "tasks[0].prompt.user" in lines[0] and "task 'qa'" in lines[0], lines[0]
    assert needle.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in r.stderr
    assert srv.count("/chat/completions") == 0


def test_a_system_prompt_that_fails_names_its_own_key(tmp_path: Path, srv) -> None:
    cfg = write_run(tmp_path, srv.base_url)
    cfg.write_text(
        cfg.read_text().replace('prompt: {user: "{{ q }}"}', 'prompt: {system: "{{ 1/0 }}", user: "{{ q }}"}')
    )
    r = cli("run", str(cfg))
    assert r.returncode == 2 and "tasks[0].prompt.system" in r.stderr, r.stderr


RUBRIC = """\
name: picky
description: Is the answer right?
kind: pointwise
fields: [output]
criteria: Right answers pass.
scale: {type: pass_fail, levels: {pass: right, fail: wrong}}
template: |
  {template}
"""


@pytest.mark.parametrize("template", ["{{ output }} {{ 1/0 }}", "{{ output }} {{ 'x'*10**10 }}"])
def test_a_broken_rubric_template_fails_before_the_first_generation(tmp_path: Path, srv, template: str) -> None:
    (tmp_path / "picky.yaml").write_text(RUBRIC.replace("{template}", template))
    extra = f"judge: {{provider: openai, model: judge, base_url: '{srv.base_url}', api_key_env: HOSTILE_TEST_KEY}}\n"
    cfg = write_run(tmp_path, srv.base_url, extra=extra)
    cfg.write_text(
        cfg.read_text().replace("    metrics: [exact_match]", "    metrics: [exact_match]\n    judges: [picky.yaml]")
    )
    r = cli("run", str(cfg))
    assert r.returncode == 2, r.stderr
    assert "tasks[0].judges[0]" in r.stderr and "template" in r.stderr, r.stderr
    assert srv.count("/chat/completions") == 0


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-big"])
def test_a_data_path_that_is_not_a_regular_file_is_refused(tmp_path: Path, srv, kind: str) -> None:
    cfg = write_run(tmp_path, srv.base_url)
    if kind == "dev-zero":
        target = "/dev/zero"
    elif kind == "fifo":
        target = str(tmp_path / "pipe.jsonl")
        os.mkfifo(target)
    else:  # a sparse file just over the 2 GiB cap (no disk used, and never read)
        target = str(tmp_path / "big.jsonl")
        with open(target, "wb") as fh:
            fh.truncate(2 * 1024**3 + 1)
    cfg.write_text(cfg.read_text().replace("path: data.jsonl", f"path: '{target}', format: jsonl"))
    r = cli("run", str(cfg), timeout=60)
    assert r.returncode == 2, r.stderr
    assert ("not a regular file" if kind != "too-big" else "larger than 2 GiB") in r.stderr, r.stderr
    assert target in r.stderr
    assert srv.count("/chat/completions") == 0


def test_the_time_budget_also_holds_off_the_main_thread() -> None:
    import threading

    from evalstack._render import RenderFailed, make_env, render

    loop = make_env().from_string("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    got: list[BaseException] = []

    def work() -> None:
        try:
            render(loop, {})
        except RenderFailed as exc:
            got.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join(120)
    assert not t.is_alive() and len(got) == 1 and "took longer" in str(got[0])
    assert render(make_env().from_string("{{ a }}-{{ 'x' * 3 }}"), {"a": 1}) == "1-xxx"  # normal templates work


GC_DURING_RENDER = """\
import gc, sys

_seen = []


def _during_render(phase, info):
    # a collection starting inside a render: at a million rows a full one takes seconds, and the render's
    # time budget (wall clock) would count it as the template's time
    if phase != "start" or _seen:
        return
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "render" and f.f_code.co_filename.endswith("_render.py"):
            _seen.append(1)
            sys.stderr.write("GC-IN-RENDER\\n")
            return
        f = f.f_back


gc.callbacks.append(_during_render)
gc.set_threshold(1, 1, 1)  # collections as often as possible, as in a process holding a big heap
"""


def test_no_garbage_collection_runs_inside_a_render(tmp_path: Path, srv) -> None:
    """A million-row run failed with 'rendering took longer than 1 s' on an ordinary template: a full
    garbage collection of the big heap started inside one render and counted against its time budget.
    Renders now run with the collector paused, so no collection (of any length) lands inside one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(GC_DURING_RENDER)
    cfg = write_run(tmp_path, srv.base_url)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    r = cli("run", str(cfg), "--out", str(tmp_path / "out"), env={"PYTHONPATH": path}, timeout=300)
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    assert "GC-IN-RENDER" not in r.stderr
