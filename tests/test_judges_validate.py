"""`evalstack judge validate`: agreement numbers equal scikit-learn/scipy, offline replay fixture, errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from evalstack.cli import main
from evalstack.judges import agreement, cohen_kappa
from evalstack.testing.loopback import LoopbackServer

FIX = Path(__file__).resolve().parent / "fixtures" / "judges"


def spearman_by_ranks(x, y) -> float:
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["judge", "validate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(6))
def test_kappa_equals_sklearn(weights: str | None, seed: int) -> None:
    rng = random.Random(seed)
    labels = [1, 2, 3, 4, 5]
    n = rng.choice([5, 30, 200])
    a = [rng.choice(labels[:4]) for _ in range(n)]  # label 5 unused by one rater: still in `labels`
    b = [min(5, max(1, x + rng.choice([-1, 0, 0, 1, 2]))) for x in a]
    want = cohen_kappa_score(a, b, labels=labels, weights=weights)
    assert cohen_kappa(a, b, labels, weights) == pytest.approx(want, abs=1e-12)


def test_kappa_undefined_and_string_labels() -> None:
    assert cohen_kappa([3, 3], [3, 3], [1, 2, 3]) is None  # sklearn: nan (0/0)
    h, j = ["a", "b", "tie", "a", "b", "a"], ["a", "tie", "tie", "b", "b", "a"]
    assert cohen_kappa(h, j, ["b", "tie", "a"]) == pytest.approx(cohen_kappa_score(h, j, labels=["b", "tie", "a"]))


def test_agreement_numbers() -> None:
    human = [1, 2, 3, 4, 5, 5, 3, 2]
    verdict = [1, 3, 3, 4, 4, 5, 2, 2]
    score = [1.2, 2.9, 3.0, 4.1, 4.4, 4.8, 2.2, 2.0]
    s = agreement(human, verdict, labels=[1, 2, 3, 4, 5], weights="quadratic", human_num=human, judge_num=score)
    assert s["exact_agreement"] == pytest.approx(5 / 8)
    assert s["kappa"] == pytest.approx(cohen_kappa_score(human, verdict, weights="quadratic"))
    assert s["confusion"] == confusion_matrix(human, verdict, labels=[1, 2, 3, 4, 5]).tolist()
    assert s["spearman"] == pytest.approx(spearman_by_ranks(human, score))
    assert s["mean_bias"] == pytest.approx(np.mean(np.array(score) - np.array(human)))
    assert s["within_one"] == 1.0


def test_validate_fixture_offline_with_replay_json(capsys: pytest.CaptureFixture[str]) -> None:
    labels, verdicts = FIX / "factual_labels.jsonl", FIX / "factual_verdicts.jsonl"
    code, out, err = run_cli(
        capsys,
        "--rubric",
        "factual_correctness",
        "--labels",
        str(labels),
        "--judge-provider",
        "replay",
        "--judge-path",
        str(verdicts),
        "--json",
    )
    assert code == 0
    rep = json.loads(out)
    human = {r["id"]: r["human_score"] for r in rows(labels)}
    judged = {r["id"]: r["score"] for r in rows(verdicts)}  # the intended score, written by the generator
    ids = [i for i in human if judged[i] is not None]
    h, j = [human[i] for i in ids], [judged[i] for i in ids]
    assert len(human) == 120 and rep["n_labels"] == 120 and rep["n"] == len(ids) == 118 and rep["unscored"] == 2
    assert rep["kappa"] == pytest.approx(cohen_kappa_score(h, j, weights="quadratic"))
    assert rep["kappa_weights"] == "quadratic"
    assert rep["exact_agreement"] == pytest.approx(np.mean(np.array(h) == np.array(j)))
    assert rep["spearman"] == pytest.approx(spearman_by_ranks(h, j))
    assert rep["mean_bias"] == pytest.approx(np.mean(np.array(j) - np.array(h)))
    assert rep["confusion"] == confusion_matrix(h, j, labels=[1, 2, 3, 4, 5]).tolist()
    assert rep["methods"] == {"plain": 118} and rep["rows"]["fc-001"]["human"] == human["fc-001"]
    assert rep["warnings"] == ["2 of 120 replies could not be scored and are left out of the statistics"]
    assert "warning: 2 of 120 replies" in err
    code, text, _ = run_cli(
        capsys, "--rubric", "factual_correctness", "--labels", str(labels), "--judge-path", str(verdicts)
    )
    assert code == 0
    assert f"Cohen's kappa     {rep['kappa']:.4f} (quadratic-weighted)" in text
    assert "confusion matrix (rows: human, columns: judge)" in text and "unscored 2" in text


def test_validate_pairwise_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    labels, verdicts = FIX / "pairwise_labels.jsonl", FIX / "pairwise_verdicts.jsonl"
    code, out, err = run_cli(
        capsys, "--rubric", "preference", "--labels", str(labels), "--judge-path", str(verdicts), "--json"
    )
    assert code == 0
    rep = json.loads(out)
    v = {r["id"]: r["verdict"] for r in rows(verdicts)}
    human, judge, same_position = [], [], 0
    for r in rows(labels):
        ab, ba = v[r["id"]], v[r["id"] + "::swapped"]
        w_ab = {"A": "a", "B": "b", "tie": "tie"}[ab]
        w_ba = {"A": "b", "B": "a", "tie": "tie"}[ba]
        human.append(r["human"])
        judge.append(w_ab if w_ab == w_ba else "tie")
        same_position += ab == ba != "tie"
    assert rep["n"] == 30 and rep["kind"] == "pairwise" and rep["kappa_weights"] == "none"
    assert rep["kappa"] == pytest.approx(cohen_kappa_score(human, judge))
    assert rep["exact_agreement"] == pytest.approx(np.mean(np.array(human) == np.array(judge)))
    assert rep["confusion"] == confusion_matrix(human, judge, labels=["b", "tie", "a"]).tolist()
    assert rep["position_bias_rate"] == pytest.approx(same_position / 30)
    assert any("only 30 labelled examples" in w for w in rep["warnings"])


def test_low_agreement_warns_and_min_kappa_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(3)
    lab, ver = [], []
    for i in range(40):
        h = rng.randint(1, 5)
        lab.append({"id": f"x{i}", "input": "q", "output": "a", "human_score": h})
        ver.append({"id": f"x{i}", "output": f"Score: {rng.randint(1, 5)}"})
    (tmp_path / "l.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lab))
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ver))
    code, out, err = run_cli(
        capsys,
        "--rubric",
        "answer_relevance",
        "--labels",
        str(tmp_path / "l.jsonl"),
        "--judge-path",
        str(tmp_path / "v.jsonl"),
        "--json",
        "--min-kappa",
        "0.6",
    )
    rep = json.loads(out)
    assert rep["kappa"] < 0.6 and code == 1
    assert any("below 0.6" in w for w in rep["warnings"]) and any("only 40 labelled" in w for w in rep["warnings"])
    assert "is below --min-kappa 0.6" in err


def test_validate_through_openai_endpoint_and_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    monkeypatch.setenv("VALIDATE_KEY", "sk-validate-0123456789")
    lab = [
        {
            "id": f"v{i}",
            "input": f"question {i}",
            "output": f"answer {i}",
            "reference": f"ref {i}",
            "human_score": 1 + i % 5,
        }
        for i in range(10)
    ]
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,input,output,reference,human_score\n"
        + "".join(f'{r["id"]},{r["input"]},"{r["output"]}",{r["reference"]},{r["human_score"]}\n' for r in lab)
    )

    def reply(req: dict) -> str:  # agrees with the human label, except on answer 3 (off by 2)
        n = int(re.search(r"answer (\d+)", req["messages"][1]["content"]).group(1))
        s = 1 + n % 5 if n != 3 else 2
        return json.dumps({"reason": "r", "score": s})

    args = [
        "--rubric",
        "factual_correctness",
        "--labels",
        str(path),
        "--judge-model",
        "judge-model",
        "--judge-api-key-env",
        "VALIDATE_KEY",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--json",
    ]
    with LoopbackServer() as srv:
        srv.reply_with(reply)
        code, out, _ = run_cli(capsys, *args, "--judge-base-url", srv.base_url)
        rep = json.loads(out)
        assert code == 0 and srv.count("/chat/completions") == 10 and rep["usage"]["requests"] == 10
        h = [r["human_score"] for r in lab]
        j = [1 + n % 5 if n != 3 else 2 for n in range(10)]
        assert rep["kappa"] == pytest.approx(cohen_kappa_score(h, j, weights="quadratic"))
        assert rep["exact_agreement"] == 0.9
        code, out, _ = run_cli(capsys, *args, "--judge-base-url", srv.base_url)
        assert srv.count("/chat/completions") == 10 and json.loads(out)["usage"]["cached"] == 10
        assert "sk-validate" not in out


def test_judge_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""\
name: t
baseline: base
models: {{base: {{provider: replay, path: out.jsonl}}}}
tasks: [{{name: qa, data: {{path: d.jsonl}}, prompt: {{user: "{{{{ q }}}}"}}}}]
judge: {{provider: replay, path: {FIX / "factual_verdicts.jsonl"}}}
""")
    code, out, _ = run_cli(
        capsys,
        "--rubric",
        "factual_correctness",
        "--labels",
        str(FIX / "factual_labels.jsonl"),
        "--config",
        str(cfg),
        "--json",
    )
    assert code == 0 and json.loads(out)["n"] == 118


@pytest.mark.parametrize(
    "content, needles",
    [
        ('{"id": "1", "input": "q", "output": "a", "reference": "r"}\n', ["l.jsonl:1", "missing column 'human_score'"]),
        (
            '{"id": "1", "input": "q", "output": "a", "reference": "r", "human_score": 7}\n',
            ["l.jsonl:1", "human_score 7", "1..5"],
        ),
        (
            '{"id": "1", "input": "q", "output": "a", "reference": "r", "human_score": 3}\n'
            '{"id": "1", "input": "q", "output": "b", "reference": "r", "human_score": 3}\n',
            ["l.jsonl:2", "duplicate id '1'"],
        ),
        ('{"id": "1", "input": "q", "output": "a", "human_score": 3}\n', ["missing column 'reference'"]),
        (
            '{"id": "1", "input": "q", "output_a": "a", "output_b": "b", "reference": "r", "human": "left"}\n',
            ["l.jsonl:1", "human 'left' is not a, b or tie"],
        ),
        ("", ["the label file is empty"]),
    ],
)
def test_bad_label_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needles: list[str]) -> None:
    p = tmp_path / "l.jsonl"
    p.write_text(content)
    code, _, err = run_cli(capsys, "--rubric", "factual_correctness", "--labels", str(p), "--judge-path", str(p))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_no_judge_and_bad_judge_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = str(FIX / "factual_labels.jsonl")
    code, _, err = run_cli(capsys, "--rubric", "factual_correctness", "--labels", labels)
    assert code == 2 and "no judge model given" in err
    code, _, err = run_cli(capsys, "--rubric", "factual_correctness", "--labels", labels, "--judge-provider", "replay")
    assert code == 2 and "path" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        capsys,
        "--rubric",
        "factual_correctness",
        "--labels",
        labels,
        "--judge-path",
        labels,
        "--option",
        "logprob=false",
    )
    assert code == 2 and "did you mean 'logprobs'" in err
    missing = tmp_path / "v.jsonl"
    missing.write_text('{"id": "fc-001", "output": "Score: 4"}\n')
    code, _, err = run_cli(capsys, "--rubric", "factual_correctness", "--labels", labels, "--judge-path", str(missing))
    assert code == 2 and "no recorded output for 119 of 120" in err
