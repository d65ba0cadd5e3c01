"""Shards that merge exactly (issue 21): `evalstack run CONFIG --shard I/N` and `evalstack merge`, through
the CLI against the loopback server (two generating models and an LLM judge over the real openai client).

The merged run.json and examples.jsonl equal a single-process run of the same config (timings aside), with
a shard killed mid-run (SIGKILL at a crash point) and resumed; a shard alone is never a verdict; folders that
are not the N shards of one config are refused with one line naming them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.models import merge_caches
from evalstack.testing.loopback import Fault, LoopbackServer

pytestmark = pytest.mark.slow

LABELS = ["billing", "bug", "other"]


def _n(text: str) -> int:
    """A number from the text, the same on every run (the models' and the judge's answers depend on it)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:6], 16)


def _reply(req: dict) -> str:
    """Models answer a label or a sentence that depends on the model and the prompt; the judge a score."""
    last = req["messages"][-1]["content"]
    if req["model"] == "judge-m" and 'name="output_a"' in last:  # pairwise: a verdict by the outputs' numbers
        a, b = (re.search(rf'name="output_{x}">\n(.*?)\n</data-', last, re.S).group(1) for x in "ab")
        return json.dumps({"reason": "r", "verdict": "A" if _n(a) % 3 > _n(b) % 3 else "B" if _n(a) % 3 else "tie"})
    if req["model"] == "judge-m":
        out = re.search(r'name="output">\n(.*?)\n</data-', last, re.S).group(1)
        return json.dumps({"reason": "r", "score": _n(out) % 5 + 1})
    good = 0.5 if req["model"] == "base-m" else 0.75
    if last.startswith("Ticket:"):
        i = int(last.split()[-1])
        right = LABELS[i % 3]
        return right if _n(req["model"] + last) % 100 < good * 100 else LABELS[(i + 1) % 3]
    return f"answer {_n(req['model'] + last) % 4}"


def write_config(tmp: Path, base_url: str, *, n_intent: int = 30, n_qa: int = 24, extra: str = "") -> Path:
    (tmp / "intent.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": f"t{i}", "text": f"ticket {i}", "label": LABELS[i % 3], "channel": ["web", "mail"][i % 2]}
            )
            + "\n"
            for i in range(n_intent)
        )
    )
    (tmp / "qa.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i}", "q": f"question {i}", "a": f"answer {i % 4}"}) + "\n" for i in range(n_qa))
    )
    conn = f'base_url: "{base_url}", api_key_env: SH_KEY, max_tries: 1'
    cfg = tmp / "cfg.yaml"
    cfg.write_text(
        f"""name: shardeq
baseline: base
models:
  base: {{provider: openai, model: base-m, {conn}}}
  ft: {{provider: openai, model: ft-m, {conn}}}
judge: {{provider: openai, model: judge-m, {conn}}}
tasks:
  - name: intent
    data: {{path: intent.jsonl, id: id}}
    prompt: {{user: "Ticket: {{{{ text }}}}"}}
    target: label
    labels: [billing, bug, other]
    metrics: [accuracy, {{f1: {{average: macro}}}}, mcc]
    slice_by: channel
  - name: qa
    data: {{path: qa.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match, bleu]
    judges: [conciseness]
    pairwise: [preference]
gate:
  rules:
    - {{metric: intent/accuracy, min: 0.99}}
stats: {{n_resamples: 400}}
output: out
{extra}"""
    )
    return cfg


def _cli(tmp: Path, monkeypatch: pytest.MonkeyPatch, cache: str, *args: str) -> int:
    """`evalstack ARGS` in this process, with its own cache folder (one machine each)."""
    monkeypatch.setenv("EVALSTACK_CACHE_DIR", str(tmp / cache))
    return main([*args, "-q"] if args[0] in ("run", "merge") else list(args))


def _normal(x: object, resumed: bool = False) -> object:
    """run.json without what differs between equal runs: times and the merged shards' names; ``resumed``:
    also the request counters (a resumed run takes from its cache what it had sent, and counts no tokens
    for a cached judge reply)."""
    drop = {"created_at", "timings", "sources", "examples_sha256"} | (
        {"usage", "judge_usage", "requests", "cost"} if resumed else set()
    )
    if isinstance(x, dict):
        return {k: _normal(v, resumed) for k, v in x.items() if k not in drop}
    if isinstance(x, list):
        return [_normal(v, resumed) for v in x]
    return x


def _rows(path: Path, resumed: bool = False) -> list[dict]:
    drop = {"cached"} if resumed else set()
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]


def test_three_shards_one_killed_and_resumed_merge_into_the_single_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SH_KEY", "sk-shard-0123456789")
    with LoopbackServer() as srv:
        srv.reply_with(_reply)
        write_config(tmp_path, srv.base_url)
        assert _cli(tmp_path, monkeypatch, "c0", "run", "cfg.yaml", "--out", "single") == 1  # the gate fails
        single_requests = srv.count("/chat/completions")
        for i in (1, 3):  # a shard is not a verdict: exit 0 although the gate would fail
            assert _cli(tmp_path, monkeypatch, f"c{i}", "run", "cfg.yaml", "--shard", f"{i}/3") == 0
        assert _cli(tmp_path, monkeypatch, "c2f", "run", "cfg.yaml", "--shard", "2/3", "--out", "fresh2") == 0
        assert srv.count("/chat/completions") == 2 * single_requests  # the shards sent what the single run sent
        # shard 2 is killed after generating and judging (SIGKILL), then resumed from its cache
        env = {**os.environ, "EVALSTACK_CACHE_DIR": str(tmp_path / "c2"), "EVALSTACK_CRASH_AT": "judged"}
        killed = subprocess.run(
            [sys.executable, "-m", "evalstack", "run", "cfg.yaml", "--shard", "2/3", "-q"], env=env, capture_output=True
        )
        assert killed.returncode == -9
        sent = srv.count("/chat/completions")
        capsys.readouterr()
        assert (
            _cli(
                tmp_path,
                monkeypatch,
                "m",
                "merge",
                "out/shard-1-of-3",
                "out/shard-2-of-3",
                "out/shard-3-of-3",
                "--out",
                "merged",
            )
            == 2
        )
        assert "did not finish" in capsys.readouterr().err
        assert _cli(tmp_path, monkeypatch, "c2", "run", "cfg.yaml", "--shard", "2/3", "--resume") == 0
        assert srv.count("/chat/completions") == sent  # the resumed shard sent nothing again
    shard_md = (tmp_path / "out/shard-2-of-3/report.md").read_text()
    assert "shard 2 of 3 — merge to get the verdict" in shard_md
    assert json.loads((tmp_path / "out/shard-2-of-3/run.json").read_text())["gate"] is None

    single = json.loads((tmp_path / "single/run.json").read_text())
    assert single["tasks"]["intent"]["slices"] and single["tasks"]["qa"]["models"]["ft"]["metrics"]["judge_conciseness"]
    assert single["tasks"]["qa"]["pairwise"]["preference"]["ft"]["n"] > 0
    # shards given in any order; fresh: equal to the single run in everything but times
    for shard2, merged_dir, resumed in (("fresh2", "merged", False), ("out/shard-2-of-3", "merged_resumed", True)):
        dirs = ["out/shard-3-of-3", "out/shard-1-of-3", shard2]
        assert _cli(tmp_path, monkeypatch, "m", "merge", *dirs, "--out", merged_dir) == 1  # the single run's verdict
        merged = json.loads((tmp_path / merged_dir / "run.json").read_text())
        assert _normal(merged, resumed) == _normal(single, resumed)
        assert _rows(tmp_path / merged_dir / "examples.jsonl", resumed) == _rows(
            tmp_path / "single/examples.jsonl", resumed
        )
        for name in ("review/lowest.csv", "review/regressions.csv"):
            assert (tmp_path / merged_dir / name).read_text() == (tmp_path / "single" / name).read_text()


def test_shard_membership_depends_on_the_id_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding rows to the data never moves an existing example to another shard, and every example is in
    exactly one shard."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SH_KEY", "sk-shard-0123456789")

    def ids(folder: str) -> dict[str, set[str]]:
        lines = [json.loads(x) for x in (tmp_path / folder / "examples.jsonl").read_text().splitlines()]
        return {t: {r["id"] for r in lines if r["task"] == t and r["model"] == "base"} for t in ("intent", "qa")}

    with LoopbackServer() as srv:
        srv.reply_with(_reply)
        small, big = {}, {}
        write_config(tmp_path, srv.base_url, n_intent=20, n_qa=10)
        for i in (1, 2, 3):
            assert _cli(tmp_path, monkeypatch, "c", "run", "cfg.yaml", "--shard", f"{i}/3", "--out", f"s{i}") == 0
            small[i] = ids(f"s{i}")
        write_config(tmp_path, srv.base_url, n_intent=50, n_qa=25)
        for i in (1, 2, 3):
            assert _cli(tmp_path, monkeypatch, "c", "run", "cfg.yaml", "--shard", f"{i}/3", "--out", f"b{i}") == 0
            big[i] = ids(f"b{i}")
    for task, n in (("intent", 50), ("qa", 25)):
        assert all(small[i][task] <= big[i][task] for i in (1, 2, 3))
        assert sorted(x for i in (1, 2, 3) for x in big[i][task]) == sorted(
            {r for i in (1, 2, 3) for r in big[i][task]}
        )
        assert sum(len(big[i][task]) for i in (1, 2, 3)) == n
        assert all(big[i][task] for i in (1, 2, 3))  # the split is not degenerate


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "2"])
def test_a_bad_shard_is_one_line_and_exit_2(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    assert main(["run", "cfg.yaml", "--shard", value, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--shard" in err and value in err


def test_merge_refuses_what_is_not_one_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing, duplicate and foreign shards (another config) are refused with one line naming them; a shard
    with items that failed after retries makes the merge incomplete (exit 3), never a verdict."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SH_KEY", "sk-shard-0123456789")
    with LoopbackServer() as srv:
        srv.reply_with(_reply)
        write_config(tmp_path, srv.base_url, n_intent=12, n_qa=6)
        for i in (1, 2):
            assert _cli(tmp_path, monkeypatch, "c", "run", "cfg.yaml", "--shard", f"{i}/2", "--out", f"s{i}") == 0
        write_config(tmp_path, srv.base_url, n_intent=12, n_qa=7)  # other data: another config digest
        assert _cli(tmp_path, monkeypatch, "c", "run", "cfg.yaml", "--shard", "2/2", "--out", "other2") == 0
        srv.reply_with(lambda req: Fault.of(500) if req["model"] == "ft-m" else _reply(req))  # ft always fails
        assert _cli(tmp_path, monkeypatch, "c3", "run", "cfg.yaml", "--shard", "1/2", "--out", "bad1") == 3
        srv.reply_with(_reply)
        assert _cli(tmp_path, monkeypatch, "c4", "run", "cfg.yaml", "--shard", "2/2", "--out", "good2") == 0
    capsys.readouterr()
    # shard 2 as written by an evalstack of another scoring version: same config, other digests
    shutil.copytree(tmp_path / "s2", tmp_path / "old2")
    old = json.loads((tmp_path / "old2/run.json").read_text())
    for d in old["digests"].values():
        d["scoring"] = "0"
    (tmp_path / "old2/run.json").write_text(json.dumps(old))
    cases = [
        (["s1", "old2"], "shards of different evaluations: s1 and old2 differ (intent: scoring version"),
        (["s1"], "missing shard 2/2 of 2"),
        (["s1", "s1", "s2"], "shard 1/2 given twice: s1 and s1"),
        (["s1", "other2"], "shards of different configs: s1"),
    ]
    (tmp_path / "rules.yaml").write_text("rules: [{metric: intent/accuracy, min: 0.1}]\n")
    for args in (["gate", "s1", "--rules", "rules.yaml"], ["compare", "s1", "--out", "cmp"]):  # no verdict
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "s1: this is shard 1 of 2, not a run" in err and err.count("\n") == 0, err
    for dirs, words in cases:
        assert main(["merge", *dirs, "--out", "m"]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and err.count("\n") == 0, err
    assert not (tmp_path / "m").exists()
    assert main(["merge", "bad1", "good2", "--out", "m", "-q"]) == 3
    merged = json.loads((tmp_path / "m/run.json").read_text())
    assert merged["incomplete"]["failed"] >= 2
    assert "--shard 1/2 --out bad1 --resume" in merged["incomplete"]["resume_command"]


def _rows_in(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT key, response FROM responses").fetchall())


def test_cache_merge_combines_the_shards_caches_so_a_later_run_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each shard wrote its own cache (one machine each); `evalstack cache merge` puts every row in one file
    once (merging twice adds nothing, two merges at once lose nothing), and a single-machine run on it,
    --resume or not, sends zero requests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SH_KEY", "sk-shard-0123456789")
    with LoopbackServer() as srv:
        srv.reply_with(_reply)
        write_config(tmp_path, srv.base_url, n_intent=15, n_qa=9)
        for i in (1, 2, 3):
            assert _cli(tmp_path, monkeypatch, f"c{i}", "run", "cfg.yaml", "--shard", f"{i}/3") == 0
        sent = srv.count("/chat/completions")
        caches = [tmp_path / f"c{i}" / "cache.sqlite" for i in (1, 2, 3)]
        union = sorted({r for c in caches for r in _rows_in(c)})
        assert len(union) == sum(len(_rows_in(c)) for c in caches)  # shards send disjoint requests
        assert main(["cache", "merge", *map(str, caches), "--into", "all/cache.sqlite"]) == 0
        assert _rows_in(tmp_path / "all/cache.sqlite") == union
        assert main(["cache", "merge", str(caches[0]), "--into", "all/cache.sqlite"]) == 0  # again: nothing new
        assert _rows_in(tmp_path / "all/cache.sqlite") == union
        assert f"{caches[0]}: {len(_rows_in(caches[0]))} row(s), 0 added" in capsys.readouterr().out

        with ThreadPoolExecutor(2) as pool:  # two merges into one new file at the same time
            codes = list(pool.map(lambda c: merge_caches([c], tmp_path / "both.sqlite"), caches[:2]))
        assert sum(r.added[str(c)] for r, c in zip(codes, caches[:2])) == len(_rows_in(tmp_path / "both.sqlite"))
        assert _rows_in(tmp_path / "both.sqlite") == sorted({r for c in caches[:2] for r in _rows_in(c)})

        assert _cli(tmp_path, monkeypatch, "all", "run", "cfg.yaml", "--out", "single", "--resume") == 1
        assert _cli(tmp_path, monkeypatch, "all", "run", "cfg.yaml", "--out", "single2") == 1
        assert srv.count("/chat/completions") == sent  # the merged cache answered every request

    capsys.readouterr()
    (tmp_path / "junk.sqlite").write_text("not a database\n" * 20)
    for args, words in (
        ([str(caches[0]), "--into", str(caches[0])], "--into is one of the caches to merge"),
        (["nope.sqlite", "--into", "x.sqlite"], "nope.sqlite: no cache file here"),
        (["junk.sqlite", "--into", "x.sqlite"], "junk.sqlite: cannot merge this cache"),
    ):
        assert main(["cache", "merge", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and err.count("\n") == 0, err
    assert not (tmp_path / "x.sqlite").exists()
