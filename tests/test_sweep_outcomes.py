"""`evalstack sweep` outcomes through the CLI: checkpoints of an HF folder served by an OpenAI-compatible server
(`serve:`), the gate failing on the pick (exit 1), no candidate meeting the constraints (exit 1), a phase
whose requests keep failing (exit 3); and RFT candidates chosen from the reward curve."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evalstack.cli import main
from evalstack.testing.loopback import Fault

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["billing", "bug", "account"]
QUALITY = {"run1-checkpoint-100": 0.4, "run1-checkpoint-200": 0.8, "run1-checkpoint-300": 0.6, "base-model": 0.5}


def _setup(srv, tmp_path: Path, **sweep) -> Path:
    rows = [{"id": f"t{i:03d}", "text": f"ticket number {i}", "label": LABELS[i % 3]} for i in range(40)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for step in (100, 200, 300):
        (tmp_path / "train-out" / f"checkpoint-{step}").mkdir(parents=True)
    log = [{"step": s, "loss": 1.2 - s / 500} for s in range(10, 301, 10)]
    log += [{"step": s, "eval_loss": v} for s, v in ((100, 0.9), (200, 0.8), (300, 0.7))]
    (tmp_path / "train-out" / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": 300}))

    def reply(request: dict) -> str:
        i = int(request["messages"][-1]["content"].split("ticket number ")[1].split()[0])
        right = (i * 7919) % 100 < QUALITY[request["model"]] * 100
        return LABELS[i % 3] if right else LABELS[(i + 1) % 3]

    srv.reply_with(reply)
    cfg = {
        "name": "served",
        "baseline": "base",
        "models": {
            "base": {"provider": "openai", "model": "base-model", "base_url": srv.base_url, "api_key_env": None}
        },
        "tasks": [
            {
                "name": "intent",
                "data": {"path": "test.jsonl", "id": "id"},
                "prompt": {"user": "Ticket: {{ text }}"},
                "target": "label",
                "labels": LABELS,
                "metrics": ["accuracy"],
            }
        ],
        "sweep": {
            "path": "train-out",
            "serve": {"base_url": srv.base_url, "model": "run1-{name}", "max_tries": 1},
            "select": "all",
            "objective": {"metric": "intent/accuracy"},
            "confirm_fraction": 0.25,
            **sweep,
        },
        "cache": str(tmp_path / "cache.sqlite"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(capsys, *argv):
    code = main(["sweep", *map(str, argv), "-q"])
    out, err = capsys.readouterr()
    return code, out, err


def test_served_checkpoints_and_a_gate_that_fails_on_the_pick(srv, tmp_path, capsys):
    cfg = _setup(srv, tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data["gate"] = {"rules": [{"metric": "intent/accuracy", "min": 0.95, "on": "estimate"}]}
    cfg.write_text(yaml.safe_dump(data))
    code, out, err = _run(capsys, cfg, "--out", tmp_path / "out", "--json")
    res = json.loads(out)
    assert {r.body["model"] for r in srv.requests if r.path.endswith("/chat/completions")} == set(QUALITY)
    assert res["pick"]["name"] == "step-200" and res["pick"]["origin"] == "checkpoint-200"
    sel = [json.loads(x)["id"] for x in (tmp_path / "out/data/select/intent.jsonl").read_text().splitlines()]
    right = sum((int(i[1:]) * 7919) % 100 < 80 for i in sel)
    assert res["pick"]["selection"]["value"] == right / len(sel)
    assert code == 1 and not res["gate"]["passed"] and "Gate on the pick FAILED" in err
    assert res["loss_best"]["step"] == 300 and res["candidates"][2]["flag"]["than"] == "step-200"


def test_no_candidate_meets_the_constraints_exit_1(srv, tmp_path, capsys):
    cfg = _setup(srv, tmp_path, constraints=[{"metric": "intent/accuracy", "min": 0.95, "on": "estimate"}])
    code, out, err = _run(capsys, cfg, "--out", tmp_path / "out", "--json")
    res = json.loads(out)
    assert code == 1 and res["pick"] is None and "No pick: no candidate met the constraints" in err
    assert all(c["meets_constraints"] is False for c in res["candidates"])
    assert "runs/confirm" not in json.dumps(res["runs"])  # nothing confirmed without a pick


def test_a_phase_with_failing_requests_is_incomplete_exit_3(srv, tmp_path, capsys):
    cfg = _setup(srv, tmp_path)
    ok = srv._reply_fn
    srv.reply_with(lambda req: Fault.of(500) if req["model"] == "run1-checkpoint-300" else ok(req))
    code, out, err = _run(capsys, cfg, "--out", tmp_path / "out", "--json")
    res = json.loads(out)
    assert code == 3 and res["incomplete"]["phase"] == "select" and "SWEEP INCOMPLETE" in err
    assert res["pick"] is None and res["no_pick_reason"] is None  # not "no candidate met": it did not finish


def test_rft_candidates_follow_the_reward_curve():
    from evalstack.curves import analyze
    from evalstack.sweep import choose_candidates
    from evalstack.sweep._sources import Candidate

    curve = analyze(ROOT / "tests/fixtures/curves/rft_results.csv")
    cands = [Candidate(name=f"s{s}", step=s, model=None, origin="") for s in range(10, 61, 10)]
    chosen, reasons, notes = choose_candidates(cands, curve, "curve")
    # the curves analysis' own RFT candidates (peak reward, final, mid-training) at the same steps
    expected = {c.step for c in curve.rft.candidates}
    assert {c.step for c in chosen} == expected == {30, 60}
    assert "peak_reward" in reasons["s60"] and "final" in reasons["s60"] and reasons["s30"] == ["mid"]
    assert any("validation loss" in n for n in notes)


def test_an_hf_folder_final_model_counts_when_no_checkpoint_has_its_step(tmp_path):
    from evalstack.sweep import sweep_from_data
    from evalstack.sweep._sources import discover

    run = tmp_path / "train-out"
    for step in (100, 200):
        (run / f"checkpoint-{step}").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (tmp_path / "test.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    base = {
        "name": "f",
        "baseline": "base",
        "models": {"base": {"provider": "mock"}},
        "tasks": [
            {
                "name": "t",
                "data": {"path": str(tmp_path / "test.jsonl"), "id": "id"},
                "prompt": {"user": "{{ text }}"},
                "reference": "text",
                "metrics": ["exact_match"],
            }
        ],
        "sweep": {"path": str(run), "objective": {"metric": "t/exact_match"}},
    }
    for global_step, expected in (
        (250, [(100, "step-100"), (200, "step-200"), (250, "final")]),
        (200, [(100, "step-100"), (200, "step-200")]),
    ):  # the final model is checkpoint-200
        log = [{"step": s, "loss": 1.0, "eval_loss": 0.5} for s in (100, 200)]
        (run / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": global_step}))
        found = discover(sweep_from_data(json.loads(json.dumps(base))), tmp_path / "work")
        assert [(c.step, c.name) for c in found.candidates] == expected
        assert [c.model.path for c in found.candidates] == [
            run / f"checkpoint-{s}" if n != "final" else run for s, n in expected
        ]
