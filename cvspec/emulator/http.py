"""HTTP plumbing shared by the route modules: reading query parameters and bodies the way
the SDK sends them, and writing JSON and service errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cvspec.emulator import exceptions as exc
from cvspec.emulator.backend import Backend
from cvspec.emulator.core import parse_ids

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


def query(request: Request, name: str) -> str | None:
    """A query parameter by its exact name, else case-insensitively."""
    params = request.query_params
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def query_ids(request: Request, name: str) -> list[str]:
    return parse_ids(query(request, name))


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = query(request, name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise exc.bad_request("BadRequestInvalid", f"'{value}' is not a valid value for {name}.")


def query_int(request: Request, name: str, default: int) -> int:
    value = query(request, name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise exc.bad_request(
            "BadRequestInvalid", f"'{value}' is not a valid value for {name}."
        ) from None


def query_float(request: Request, name: str, default: float) -> float:
    value = query(request, name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise exc.bad_request(
            "BadRequestInvalid", f"'{value}' is not a valid value for {name}."
        ) from None


async def json_body(request: Request, required: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise exc.bad_request("BadRequestRequiredParamIsNull", "A request body is required.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise exc.bad_request("BadRequestInvalid", "The request body is not valid JSON.") from None


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


async def unexpected_error(request: Request, error: Exception) -> Response:
    return JSONResponse(
        {"code": "ErrorUnknown", "message": f"Internal error: {type(error).__name__}: {error}"},
        status_code=500,
    )
