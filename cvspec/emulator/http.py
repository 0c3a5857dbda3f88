"""HTTP plumbing shared by the route modules: the typed parameters that
cvspec.emulator.validation checked, image parts of uploads, writing JSON and service errors,
and the guard that turns an unexpected exception into the service's error envelope."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cvspec.emulator import exceptions as exc
from cvspec.emulator.backend import Backend
from cvspec.emulator.validation import args

LOG = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

MAX_MULTIPART_FILES = 1000
MAX_PART_BYTES = 64 * 1024 * 1024  # size limits are the service's, checked per image


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json; charset=utf-8",
    )


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking backend call off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def path(request: Request, name: str) -> str:
    return str(request.path_params[name])


def arg(request: Request, name: str, default: Any = None) -> Any:
    """A parameter of the request, checked and typed by cvspec.emulator.validation; absent
    (None) answers ``default``."""
    value = args(request).get(name)
    return default if value is None else value


async def image_files(request: Request) -> list[tuple[str, bytes]]:
    """Image parts of a multipart body (any field name; the SDK uses ``imageData``), or the
    whole body for ``application/octet-stream``."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(
            max_files=MAX_MULTIPART_FILES,
            max_fields=MAX_MULTIPART_FILES,
            max_part_size=MAX_PART_BYTES,
        )
        files: list[tuple[str, bytes]] = []
        for field, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((value.filename or field, await value.read()))
            elif isinstance(value, str) and value:
                files.append((field, value.encode("latin-1", errors="ignore")))
        await form.close()
        return files
    body = await request.body()
    return [("imageData", body)] if body else []


async def single_image(request: Request) -> bytes:
    files = await image_files(request)
    if not files or not files[0][1]:
        raise exc.bad_request("BadRequestImageStream", "No image data in the request.")
    return files[0][1]


# -- error handlers ----------------------------------------------------------------------


async def service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, exc.ServiceError)
    return JSONResponse(error.body(), status_code=error.status)


async def gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, exc.GatewayError)
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        body = {"code": "BadRequestNotSupported", "message": "The method is not supported."}
    elif error.status_code == 400:
        body = {"code": "BadRequestImageStream", "message": f"Invalid request body: {error.detail}"}
    elif error.status_code != 404:
        body = {"code": "BadRequest", "message": str(error.detail)}
    else:
        body = {"code": "NotFound", "message": f"Resource not found: {request.url.path}"}
    return JSONResponse(body, status_code=error.status_code)


INTERNAL_ERROR = {"code": "ErrorUnknown", "message": "An internal error occurred."}


class ErrorGuard:
    """Any exception a handler did not turn into a service error answers the service's
    envelope (500 ErrorUnknown, no Python text) and keeps the connection open: Starlette's
    own last-resort handler re-raises, and uvicorn then drops the keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            LOG.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            await JSONResponse(INTERNAL_ERROR, status_code=500)(scope, receive, send)
