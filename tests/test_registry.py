"""The plug-in registry (evalstack.registry): one lookup with a "did you mean" for every kind, and
plug-ins from installed packages through the ``evalstack`` entry-point group, loaded only when needed."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalstack import registry
from evalstack.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Plug-ins registered by one test do not leak into the next (built-ins loaded first: they stay)."""
    with registry.isolated():
        yield


def install_plugin(
    site: Path, monkeypatch: pytest.MonkeyPatch, package: str, modules: dict[str, str], entry_points: dict[str, str]
) -> None:
    """A real installed distribution: ``<package>-0.1.dist-info`` with METADATA and entry_points.txt, and the
    package's modules, in ``site`` put first on sys.path (what pip leaves in site-packages)."""
    pkg = site / package
    pkg.mkdir(parents=True)
    for name, text in modules.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evalstack]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    monkeypatch.syspath_prepend(str(site))
    for mod in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, mod)


def test_did_you_mean_offers_the_nearest_name_or_the_fallback() -> None:
    assert registry.did_you_mean("acuracy", ["accuracy", "f1"], "known: accuracy, f1") == "did you mean 'accuracy'?"
    assert registry.did_you_mean("zzz", ["accuracy", "f1"], "known: accuracy, f1") == "known: accuracy, f1"
    assert registry.did_you_mean("zzz", ["accuracy"]) is None
    assert registry.did_you_mean("f1_macr", ["f1_macro"], prefix="intent/") == "did you mean 'intent/f1_macro'?"
    # difflib's ratio: 'ab' vs 'abcd' is 2*2/6 = 0.67 (near at the default 0.6 cutoff, not at 0.7)
    assert registry.closest("ab", ["abcd"]) == "abcd" and registry.closest("ab", ["abcd"], cutoff=0.7) is None


def test_lookup_finds_builtins_and_names_unknown_ones_with_a_hint() -> None:
    from evalstack.metrics import get_metric
    from evalstack.models._openai import OpenAIProvider

    assert registry.lookup("provider", "openai") is OpenAIProvider
    accuracy: Any = get_metric("accuracy")
    assert accuracy.name == "accuracy"
    with pytest.raises(ConfigError, match=r"^models\.m: unknown provider 'opnai' \(did you mean 'openai'\?\)$"):
        registry.lookup("provider", "opnai", where="models.m")
    with pytest.raises(DataError, match=r"unknown tracker type 'x' \(known: mlflow, wandb\)"):
        registry.lookup("tracker", "x", error=DataError)
    with pytest.raises(ValueError, match="unknown plug-in kind"):
        registry.names("metrics")
    assert {"openai", "replay", "local", "mock"} <= set(registry.names("provider"))


def test_an_entry_point_is_loaded_only_when_its_name_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "evalstack_lazy_plugin",
        {
            "__init__": "",
            "metric": """
            from evalstack.metrics import BaseMetric, mean_result

            class Shout(BaseMetric):
                KEYS = "shout"
                DESCRIPTION = "1 when the output is upper case."
                needs_reference = False

                def compute(self, predictions, references=None, **context):
                    return [mean_result("shout", [None if p is None else float(p.isupper()) for p in predictions])]
            """,
        },
        {"metric.shout": "evalstack_lazy_plugin.metric:Shout"},
    )
    from evalstack.metrics import compute, get_metric

    get_metric("accuracy")
    assert "evalstack_lazy_plugin.metric" not in sys.modules  # a built-in lookup loads no plug-in
    assert "shout" in registry.names("metric")  # listing names reads the metadata only
    assert "evalstack_lazy_plugin.metric" not in sys.modules
    assert compute("shout", ["YES", "no", None]).value == 0.5
    assert "evalstack_lazy_plugin.metric" in sys.modules
    shout: Any = get_metric("shout")
    assert shout.name == "shout"  # went through register_metric without decorating itself
    with pytest.raises(ConfigError, match=r"unknown metric 'shoot' \(did you mean 'shout'\?\)"):
        get_metric("shoot")


def test_a_builtin_name_wins_and_a_broken_plugin_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "evalstack_bad_plugin",
        {"__init__": "", "m": "raise RuntimeError('boom')"},
        {"metric.accuracy": "evalstack_bad_plugin.m:X", "metric.broken": "evalstack_bad_plugin.m:X"},
    )
    from evalstack.metrics import get_metric

    assert get_metric("accuracy").__module__ == "evalstack.metrics._classification"
    with pytest.raises(
        ConfigError,
        match=r"^the metric plug-in 'broken' \(evalstack_bad_plugin\.m:X\) could not be "
        r"loaded: RuntimeError: boom \(reinstall or uninstall",
    ):
        get_metric("broken")


ECHO_PLUGIN = {
    "__init__": "",
    "echo": """
        from typing import Literal

        from evalstack.models import Generation, Provider, ProviderSettings


        class EchoSettings(ProviderSettings):
            provider: Literal["echo"]
            upper: bool = False


        class EchoProvider(Provider):
            Settings = EchoSettings
            uses_cache = False

            def cache_identity(self):
                return {"kind": "echo", "model": self.name, "upper": self.cfg.upper}

            async def generate(self, request):
                text = request.messages[-1][1]
                return Generation(text=text.upper() if self.cfg.upper else text)
        """,
    "shout": """
        from evalstack.metrics import BaseMetric, mean_result


        class Shout(BaseMetric):
            KEYS = "shout"
            DESCRIPTION = "1 when the output is upper case."
            needs_reference = False

            def compute(self, predictions, references=None, **context):
                return [mean_result("shout", [None if p is None else float(p.isupper()) for p in predictions])]
        """,
    "summary": """
        from evalstack.report import ReportFormat


        class Summary(ReportFormat):
            filename = "summary.txt"

            def render(self, run, data):
                return f"{run.name}: {len(run.models)} models, tasks {', '.join(run.tasks)}\\n"
        """,
}


def test_a_plugin_metric_and_provider_run_from_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed package adds a provider, a metric and a report format; a config uses them through
    `evalstack run` (before the registry, config validation rejected provider 'echo')."""
    import json

    from evalstack.cli import main

    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "evalstack_echo_plugin",
        ECHO_PLUGIN,
        {
            "provider.echo": "evalstack_echo_plugin.echo:EchoProvider",
            "metric.shout": "evalstack_echo_plugin.shout:Shout",
            "report_format.summary": "evalstack_echo_plugin.summary:Summary",
        },
    )
    texts = ["abc", "DEF", "ghi", "JKL", "mno"]  # 2 of 5 already upper case
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    cfg = tmp_path / "eval.yaml"
    config = """\
name: plug
baseline: plain
models:
  plain: {provider: echo}
  loud: {provider: echo, upper: true}
tasks:
  - name: t
    data: {path: d.jsonl, id: id}
    prompt: {user: "{{ text }}"}
    metrics: [shout]
output: out
"""
    cfg.write_text(config)
    assert main(["run", str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    shout = {m: run["tasks"]["t"]["models"][m]["metrics"]["shout"]["value"] for m in ("plain", "loud")}
    assert shout == {"plain": pytest.approx(2 / 5), "loud": 1.0}
    assert run["models"]["loud"]["provider"] == "echo"
    assert (tmp_path / "out" / "summary.txt").read_text() == "plug: 2 models, tasks t\n"
    assert run["config"]["models"]["loud"] == {
        "provider": "echo",
        "upper": True,
        "concurrency": 8,
        "repeat": 1,
        "checkpoint_step": None,
        "price": None,
    }

    # the plug-in's Settings validate the entry, with the same one-line errors as a built-in's
    cfg.write_text(config.replace("upper: true", "uper: true"))
    assert main(["run", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {cfg}: models.loud.uper (line 5): unknown key 'uper' (did you mean 'upper'?)"]
    cfg.write_text(config.replace("{provider: echo}", "{provider: ecko}"))
    assert main(["run", str(cfg), "--quiet"]) == 2
    assert "models.plain (line 4): unknown provider 'ecko' (did you mean 'echo'?)" in capsys.readouterr().err


def test_the_config_json_schema_names_every_providers_settings(repo_root: Path) -> None:
    """Config.model_json_schema() holds each provider's own keys: the demo's models validate, a typo does not."""
    import jsonschema
    import yaml

    from evalstack.config import Config

    schema = Config.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    entry = schema["properties"]["models"]["additionalProperties"]
    assert sorted(s["properties"]["provider"]["const"] for s in entry["oneOf"]) == registry.names("provider")
    models = yaml.safe_load((repo_root / "configs" / "demo.yaml").read_text())["models"]
    validate = jsonschema.Draft202012Validator(entry).is_valid
    assert all(validate(m) for m in models.values())
    assert validate({"provider": "openai", "model": "m", "params": {"temperature": 0}})
    assert not validate({"provider": "openai", "modle": "m"})
    assert not validate({"provider": "nope", "model": "m"})
