"""``evalstack view RUN...`` (the review workbench) and ``evalstack labels export|show`` (labels put to work)."""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import sys
from pathlib import Path

import click

from ..errors import ConfigError


def _check_runs(runs: tuple[Path, ...]) -> list[Path]:
    out = []
    for r in runs:
        if not (r / "run.json").is_file() or not (r / "examples.jsonl").is_file():
            raise ConfigError(
                "not a finished run folder (run.json and examples.jsonl are needed)",
                where=str(r),
                hint="give a folder written by `evalstack run`",
            )
        out.append(r)
    return out


@click.command("view")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option("--reviewer", help="Name written with each label (default: the login name).")
@click.option("--allow-unfinished", is_flag=True, help="Open a run folder whose run did not finish.")
def view(runs: tuple[Path, ...], port: int, no_browser: bool, reviewer: str | None, allow_unfinished: bool) -> None:
    """Review workbench: read, filter, compare and label a run's examples in the browser (local only)."""
    paths = _check_runs(runs)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0-65535, got {port}")
    from ._app import make_app
    from ._store import Store

    store = Store(paths, allow_unfinished=allow_unfinished)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        raise ConfigError(f"--port {port}: {exc.strerror}", hint="pick another port or 0 for a free one") from None
    real_port = sock.getsockname()[1]
    token = secrets.token_urlsafe(18)
    who = reviewer or os.environ.get("EVALSTACK_REVIEWER") or _login()
    app = make_app(store, token=token, reviewer=who, port_hosts=(f"127.0.0.1:{real_port}", f"localhost:{real_port}"))
    url = f"http://127.0.0.1:{real_port}/{token}/"
    click.echo(f"evalstack view: {url}  (Ctrl-C stops it)")
    sys.stdout.flush()
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


@click.group("labels")
def labels() -> None:
    """Review labels (written by `evalstack view`): show them, export them for judge validation or cleaned data."""


@labels.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--as", "kind", type=click.Choice(["judge-validation", "cleaned-data"]), required=True)
@click.option("--task", help="The task (default: the only task with labels).")
@click.option("--rubric", help="judge-validation: the rubric (default: the task's only judge).")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="The file to write (JSONL); never the source."
)
def export(run: Path, kind: str, task: str | None, rubric: str | None, out: Path) -> None:
    """Write the labels as a `judge validate` label file, or the held-out set with gold-wrong rows fixed."""
    from ._export import export_cleaned_data, export_judge_validation

    _check_runs((run,))
    if kind == "judge-validation":
        n, skipped = export_judge_validation(run, out, task=task, rubric=rubric)
        click.echo(
            f"wrote {n} label row(s) to {out}"
            + (
                f"; {skipped} label(s) skipped (judge_wrong without a "
                "corrected score, model_wrong/gold_wrong, or not an example of this run)"
                if skipped
                else ""
            )
        )
    else:
        dropped, corrected, log = export_cleaned_data(run, out, task=task)
        click.echo(f"wrote {out}: {dropped} row(s) dropped, {corrected} corrected (gold_wrong labels); changelog {log}")


@labels.command("show")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def show(run: Path, as_json: bool) -> None:
    """The newest label per example and model."""
    from ._labels import latest_labels

    _check_runs((run,))
    rows = list(latest_labels(run).values())
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from .._safetext import shown

    for r in rows:  # model text made visible: no control or bidi character reaches the terminal raw
        extra = (f" -> {r['corrected']}" if r.get("corrected") is not None else "") + (
            f"  ({r['note']})" if r.get("note") else ""
        )
        click.echo(
            shown(
                f"{r['task']}/{r['id']} {r['model']}: {r['label']}{extra}  [{r.get('who', '')} {r.get('at', '')}]", 2000
            )
        )


@labels.command("suspects")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--task", help="The classification task (default: the only one).")
@click.option("--top", type=int, default=20, show_default=True, help="How many suspects to print (JSON: all).")
@click.option("--json", "as_json", is_flag=True)
def suspects(run: Path, task: str | None, top: int, as_json: bool) -> None:
    """Gold labels that the models' answers contradict (confident learning), most suspicious first."""
    from .._safetext import shown
    from ._suspects import find_run_suspects

    _check_runs((run,))
    res = find_run_suspects(run, task=task)
    if as_json:
        click.echo(json.dumps(res, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"{res['task']}: {len(res['suspects'])} suspect gold label(s) of {res['n']} (confident learning on "
        + (
            "the label tokens' logprobs"
            if res["source"] == "logprobs"
            else f"the agreement of {len(res['accuracy'])} model(s)"
        )
        + f"); confirm them in `evalstack view {run}` (label gold_wrong): each line ends with the example's path "
        "after the URL it prints"
    )
    for s in res["suspects"][:top]:
        answers = ", ".join(f"{m}: {a or '(none)'}" for m, a in s["answers"].items())
        click.echo(
            shown(
                f"  {s['id']}  gold {s['gold']}  P(gold) {s['p_gold']:.2f}  suggested {s['suggested']}  [{answers}]"
                f"  view: {s['view']}",
                2000,
            )
        )
    for m, a in res["accuracy"].items():
        if a["all"] is not None:
            without = "-" if a["without_suspects"] is None else f"{a['without_suspects']:.4f} (n={a['n_without']})"
            click.echo(f"  accuracy {m}: {a['all']:.4f} (n={a['n_all']}); with suspects excluded: {without}")
