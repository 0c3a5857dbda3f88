"""Resource Manager HTTP surface of the emulator (Microsoft.CognitiveServices accounts): HTTP
requests to cvspec.emulator.arm calls and back, behind a bearer-token check. The shapes are
those azure-mgmt-cognitiveservices reads (Account, ApiKeys, the ARM long-running-operation
headers and status body)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvspec.accounts import AccountId, normal_location
from cvspec.emulator.arm import Accounts, ArmError
from cvspec.emulator.http import call

PROVIDER = "/providers/Microsoft.CognitiveServices"
SUB = "/subscriptions/{subscription}"
GROUP = SUB + "/resourceGroups/{group}"
ACCOUNT = GROUP + PROVIDER + "/accounts/{name}"

Handler = Callable[[Request], Awaitable[Response]]


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def _where(request: Request) -> AccountId:
    p = request.path_params
    return AccountId(str(p["subscription"]), str(p["group"]), str(p["name"]))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _error(error: ArmError) -> Response:
    return _json(error.body(), error.status)


def authenticated(handler: Handler) -> Handler:
    """Bearer token check (the emulator's ARM token) and ArmError -> ARM error envelope."""

    async def wrapped(request: Request) -> Response:
        expected: str = request.app.state.arm_token
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
            return _error(
                ArmError(
                    401,
                    "AuthenticationFailed" if token else "AuthenticationFailedMissingToken",
                    "Authentication failed. The 'Authorization' header is missing or invalid.",
                )
            )
        try:
            return await handler(request)
        except ArmError as error:
            return _error(error)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ArmError(400, "InvalidRequestContent", "The request content is not JSON.") from None
    if not isinstance(value, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content is not an object.")
    return value


@authenticated
async def put_account(request: Request) -> Response:
    where = _where(request)
    body = await _body(request)
    accounts = accounts_of(request)
    view, operation = await call(accounts.create, where, body)
    if not operation:
        return _json(view)
    location = normal_location(view["location"])
    version = request.query_params.get("api-version", "")
    status_url = (
        f"{accounts.public_url}{SUB.format(subscription=where.subscription)}{PROVIDER}"
        f"/locations/{location}/operationResults/{operation}?api-version={version}"
    )
    return _json(view, 201, {"Azure-AsyncOperation": status_url, "Retry-After": "0"})


@authenticated
async def get_account(request: Request) -> Response:
    return _json(await call(accounts_of(request).get, _where(request)))


@authenticated
async def patch_account(request: Request) -> Response:
    body = await _body(request)
    return _json(await call(accounts_of(request).update, _where(request), body))


@authenticated
async def delete_account(request: Request) -> Response:
    deleted = await call(accounts_of(request).delete, _where(request))
    return Response(status_code=200 if deleted else 204)


@authenticated
async def list_keys(request: Request) -> Response:
    return _json(await call(accounts_of(request).list_keys, _where(request)))


@authenticated
async def regenerate_key(request: Request) -> Response:
    body = await _body(request)
    key_name = str(body.get("keyName") or "")
    return _json(await call(accounts_of(request).regenerate_key, _where(request), key_name))


@authenticated
async def list_accounts(request: Request) -> Response:
    p = request.path_params
    group = p.get("group")
    found = await call(
        accounts_of(request).list, str(p["subscription"]), None if group is None else str(group)
    )
    return _json({"value": found})


@authenticated
async def operation_status(request: Request) -> Response:
    operation = str(request.path_params["operation"])
    status = await call(accounts_of(request).finish, operation)
    if status is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{operation}' was not found.")
    return _json({"id": operation, "name": operation, "status": status})


ROUTES = [
    Route(ACCOUNT, put_account, methods=["PUT"]),
    Route(ACCOUNT, get_account, methods=["GET"]),
    Route(ACCOUNT, patch_account, methods=["PATCH"]),
    Route(ACCOUNT, delete_account, methods=["DELETE"]),
    Route(ACCOUNT + "/listKeys", list_keys, methods=["POST"]),
    Route(ACCOUNT + "/regenerateKey", regenerate_key, methods=["POST"]),
    Route(GROUP + PROVIDER + "/accounts", list_accounts, methods=["GET"]),
    Route(SUB + PROVIDER + "/accounts", list_accounts, methods=["GET"]),
    Route(
        SUB + PROVIDER + "/locations/{location}/operationResults/{operation}",
        operation_status,
        methods=["GET"],
    ),
]
