"""A small HTTP/1.1 server layer on asyncio streams for the loopback server.

Just enough of HTTP/1.1 for API clients: keep-alive, pipelined requests handled in order,
``Content-Length`` and chunked request bodies, ``Expect: 100-continue``, and multipart/form-data
parsing for uploads. Responses always carry ``Content-Length``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 512 * 1024 * 1024


class BadRequest(Exception):
    """The bytes on the wire are not a request we can parse; answered with 400 and a closed socket."""


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    """Upper-case method, e.g. ``POST``."""
    path: str
    """Percent-decoded path without the query string, e.g. ``/v1/chat/completions``."""
    query: dict[str, str]
    """Query parameters (the last value wins for repeated names)."""
    headers: dict[str, str]
    """Header names in lower case; repeated headers joined with ``", "``."""
    body: bytes
    """The raw request body (de-chunked)."""
    keep_alive: bool = True
    """Whether the connection stays open after the response."""

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)


@dataclass
class Response:
    """A response to write; ``body`` bytes are sent with a Content-Length."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        return cls(status, body, "application/json", dict(headers or {}))


class Drop(Exception):
    """Raised by a handler to close the connection without writing any response."""


Handler = Callable[[Request], Awaitable[Response]]


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")


def encode_response(resp: Response, keep_alive: bool) -> bytes:
    """The bytes of ``resp`` on the wire."""
    lines = [
        _status_line(resp.status),
        b"content-type: ",
        resp.content_type.encode("latin-1"),
        b"\r\n",
        b"content-length: ",
        str(len(resp.body)).encode("ascii"),
        b"\r\n",
    ]
    for name, value in resp.headers.items():
        lines += [name.encode("latin-1"), b": ", str(value).encode("latin-1"), b"\r\n"]
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines += [b"\r\n", resp.body]
    return b"".join(lines)


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str], str]:
    """Parse the request line and headers: (method, path, query, headers, http_version)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(str(exc)) from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raw_path, _, raw_query = target.partition("?")
    query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
    return method.upper(), unquote(raw_path), query, headers, version


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadRequest(f"bad chunk size {size_line!r}") from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise BadRequest("request body too large")
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest("chunk not terminated by CRLF")


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """Read one request from the stream; None when the peer closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest("connection closed inside the request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too large") from exc
    method, path, query, headers, version = parse_head(head[:-4])
    conn = headers.get("connection", "").lower()
    keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise BadRequest("bad content-length") from exc
        if length < 0 or length > MAX_BODY_BYTES:
            raise BadRequest("bad content-length")
        body = await reader.readexactly(length) if length else b""
    return Request(method, path, query, headers, body, keep_alive)


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    """Serve requests on one connection until the peer closes it, asks to close, or a handler drops it."""
    try:
        while True:
            try:
                request = await read_request(reader, writer)
            except BadRequest as exc:
                error = {
                    "error": {
                        "message": f"Bad request: {exc}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                }
                writer.write(encode_response(Response.json(error, 400), keep_alive=False))
                await writer.drain()
                return
            except asyncio.IncompleteReadError:
                return
            if request is None:
                return
            try:
                response = await handler(request)
            except Drop:
                transport = writer.transport
                if transport is not None:
                    transport.abort()
                return
            writer.write(encode_response(response, request.keep_alive))
            await writer.drain()
            if not request.keep_alive:
                return
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # pragma: no cover - closing an already broken transport
            pass


@dataclass
class FormPart:
    """One part of a multipart/form-data body."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``form-data; name="file"; filename="a.jsonl"`` into its value and parameters."""
    items = [item.strip() for item in value.split(";")]
    params: dict[str, str] = {}
    for item in items[1:]:
        key, sep, val = item.partition("=")
        if sep:
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1].replace('\\"', '"')
            params[key.strip().lower()] = val
    return items[0].lower(), params


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """Parse a multipart/form-data body; raises ``ValueError`` with the reason when it is malformed."""
    kind, params = _header_params(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise ValueError("expected a multipart/form-data body with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3:
        raise ValueError("multipart body has no parts")
    parts: list[FormPart] = []
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        if not section.startswith(b"\r\n"):
            raise ValueError("malformed multipart boundary line")
        head, sep, data = section[2:].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without a header block")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        _, disposition = _header_params(headers.get("content-disposition", ""))
        if "name" not in disposition:
            raise ValueError("multipart part without a name")
        parts.append(FormPart(disposition["name"], data, disposition.get("filename"), headers.get("content-type")))
    return parts
