"""Key checks, as the API gateway does them: ``Training-Key`` for the Training API and
``Prediction-Key`` for the Prediction API (header names are case-insensitive). A wrong or
missing key gets the gateway's 401 envelope."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cvspec.emulator.backend import Backend
from cvspec.emulator.exceptions import unauthorized

TRAINING_MARK = "/training"
PREDICTION_MARK = "/prediction"


class KeyMiddleware:
    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith("/customvision/v")
            or (scope.get("state") or {}).get("account")  # checked per account (accounts_auth)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        api = path.split("/")[3] if path.count("/") >= 3 else ""
        if api == "training":
            key = headers.get("training-key")
            if not key or key != self.backend.training_key():
                await deny(send)
                return
        elif api == "prediction":
            key = headers.get("prediction-key")
            resource = self.backend.prediction_resource_for_key(key) if key else None
            if resource is None:
                await deny(send)
                return
            scope.setdefault("state", {})["prediction_resource"] = resource
        await self.app(scope, receive, send)


async def deny(send: Send) -> None:
    error = unauthorized()
    payload = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
