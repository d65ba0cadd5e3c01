"""`evalstack sweep` on discovered checkpoints, through the CLI: an OpenAI fine-tuning job with 5 checkpoints
listed by the official client from the loopback server (successive halving, requests counted by the server),
and a local HF training folder with 3 tiny checkpoints built here (run by the `local` provider)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import yaml

from evalstack.cli import main

KEY = "sk-loopback-SWEEP-0123456789"
LABELS = ["billing", "bug", "account"]


def run_main(capsys, *argv):
    code = main(["sweep", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _write_data(folder: Path, n: int) -> dict[str, str]:
    rows = [{"id": f"t{i:03d}", "text": f"ticket number {i}", "label": LABELS[i % 3]} for i in range(n)]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {r["id"]: r["label"] for r in rows}


def _task() -> dict:
    return {
        "name": "intent",
        "data": {"path": "test.jsonl", "id": "id"},
        "prompt": {"user": "Ticket: {{ text }}\nLabel:"},
        "target": "label",
        "labels": LABELS,
        "metrics": ["accuracy"],
    }


# ------------------------------------------------------------------------------------------------ OpenAI job

QUALITY = {100: 0.55, 200: 0.9, 300: 0.7, 400: 0.62, 500: 0.6, 0: 0.5}  # step (0: the base model) -> accuracy


def _right(step: int, ex_number: int) -> bool:
    """Planted: whether the model at ``step`` answers ticket ``ex_number`` correctly."""
    h = int(hashlib.sha256(f"{step}:{ex_number}".encode()).hexdigest(), 16) % 1000
    return h < QUALITY[step] * 1000


def _step_of(model: str, final: str) -> int:
    if ":ckpt-step-" in model:
        return int(model.rsplit("-", 1)[1])
    return 500 if model == final else 0


def test_openai_job_with_5_checkpoints_successive_halving(srv, tmp_path, capsys, monkeypatch):
    labels = _write_data(tmp_path, 100)
    rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    valid = {100: 0.9, 200: 0.7, 300: 0.6, 400: 0.55, 500: 0.58}  # lowest valid loss at step 400
    for s in range(10, 501, 10):
        rows.append(f"{s},{1.5 * math.exp(-s / 150) + 0.2:.4f},0.7,{valid.get(s, '')},{'0.7' if s in valid else ''}")
    job = srv.add_fine_tuning_job(
        "ftjob-sweep5", "\n".join(rows) + "\n", [{"step_number": s} for s in (100, 200, 300, 400, 500)]
    )
    final = job["fine_tuned_model"]

    def reply(request: dict) -> str:
        text = request["messages"][-1]["content"]
        i = int(text.split("ticket number ")[1].split()[0])
        gold = LABELS[i % 3]
        return gold if _right(_step_of(request["model"], final), i) else LABELS[(i + 1) % 3]

    srv.reply_with(reply)
    monkeypatch.setenv("SWEEP_TEST_KEY", KEY)
    cfg = {
        "name": "job-sweep",
        "baseline": "base",
        "models": {
            "base": {
                "provider": "openai",
                "model": "gpt-4.1-mini-2025-04-14",
                "base_url": srv.base_url,
                "api_key_env": "SWEEP_TEST_KEY",
                "params": {"temperature": 0},
                "max_tries": 1,
            }
        },
        "tasks": [_task()],
        "sweep": {
            "job": "ftjob-sweep5",
            "select": "all",
            "objective": {"metric": "intent/accuracy"},
            "confirm_fraction": 0.3,
            "strategy": "successive_halving",
        },
        "gate": {"rules": [{"metric": "intent/accuracy", "max_regression": 0.0}]},
        "cache": str(tmp_path / "cache.sqlite"),
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, tmp_path / "sweep.yaml", "--out", out, "--json", "-q")
    assert code == 0, err
    res = json.loads(stdout)
    assert KEY not in stdout + err + (out / "sweep.md").read_text()
    cands = {c["name"]: c for c in res["candidates"]}
    # the job's 5 checkpoints through the official client; the final model stands for step 500's checkpoint
    assert sorted((c["step"], c["origin"]) for c in cands.values()) == [
        (s, f"{final}:ckpt-step-{s}") for s in (100, 200, 300, 400)
    ] + [(500, final)]
    assert res["loss_best"]["step"] == 400 and (out / "source" / "checkpoints.json").is_file()
    # successive halving replayed by hand on the selection slices the sweep wrote
    sizes = [len(_jsonl(out / "data" / f"select-r{r}" / "intent.jsonl")) for r in range(4)]
    assert sizes == [9, 18, 35, 70]  # 70 selection examples, eta 2, 5 candidates
    order = {c["name"]: c["step"] for c in res["candidates"]}
    alive = sorted(order, key=order.get)
    sent = 0
    done: dict[str, int] = {}
    for r, size in enumerate(sizes):
        ids = [x["id"] for x in _jsonl(out / "data" / f"select-r{r}" / "intent.jsonl")]
        acc = {n: sum(_right(order[n], int(i[1:])) for i in ids) / len(ids) for n in alive}
        for n in alive:
            assert cands[n]["rounds"][str(r)]["value"] == pytest.approx(acc[n])
            sent += size - done.get(n, 0)
            done[n] = size
        ranked = sorted(alive, key=lambda n: (-acc[n], order[n]))
        assert res["rounds"][r]["kept"] == (ranked if r == 3 else ranked[: math.ceil(len(alive) / 2)])
        alive = [n for n in ranked[: math.ceil(len(alive) / 2)]]
    assert res["pick"]["name"] == "step-200"
    # requests the server answered: each (model, example) once (the cache serves the kept candidates' earlier
    # answers), the baseline on the 70 selection examples, then baseline and pick on the 30 confirmation ones
    conf = [x["id"] for x in _jsonl(out / "data" / "confirm" / "intent.jsonl")]
    assert len(conf) == 30 and not set(conf) & set(x["id"] for x in _jsonl(out / "data/select-r3/intent.jsonl"))
    assert srv.count("/chat/completions") == sent + 70 + 2 * 30
    assert res["budget"]["evaluations"] == sent + 70 and res["budget"]["full_sweep_evaluations"] == 6 * 70
    assert res["budget"]["requests_sent"] == sent + 70 + 60
    c = res["pick"]["confirmation"]
    assert c["value"] == pytest.approx(sum(_right(200, int(i[1:])) for i in conf) / 30)
    assert c["delta"]["delta"] == pytest.approx(sum(_right(200, int(i[1:])) - _right(0, int(i[1:])) for i in conf) / 30)
    assert res["gate"]["passed"]
    md = (out / "sweep.md").read_text()
    assert "| 200 | step-200 |" in md and "**pick**" in md and "## Successive halving" in md
    assert (out / "sweep_intent_accuracy.png").read_bytes().startswith(b"\x89PNG")
    assert labels  # the data written above is what the runs read
    # an unknown job: one line, exit 2, naming the job
    cfg["sweep"]["job"] = "ftjob-missing"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = run_main(capsys, tmp_path / "bad.yaml", "--out", tmp_path / "out2", "-q")
    assert code == 2 and "ftjob-missing" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------------ HF folder


def _tiny_checkpoint(folder: Path, tokenizer_dir: Path, answer_token: int) -> None:
    """A tiny GPT-2 whose every next token is ``answer_token``: ln_f's scale is 0, so the last hidden state is
    ln_f's bias, which only ``answer_token``'s (tied) embedding row points at."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=128,
        n_embd=16,
        n_layer=1,
        n_head=2,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 10.0
        model.transformer.wte.weight[:, 0] = 0.0
        model.transformer.wte.weight[answer_token, 0] = 1.0
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


@pytest.mark.slow
def test_local_hf_folder_with_3_tiny_checkpoints(tmp_path, capsys):
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    labels = _write_data(tmp_path, 30)  # 10 billing, 10 bug, 10 account
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["billing bug account other Ticket ticket number Label :"] + [str(i) for i in range(30)],
        trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "<eos>"]),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.save_pretrained(tmp_path / "tok")
    run = tmp_path / "train-out"
    answers = {100: "bug", 200: "billing", 300: "other"}  # each checkpoint always says one word
    for step, word in answers.items():
        (run / f"checkpoint-{step}").mkdir(parents=True)
        _tiny_checkpoint(run / f"checkpoint-{step}", tmp_path / "tok", fast.convert_tokens_to_ids(word))
    _tiny_checkpoint(tmp_path / "base", tmp_path / "tok", fast.convert_tokens_to_ids("account"))
    log = [{"step": s, "loss": 1.0 - s / 1000, "epoch": s / 100} for s in range(10, 301, 10)]
    log += [
        {"step": 100, "eval_loss": 0.9, "epoch": 1.0},
        {"step": 200, "eval_loss": 0.8, "epoch": 2.0},
        {"step": 300, "eval_loss": 0.7, "epoch": 3.0},
    ]  # valid loss falls to the end
    (run / "checkpoint-300" / "trainer_state.json").write_text(
        json.dumps({"log_history": log, "global_step": 300, "num_train_epochs": 3})
    )
    cfg = {
        "name": "folder-sweep",
        "baseline": "base",
        "models": {"base": {"provider": "local", "path": "base", "max_new_tokens": 1}},
        "tasks": [_task()],
        "sweep": {
            "path": "train-out",
            "local": {"max_new_tokens": 1},
            "select": "all",
            "objective": {"metric": "intent/accuracy"},
            "confirm_fraction": 0.3,
            "seed": 3,
        },
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, tmp_path / "sweep.yaml", "--out", out, "--json", "-q")
    assert code == 0, err
    res = json.loads(stdout)
    sel = [x["id"] for x in _jsonl(out / "data" / "select" / "intent.jsonl")]
    conf = [x["id"] for x in _jsonl(out / "data" / "confirm" / "intent.jsonl")]
    assert len(conf) == 9 and len(sel) == 21
    by_step = {c["step"]: c for c in res["candidates"]}
    assert sorted(by_step) == [100, 200, 300] and by_step[300]["origin"] == "checkpoint-300"
    for step, word in answers.items():  # accuracy = share of the selection examples whose label is that word
        assert by_step[step]["score"]["value"] == pytest.approx(sum(labels[i] == word for i in sel) / len(sel))
    assert res["pick"]["step"] == max(
        (s for s in answers if answers[s] != "other"), key=lambda s: (sum(labels[i] == answers[s] for i in sel), -s)
    )
    c = res["pick"]["confirmation"]
    word = answers[res["pick"]["step"]]
    assert c["value"] == pytest.approx(sum(labels[i] == word for i in conf) / 9)
    assert c["delta"]["delta"] == pytest.approx(
        (sum(labels[i] == word for i in conf) - sum(labels[i] == "account" for i in conf)) / 9
    )
    # step 300 has the lowest valid loss but always answers "other": flagged
    assert res["loss_best"]["step"] == 300 and by_step[300]["flag"] is not None
    md = (out / "sweep.md").read_text()
    assert "| 300 | step-300 |" in md and "lowest valid loss" in md and "sweep_intent_accuracy.png" in md
    assert (out / "sweep_intent_accuracy.png").read_bytes().startswith(b"\x89PNG")
