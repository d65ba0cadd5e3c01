"""In-memory Files and Batches state of the loopback server, shaped as the real API returns it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Complete = Callable[[dict], "tuple[int, dict]"]
"""Runs one chat-completion request body through the server's reply logic: (status, body)."""


class ApiError(Exception):
    """An API error answered in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        etype: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.etype = status, message, param, code, etype

    def body(self) -> dict:
        """The JSON error body."""
        return {"error": {"message": self.message, "type": self.etype, "param": self.param, "code": self.code}}


def new_id(prefix: str) -> str:
    """A fresh id in the real API's style, e.g. ``file-1f3a...``."""
    return prefix + uuid.uuid4().hex[:24]


def paginate(items: list[dict], query: Mapping[str, str], default_limit: int = 20) -> dict:
    """A cursor page (``limit``, ``after``) of ``items`` in the real list shape."""
    try:
        limit = max(1, min(int(query.get("limit", default_limit)), 10_000))
    except ValueError as exc:
        raise ApiError(400, f"Invalid 'limit': {query.get('limit')!r} is not an integer.", param="limit") from exc
    start = 0
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "has_more": start + limit < len(items),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


@dataclass
class StoredFile:
    """One uploaded or generated file."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def obj(self) -> dict:
        """The ``file`` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


class Files:
    """The Files API: upload, retrieve, content, list, delete."""

    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}

    def add(self, content: bytes, filename: str, purpose: str) -> StoredFile:
        """Store a file and return it."""
        stored = StoredFile(new_id("file-"), filename, purpose, content)
        self.files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        """The file, or a 404 ApiError."""
        if file_id not in self.files:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return self.files[file_id]

    def listing(self, query: Mapping[str, str]) -> dict:
        """``GET /files``: newest first, optionally filtered by ``purpose``."""
        items = [
            f.obj() for f in reversed(self.files.values()) if not query.get("purpose") or f.purpose == query["purpose"]
        ]
        return paginate(items, query, default_limit=10_000)

    def delete(self, file_id: str) -> dict:
        """``DELETE /files/{id}``."""
        self.get(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}


@dataclass
class BatchPlan:
    """How the next batches behave: how long each stage lasts and how they end.

    A stage (validating, then in_progress) lasts until the batch has been retrieved
    ``polls_per_stage`` times in it *and* ``seconds_per_stage`` have passed; 0 and 0 finish a batch
    at its first retrieve.
    """

    polls_per_stage: int = 1
    """Retrieves spent in each of validating and in_progress."""
    seconds_per_stage: float = 0.0
    """Minimum seconds spent in each of validating and in_progress."""
    outcome: Literal["completed", "expired", "failed"] = "completed"
    """``expired``: lines after ``expire_after`` get ``batch_expired`` errors; ``failed``: fails validation."""
    expire_after: int | None = None
    """With outcome ``expired``: how many lines finish before expiry (default: half)."""
    fail_custom_ids: frozenset[str] = frozenset()
    """Lines with these custom_ids get a 500 server error (in the error file)."""


_STAGES = ("validating", "in_progress", "finalizing")


@dataclass
class _Batch:
    obj: dict
    plan: BatchPlan
    lines: list[dict] = field(default_factory=list)
    polls: int = 0
    stage_started: float = field(default_factory=time.monotonic)


class Batches:
    """The Batches API on top of :class:`Files`; lines run through the server's chat reply logic."""

    def __init__(self, files: Files, complete: Complete) -> None:
        self.files = files
        self.complete = complete
        self.plan = BatchPlan()
        self.batches: dict[str, _Batch] = {}

    def create(self, body: Any) -> dict:
        """``POST /batches``."""
        if not isinstance(body, dict):
            raise ApiError(400, "The body must be a JSON object.")
        for key in ("input_file_id", "endpoint", "completion_window"):
            if not body.get(key):
                raise ApiError(
                    400, f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter"
                )
        if body["endpoint"] not in ("/v1/chat/completions", "/chat/completions"):  # OpenAI's, Azure's
            raise ApiError(
                400,
                f"Invalid 'endpoint': {body['endpoint']!r}; the loopback server runs chat-completion batches only.",
                param="endpoint",
            )
        if body["completion_window"] != "24h":
            raise ApiError(400, "Invalid 'completion_window': only '24h' is supported.", param="completion_window")
        stored = self.files.files.get(body["input_file_id"])
        if stored is None:
            raise ApiError(
                400, f"Invalid 'input_file_id': '{body['input_file_id']}'. No such file.", param="input_file_id"
            )
        if stored.purpose != "batch":
            raise ApiError(
                400,
                f"Invalid 'input_file_id': file purpose is '{stored.purpose}', expected 'batch'.",
                param="input_file_id",
            )
        now = int(time.time())
        obj = {
            "id": new_id("batch_"),
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": stored.id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
            "model": None,
            "usage": None,
        }
        self.batches[obj["id"]] = _Batch(obj, self.plan)
        return dict(obj)

    def _get(self, batch_id: str) -> _Batch:
        if batch_id not in self.batches:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        return self.batches[batch_id]

    def retrieve(self, batch_id: str) -> dict:
        """``GET /batches/{id}``: each call is a poll that may move the batch to its next stage."""
        batch = self._get(batch_id)
        batch.polls += 1
        self._advance(batch)
        return dict(batch.obj)

    def cancel(self, batch_id: str) -> dict:
        """``POST /batches/{id}/cancel``: cancelling now, cancelled at the next retrieve."""
        batch = self._get(batch_id)
        if batch.obj["status"] not in ("validating", "in_progress"):
            raise ApiError(400, f"Cannot cancel a batch with status '{batch.obj['status']}'.")
        batch.obj.update(status="cancelling", cancelling_at=int(time.time()))
        return dict(batch.obj)

    def listing(self, query: Mapping[str, str]) -> dict:
        """``GET /batches``: newest first, without advancing any batch."""
        return paginate([dict(b.obj) for b in reversed(self.batches.values())], query)

    def _advance(self, batch: _Batch) -> None:
        obj, plan = batch.obj, batch.plan
        if obj["status"] == "cancelling":
            obj.update(status="cancelled", cancelled_at=int(time.time()))
            return
        while obj["status"] in ("validating", "in_progress"):
            polls_done = batch.polls >= plan.polls_per_stage
            time_done = time.monotonic() - batch.stage_started >= plan.seconds_per_stage
            if not (polls_done and time_done):
                return
            batch.polls, batch.stage_started = 0, time.monotonic()
            if obj["status"] == "validating":
                self._validate(batch)
            else:
                self._finish(batch)

    def _validate(self, batch: _Batch) -> None:
        obj = batch.obj
        errors = _parse_lines(self.files.files[obj["input_file_id"]].content, obj["endpoint"], batch.lines)
        if batch.plan.outcome == "failed" and not errors:
            errors = [
                {
                    "code": "invalid_request",
                    "message": "Batch failed (loopback BatchPlan outcome).",
                    "param": None,
                    "line": None,
                }
            ]
        now = int(time.time())
        if errors:
            obj.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
            return
        obj.update(
            status="in_progress",
            in_progress_at=now,
            model=batch.lines[0]["body"].get("model"),
            request_counts={"total": len(batch.lines), "completed": 0, "failed": 0},
        )

    def _finish(self, batch: _Batch) -> None:
        obj, plan = batch.obj, batch.plan
        expire_at = len(batch.lines)
        if plan.outcome == "expired":
            expire_at = plan.expire_after if plan.expire_after is not None else len(batch.lines) // 2
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        usage = {
            "input_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        }
        for i, line in enumerate(batch.lines):
            result: dict[str, Any] = {"id": new_id("batch_req_"), "custom_id": line["custom_id"]}
            if i >= expire_at:
                errors.append(
                    {
                        **result,
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired.",
                        },
                    }
                )
                continue
            if line["custom_id"] in plan.fail_custom_ids:
                status, body = (
                    500,
                    ApiError(500, "The server had an error processing this request.", etype="server_error").body(),
                )
            else:
                status, body = self.complete(line["body"])
            result.update(response={"status_code": status, "request_id": new_id("req_"), "body": body}, error=None)
            (outputs if status == 200 else errors).append(result)
            if status == 200:
                u = body.get("usage") or {}
                usage["input_tokens"] += u.get("prompt_tokens", 0)
                usage["output_tokens"] += u.get("completion_tokens", 0)
                usage["total_tokens"] += u.get("total_tokens", 0)
        now = int(time.time())
        final = "expired" if plan.outcome == "expired" else "completed"
        obj.update(
            status=final,
            finalizing_at=now,
            usage=usage,
            request_counts={"total": len(batch.lines), "completed": len(outputs), "failed": len(errors)},
            **{"expired_at" if final == "expired" else "completed_at": now},
        )
        for key, rows in (("output_file_id", outputs), ("error_file_id", errors)):
            if rows:
                data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")
                obj[key] = self.files.add(data, f"{obj['id']}_{key[:-8]}.jsonl", "batch_output").id


def _parse_lines(content: bytes, endpoint: str, out: list[dict]) -> list[dict]:
    """Parse batch input JSONL into ``out``; returns the validation errors (real API codes)."""
    errors: list[dict] = []
    seen: set[str] = set()

    def error(code: str, message: str, line: int | None, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": line})

    text = content.decode("utf-8", "replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            error("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        if not isinstance(item, dict) or not all(k in item for k in ("custom_id", "method", "url", "body")):
            error("missing_required_parameter", "Each line needs 'custom_id', 'method', 'url' and 'body'.", number)
            continue
        if item["url"] != endpoint:
            error(
                "mismatched_endpoint",
                f"The line's url {item['url']!r} does not match the batch endpoint {endpoint!r}.",
                number,
                "url",
            )
        elif item["custom_id"] in seen:
            error(
                "duplicate_custom_id",
                f"The custom_id {item['custom_id']!r} is used more than once.",
                number,
                "custom_id",
            )
        seen.add(item["custom_id"])
        out.append(item)
    if not out and not errors:
        error("empty_file", "The input file has no requests.", None)
    return errors
