"""The ASGI application: Training and Prediction routes, the image/model download routes
that the emulator's URIs point at, error handlers, key checks, throttling and faults."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from cvspec.emulator import arm_routes, prediction_routes, training_routes
from cvspec.emulator import exceptions as exc
from cvspec.emulator.accounts_auth import AccountMiddleware
from cvspec.emulator.auth import KeyMiddleware
from cvspec.emulator.backend import Backend
from cvspec.emulator.faults import FaultConfig, FaultMiddleware, RateLimiter
from cvspec.emulator.http import (
    ErrorGuard,
    backend_of,
    call,
    gateway_error,
    http_error,
    path,
    service_error,
)
from cvspec.emulator.imaging import RESIZED_SIDE, THUMBNAIL_SIDE, rendition
from cvspec.emulator.recorder import Recorder, RecorderMiddleware

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


def _media_type(data: bytes) -> str:
    return next(
        (kind for magic, kind in _MAGIC if data.startswith(magic)), "application/octet-stream"
    )


async def image_download(request: Request) -> Response:
    """``o-<id>`` the original, ``i-<id>`` resized, ``t-<id>`` a thumbnail."""
    kind, _, image_id = path(request, "name").partition("-")
    data = await call(backend_of(request).image_bytes, path(request, "projectId"), image_id)
    side = {"t": THUMBNAIL_SIDE, "i": RESIZED_SIDE}.get(kind)
    if side is not None:
        data = await call(rendition, data, side)
    return Response(data, media_type=_media_type(data))


async def prediction_download(request: Request) -> Response:
    data = await call(
        backend_of(request).prediction_bytes,
        path(request, "projectId"),
        path(request, "predictionId"),
    )
    return Response(data, media_type=_media_type(data))


async def model_download(request: Request) -> Response:
    """An exported model (ExportIteration's downloadUri): a zip archive, as the service's."""
    data = await call(
        backend_of(request).model_package,
        path(request, "iterationId"),
        request.query_params.get("platform"),
    )
    return Response(data, media_type="application/zip")


DOWNLOAD_ROUTES = [
    Route("/customvision/emulator/images/{projectId}/{name}", image_download, methods=["GET"]),
    Route(
        "/customvision/emulator/predictions/{projectId}/{predictionId}",
        prediction_download,
        methods=["GET"],
    ),
    Route("/customvision/emulator/models/{iterationId}", model_download, methods=["GET"]),
]


# Older API versions that share v3.4-preview's and v3.1's paths and shapes, so programs
# built on older SDKs (other languages included) work too.
OLDER_TRAINING = ("v3.0", "v3.1", "v3.2", "v3.3")
OLDER_PREDICTION = ("v3.0",)


def _aliases(routes: list[Route], current: str, older: tuple[str, ...]) -> list[Route]:
    return [
        Route(
            route.path.replace(f"/{current}/", f"/{version}/", 1),
            route.endpoint,
            methods=sorted((route.methods or set()) - {"HEAD"}),
        )
        for version in older
        for route in routes
    ]


def create_app(
    backend: Backend,
    tps_limit: bool = False,
    faults: FaultConfig | None = None,
    recorder: Recorder | None = None,
    arm_token: str = "",
) -> ASGIApp:
    """The emulator as an ASGI app over ``backend``; `recorder` (off by default) logs every
    call that reaches the service and changes something (cvspec.emulator.recorder).
    Resource Manager's accounts (arm_routes.py) answer bearer `arm_token`; each account's own
    Custom Vision endpoint is under ``/accounts/NAME/`` (accounts_auth.py)."""
    app = Starlette(
        routes=[
            *training_routes.ROUTES,
            *prediction_routes.ROUTES,
            *DOWNLOAD_ROUTES,
            *arm_routes.ROUTES,
            *_aliases(training_routes.ROUTES, "v3.4-preview", OLDER_TRAINING),
            *_aliases(prediction_routes.ROUTES, "v3.1", OLDER_PREDICTION),
        ],
        middleware=[Middleware(ErrorGuard)],
        exception_handlers={
            exc.ServiceError: service_error,
            exc.GatewayError: gateway_error,
            HTTPException: http_error,
        },
    )
    app.state.backend = backend
    app.state.accounts = backend.accounts
    app.state.arm_token = arm_token
    limiter = RateLimiter(backend.limits) if tps_limit else None
    keyed: ASGIApp = KeyMiddleware(app, backend)
    if recorder is not None:  # behind the faults: an injected fault changes nothing
        keyed = RecorderMiddleware(keyed, app.routes, recorder)
    return AccountMiddleware(FaultMiddleware(keyed, limiter, faults), backend.accounts)
