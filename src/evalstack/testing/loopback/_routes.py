"""The loopback server's REST routes beside chat: models, Files, Batches and fine-tuning jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._finetune import FineTuning
from ._http import Request, Response, parse_multipart
from ._store import ApiError, Batches, Files


def route_request(
    req: Request, route: str, body: Any, models: Sequence[str], files: Files, batches: Batches, fine_tuning: FineTuning
) -> Response | dict:
    """Files, batches, fine-tuning and models routes (the app calls it under its state lock)."""
    method, parts = req.method, route.strip("/").split("/")
    head, n = parts[0], len(parts)
    if head == "models" and method == "GET":
        if n == 1:
            return {"object": "list", "data": [_model(m) for m in models]}
        if n == 2:
            if parts[1] not in models:
                raise ApiError(404, f"The model '{parts[1]}' does not exist", param="model", code="model_not_found")
            return _model(parts[1])
    if head == "files":
        if n == 1 and method == "POST":
            return _upload(req, files)
        if n == 1 and method == "GET":
            return files.listing(req.query)
        if n == 2 and method == "GET":
            return files.get(parts[1]).obj()
        if n == 2 and method == "DELETE":
            return files.delete(parts[1])
        if n == 3 and parts[2] == "content" and method == "GET":
            return Response(200, files.get(parts[1]).content, "application/octet-stream")
    if head == "batches":
        if n == 1:
            if method == "POST":
                return batches.create(body)
            if method == "GET":
                return batches.listing(req.query)
        if n == 2 and method == "GET":
            return batches.retrieve(parts[1])
        if n == 3 and parts[2] == "cancel" and method == "POST":
            return batches.cancel(parts[1])
    if parts[:2] == ["fine_tuning", "jobs"] and method == "GET":
        if n == 2:
            return fine_tuning.listing(req.query)
        if n == 3:
            return fine_tuning.retrieve(parts[2])
        if n == 4 and parts[3] == "checkpoints":
            return fine_tuning.list_checkpoints(parts[2], req.query)
        if n == 4 and parts[3] == "events":
            return fine_tuning.list_events(parts[2], req.query)
    raise ApiError(404, f"Invalid URL ({method} {req.path})")


def _upload(req: Request, files: Files) -> dict:
    try:
        parts = {p.name: p for p in parse_multipart(req.body, req.headers.get("content-type", ""))}
    except ValueError as exc:
        raise ApiError(400, f"Could not parse multipart form: {exc}.") from exc
    if "file" not in parts:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    if "purpose" not in parts:
        raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
    upload = parts["file"]
    return files.add(upload.data, upload.filename or "upload", parts["purpose"].data.decode()).obj()


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "loopback"}
