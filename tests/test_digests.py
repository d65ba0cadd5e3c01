"""Per-task digests in run.json (issue 16 item 1): path-independent, and each one moves with its own input only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _evalrig import config, write_data, write_outputs
from evalstack.cli import main


def _run(root: Path, out: str = "out") -> dict:
    assert main(["run", str(root / "cfg.yaml"), "--out", str(root / out), "--quiet"]) == 0
    return json.loads((root / out / "run.json").read_text())["digests"]


@pytest.fixture
def rig(tmp_path: Path, srv, monkeypatch: pytest.MonkeyPatch) -> Path:
    from _evalrig import judge_reply

    monkeypatch.setenv("RIG_KEY", "sk-rig-0123456789")
    srv.reply_with(judge_reply)
    root = tmp_path / "checkout-a" / "evals"
    write_data(root)
    write_outputs(root, "base", 0.7, seed=1)
    write_outputs(root, "ft", 0.8, seed=2)
    config(root, judge_url=srv.base_url, models={"base": "base.jsonl", "ft": "ft.jsonl"}, baseline="base")
    return root


def test_the_same_evaluation_in_two_checkouts_has_the_same_digests(rig: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "deeper" / "evals"
    shutil.copytree(rig, other)
    a, b = _run(rig), _run(other)
    assert a == b
    assert set(a) == {"intent", "qa"}
    assert set(a["qa"]["judges"]) == {"conciseness"} and a["qa"]["judges"]["conciseness"]["model"] == "judge-model"
    assert a["intent"]["models"]["ft"]["model"] == "ft.jsonl"
    assert all(len(a["intent"][k]) == 64 for k in ("data", "prompt", "labels", "metrics"))


def test_each_digest_moves_with_its_own_input_only(rig: Path) -> None:
    before = _run(rig, "one")
    # the data file's lines in another order: the rows used, in id order, are the same rows
    lines = (rig / "intent.jsonl").read_text().splitlines(keepends=True)
    (rig / "intent.jsonl").write_text("".join(reversed(lines)))
    assert _run(rig, "two") == before
    # one changed row: only intent's data digest moves
    (rig / "intent.jsonl").write_text("".join(lines).replace('"ticket 5"', '"ticket five"'))
    after = _run(rig, "three")
    assert after["intent"]["data"] != before["intent"]["data"]
    assert {k: v for k, v in after["intent"].items() if k != "data"} == {
        k: v for k, v in before["intent"].items() if k != "data"
    }
    assert after["qa"] == before["qa"]
    # the judge model: only qa's judge digest (and its shown name) moves, not the rubric's
    cfg = (rig / "cfg.yaml").read_text()
    (rig / "cfg.yaml").write_text(cfg.replace("model: judge-model", "model: judge-mini"))
    j = _run(rig, "four")["qa"]["judges"]["conciseness"]
    assert j["model"] == "judge-mini" and j["judge"] != before["qa"]["judges"]["conciseness"]["judge"]
    assert j["rubric"] == before["qa"]["judges"]["conciseness"]["rubric"]
    # the replay file of a model: its identity moves, nothing that must match does
    (rig / "cfg.yaml").write_text(cfg)
    write_outputs(rig, "ft", 0.9, seed=3)
    five = _run(rig, "five")
    assert five["intent"]["models"]["ft"]["digest"] != after["intent"]["models"]["ft"]["digest"]
    assert five["intent"]["metrics"] == before["intent"]["metrics"]
