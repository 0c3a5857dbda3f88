"""An opt-in log of the calls that change something: every POST, PATCH, PUT and DELETE that
reaches the Training or Prediction API (after throttling and fault injection, so a call the
emulator answered with an injected fault is not in it: it changed nothing).

Each entry names the call by its Swagger operationId (``CreateImagesFromFiles``), with its
path ids, query, a compact body (image contents replaced by their sha256) and the answer's
status and JSON. Tests use it to check that a client makes exactly the calls it promised
(tests/agreement.py). Off by default: ``EmulatorServer(record=True)`` turns it on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/customvision/v"
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MAX_BODY = 64 * 1024 * 1024  # bodies larger than this are recorded as their size only
# Endpoint function names whose operationId is not their CamelCase.
_OPERATION_IDS = {"create_images_from_data": "CreateImagesFromData", "detect": "DetectImage"}


@dataclass(frozen=True)
class RecordedCall:
    """One call that reached the service (the emulator's routes), as the service saw it."""

    seq: int
    method: str
    operation: str  # the Swagger operationId, e.g. "UpdateIteration"
    api: str  # "training" or "prediction"
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: Any  # JSON (image contents as {"sha256": ...}), or {"bytes": n, "sha256": ...}
    status: int
    response: Any  # the answer's JSON, or None

    def param(self, name: str) -> str | None:
        """A path or query parameter (query names compared case-insensitively)."""
        if name in self.path_params:
            return self.path_params[name]
        lowered = name.lower()
        return next((v for k, v in self.query.items() if k.lower() == lowered), None)

    def ids(self, name: str) -> list[str]:
        """A comma-separated id list of the query (imageIds, tagIds), lower-cased."""
        value = self.param(name) or ""
        return [part.strip().lower() for part in value.split(",") if part.strip()]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "operation": self.operation,
            "path_params": self.path_params,
            "query": self.query,
            "body": self.body,
            "status": self.status,
        }


@dataclass
class Recorder:
    """The log; thread-safe. `enabled` pauses recording without losing entries."""

    enabled: bool = True
    _calls: list[RecordedCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seq: int = 0

    def add(self, **entry: Any) -> None:
        with self._lock:
            self._seq += 1
            self._calls.append(RecordedCall(seq=self._seq, **entry))

    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def take(self) -> list[RecordedCall]:
        """Every call recorded so far; the log starts again empty."""
        with self._lock:
            taken, self._calls = self._calls, []
            return taken

    def clear(self) -> None:
        self.take()


class RecorderMiddleware:
    """ASGI middleware feeding a Recorder; `routes` name the operations."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], recorder: Recorder) -> None:
        self.app = app
        self.routes = routes
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING
            or not scope["path"].startswith(API_PREFIX)
            or not self.recorder.enabled
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = [0]
        answer: list[bytes] = []
        recorded = [False]

        def record() -> None:
            if not recorded[0]:
                recorded[0] = True
                self._record(scope, body, status[0], b"".join(answer))

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                if status[0] in (204, 304) or _empty(message):
                    record()  # the headers are the whole answer: the client has it on send
            elif message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    record()  # before the client has its answer: the log is never behind
            await send(message)

        try:
            await self.app(scope, replay, capture)
        finally:
            record()

    def _record(self, scope: Scope, body: bytes, status: int, answer: bytes) -> None:
        operation, params = self._operation(scope)
        path: str = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.recorder.add(
            method=scope["method"],
            operation=operation,
            api="prediction" if "/prediction/" in path else "training",
            path=path,
            path_params=params,
            query=query,
            body=_compact_body(body, headers.get("content-type", "")),
            status=status,
            response=_json(answer),
        )

    def _operation(self, scope: Scope) -> tuple[str, dict[str, str]]:
        for route in self.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                endpoint = getattr(route, "endpoint", None)
                name = getattr(endpoint, "__name__", "") or "unknown"
                params = {k: str(v) for k, v in child.get("path_params", {}).items()}
                return _operation_id(name), params
        return "Unknown", {}


def _empty(start: Message) -> bool:
    return any(k.lower() == b"content-length" and v == b"0" for k, v in start.get("headers", ()))


def _operation_id(function_name: str) -> str:
    if function_name in _OPERATION_IDS:
        return _OPERATION_IDS[function_name]
    return "".join(part.capitalize() for part in function_name.split("_"))


def _json(data: bytes) -> Any:
    if not data or len(data) > MAX_BODY:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _compact_body(body: bytes, content_type: str) -> Any:
    """JSON bodies with image contents replaced by their sha256; other bodies by size+hash."""
    if not body:
        return None
    if "json" in content_type:
        parsed = _json(body)
        if parsed is not None:
            return _hash_contents(parsed)
    return {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def _hash_contents(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _content_hash(v) if k == "contents" and isinstance(v, str) else _hash_contents(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hash_contents(v) for v in value]
    return value


def _content_hash(encoded: str) -> dict[str, Any]:
    try:
        data = base64.b64decode(encoded, validate=False)
    except (ValueError, binascii.Error):
        data = encoded.encode()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


__all__ = ["RecordedCall", "Recorder", "RecorderMiddleware"]
