"""Prediction API v3.1: HTTP requests to backend calls and back. No business rules.

The prediction key resolves (in the auth middleware) to the prediction resource it
belongs to; only iterations published to that resource answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cvspec.emulator import exceptions as exc
from cvspec.emulator.http import (
    arg,
    backend_of,
    call,
    json_response,
    single_image,
)
from cvspec.emulator.validation import validated

PREFIX = "/customvision/v3.1/prediction"
C = PREFIX + "/{projectId}/classify/iterations/{publishedName}"
D = PREFIX + "/{projectId}/detect/iterations/{publishedName}"


def _resource(request: Request) -> str | None:
    resource: str | None = getattr(request.state, "prediction_resource", None)
    return resource


async def _classify_image(request: Request, store: bool) -> Response:
    data = await single_image(request)
    result = await call(
        backend_of(request).classify_image,
        arg(request, "projectId"),
        arg(request, "publishedName"),
        data,
        _resource(request),
        store,
        arg(request, "application"),
    )
    return json_response(result)


async def _classify_url(request: Request, store: bool) -> Response:
    result = await call(
        backend_of(request).classify_image_url,
        arg(request, "projectId"),
        arg(request, "publishedName"),
        arg(request, "imageUrl")["url"],
        _resource(request),
        store,
        arg(request, "application"),
    )
    return json_response(result)


async def classify_image(request: Request) -> Response:
    return await _classify_image(request, store=True)


async def classify_image_with_no_store(request: Request) -> Response:
    return await _classify_image(request, store=False)


async def classify_image_url(request: Request) -> Response:
    return await _classify_url(request, store=True)


async def classify_image_url_with_no_store(request: Request) -> Response:
    return await _classify_url(request, store=False)


async def detect(request: Request) -> Response:
    """Object detection: the published iteration (if any) is a classifier, so refuse."""
    raise exc.not_supported_for_classification("DetectImage")


ROUTES = [
    Route(C + "/image", classify_image, methods=["POST"]),
    Route(C + "/image/nostore", classify_image_with_no_store, methods=["POST"]),
    Route(C + "/url", classify_image_url, methods=["POST"]),
    Route(C + "/url/nostore", classify_image_url_with_no_store, methods=["POST"]),
    Route(D + "/image", detect, methods=["POST"]),
    Route(D + "/image/nostore", detect, methods=["POST"]),
    Route(D + "/url", detect, methods=["POST"]),
    Route(D + "/url/nostore", detect, methods=["POST"]),
]
ROUTES = validated(ROUTES, "prediction", PREFIX)
