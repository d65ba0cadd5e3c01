"""The review workbench's web app (Starlette): server-rendered pages, a little JavaScript for the keys.

Every URL starts with the random token (``/<token>/...``); any other path, a wrong token or a Host
header that is not the loopback address answers 403. Every page is rendered by Jinja2 with autoescape,
served with a strict Content-Security-Policy (no inline script or style, nothing from another origin)
and ``X-Frame-Options: DENY``. Assets ship in the package (``view/static``).
"""

from __future__ import annotations

import difflib
import json
import re
import secrets
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .._safetext import SHOW_CHARS, shown
from ..errors import EvalstackError
from ._labels import LABELS, append_label
from ._store import PER_PAGE, SORTS, Filters, RunInfo, Store, _num

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_WORD = re.compile(r"\S+\s*|\s+")  # a word with the space after it


def _filters(params: Any, info: RunInfo, task: str) -> Filters:
    """A page's filters from its query; a metric the task does not have is dropped."""
    f = filters_from(params)
    if f.metric and f.metric not in info.metrics.get(task, []):
        f.metric = None
    return f


def _model_shown(info: RunInfo, task: str, wanted: str | None) -> str:
    """``wanted`` when the task has that model, else the first model that is not the baseline."""
    models = info.models[task]
    return wanted if wanted in models else next((m for m in models if m != info.baseline), info.baseline)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(kind, text) runs of a word diff: kind is '=', '-' (only in old) or '+' (only in new)."""
    a, b = _WORD.findall(old[:SHOW_CHARS]), _WORD.findall(new[:SHOW_CHARS])
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("-", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("+", "".join(b[j1:j2])))
    return out


def filters_from(params: Any) -> Filters:
    """A list query from URL parameters; unknown or malformed values are ignored, never an error page."""
    sort = params.get("sort") or "score"
    status = params.get("status") or None
    label = params.get("label") or None
    try:
        page = min(max(1, int(params.get("page") or 1)), 10**9)  # past the last page: an empty page, not an overflow
    except ValueError:
        page = 1
    return Filters(
        model=params.get("model") or None,
        metric=params.get("metric") or None,
        lo=_num(params.get("lo")),
        hi=_num(params.get("hi")),
        regression=params.get("regression") == "1",
        status=status if status in ("failed", "unscored", "scored") else None,
        slice_col=params.get("slice_col") or None,
        slice_val=params.get("slice_val"),
        q=(params.get("q") or "")[:500] or None,
        label=label if label in (*LABELS, "none") else None,
        sort=sort if sort in SORTS else "score",
        desc=params.get("desc") == "1",
        page=page,
    )


def filter_query(f: Filters, **change: Any) -> str:
    d = {
        "model": f.model,
        "metric": f.metric,
        "lo": f.lo,
        "hi": f.hi,
        "regression": "1" if f.regression else None,
        "status": f.status,
        "slice_col": f.slice_col,
        "slice_val": f.slice_val,
        "q": f.q,
        "label": f.label,
        "sort": f.sort,
        "desc": "1" if f.desc else None,
        "page": f.page,
    }
    d.update(change)
    return urlencode({k: v for k, v in d.items() if v not in (None, "")})


def make_app(store: Store, *, token: str, reviewer: str = "", port_hosts: tuple[str, ...] = ()) -> Any:
    """The Starlette app over ``store``; ``port_hosts`` are the accepted Host headers (empty: any loopback)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route

    templates = Path(str(resources.files("evalstack.view") / "templates"))
    static = Path(str(resources.files("evalstack.view") / "static"))
    env = Environment(loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(default=True))
    env.filters["visible"] = shown
    env.filters["num"] = lambda v: "-" if v is None else f"{v:.4g}"
    base = f"/{token}"

    def metric_keys(ts: Any) -> list[str]:
        return list(dict.fromkeys(k for mts in ts.models.values() for k in mts.metrics))

    def page(name: str, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(base=base, store=store, metric_keys=metric_keys, **ctx))

    def run_page(name: str, run: str, task: str, **ctx: Any) -> HTMLResponse:
        return page(name, run=run, task=task, info=store.runs[run], labels=LABELS, **ctx)

    def run_task(request: Request) -> tuple[str, str]:
        run, task = request.path_params["run"], request.path_params["task"]
        if run not in store.runs or task not in store.runs[run].tasks:
            raise _NotFound()
        return run, task

    async def index(request: Request) -> Response:
        return page("index.html.j2", runs=store.runs)

    async def task_list(request: Request) -> Response:
        run, task = run_task(request)
        info = store.runs[run]
        f = _filters(request.query_params, info, task)
        if f.model and f.model not in info.models[task]:
            f.model = None
        if f.metric is None and f.sort != "id":
            f.sort = "id"
        total, rows = store.list_examples(run, task, f)
        return run_page(
            "list.html.j2",
            run,
            task,
            f=f,
            total=total,
            rows=rows,
            per=PER_PAGE,
            q=lambda **kw: filter_query(f, **kw),
            counts=store.label_counts(run, task),
            model=_model_shown(info, task, f.model),
        )

    async def example(request: Request) -> Response:
        run, task = run_task(request)
        info = store.runs[run]
        ex_id = request.path_params["ex_id"]
        rows = store.example(run, task, ex_id)
        if not rows:
            raise _NotFound()
        f = _filters(request.query_params, info, task)
        model = f.model = _model_shown(info, task, f.model)
        prev_id, next_id = store.neighbours(run, task, f, ex_id)
        by_model = {r["model"]: r for r in rows}
        diff = None
        if model != info.baseline and model in by_model and info.baseline in by_model:
            diff = word_diff(by_model[info.baseline]["output"] or "", by_model[model]["output"] or "")
        metrics = sorted({k for r in rows for k in r["scores"]})
        return run_page(
            "example.html.j2",
            run,
            task,
            ex_id=ex_id,
            rows=rows,
            model=model,
            diff=diff,
            metrics=metrics,
            prev_id=prev_id,
            next_id=next_id,
            query=filter_query(f),
        )

    async def post_label(request: Request) -> Response:
        form: Any = await request.form()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                form = json.loads(await request.body())
            except ValueError:
                form = None
            if not isinstance(form, dict):
                return PlainTextResponse("the label body must be a JSON object", 400)
        run, task, model, ex_id = (str(form.get(k) or "") for k in ("run", "task", "model", "id"))
        if run not in store.runs or not store.exists(run, task, model, ex_id):
            return PlainTextResponse("unknown example: labels are only written for examples of the run", 400)
        try:
            append_label(
                store.runs[run].path,
                task=task,
                model=model,
                ex_id=ex_id,
                label=str(form.get("label") or ""),
                corrected=form.get("corrected") or None,
                note=str(form.get("note") or ""),
                who=reviewer,
            )
        except EvalstackError as exc:
            return PlainTextResponse(str(exc), 400)
        store.reload_labels()
        back = str(form.get("back") or "")
        if not back.startswith(base + "/") or "//" in back[len(base) :] or "\\" in back:
            back = f"{base}/e/{run}/{task}/{ex_id}"
        return RedirectResponse(back, status_code=303)

    async def api_examples(request: Request) -> Response:
        run, task = run_task(request)
        total, rows = store.list_examples(run, task, filters_from(request.query_params))
        return JSONResponse({"total": total, "rows": rows})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {"app.js": "text/javascript", "app.css": "text/css"}
        if name not in kinds:
            raise _NotFound()
        return Response((static / name).read_bytes(), media_type=kinds[name])

    routes = [
        Mount(
            base,
            routes=[
                Route("/", index),
                Route("/t/{run}/{task}", task_list),
                Route("/e/{run}/{task}/{ex_id:path}", example),
                Route("/label", post_label, methods=["POST"]),
                Route("/api/examples/{run}/{task}", api_examples),
                Route("/static/{name}", asset),
            ],
        )
    ]

    app = Starlette(routes=routes)
    inner = app.router

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        path = scope.get("path", "")
        ok_host = host in port_hosts if port_hosts else host.split(":")[0] in ("127.0.0.1", "localhost", "testserver")
        ok_token = path == base or path.startswith(base + "/")
        ok_token = ok_token and secrets.compare_digest(path[1 : 1 + len(token)].encode(), token.encode())
        if not (ok_host and ok_token):
            resp: Response = PlainTextResponse("forbidden: open the URL evalstack view printed", 403)
        else:
            try:
                await _with_headers(inner)(scope, receive, send)
                return
            except _NotFound:
                resp = PlainTextResponse("not found", 404)
        for k, v in _SECURITY_HEADERS.items():
            resp.headers[k] = v
        await resp(scope, receive, send)

    return guarded


_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _NotFound(Exception):
    pass


def _with_headers(app: Any) -> Any:
    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                hdrs = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode().lower() not in {h.lower() for h in _SECURITY_HEADERS}
                ]
                hdrs += [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
                message = {**message, "headers": hdrs}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped
