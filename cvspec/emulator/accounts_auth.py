"""Per-account Custom Vision endpoints: ``/accounts/{name}/customvision/...`` is the account's
own endpoint. The account must serve the API (Training: CustomVision.Training or
CognitiveServices; Prediction: CustomVision.Prediction or CognitiveServices) and the request
must carry one of its two keys (``Training-Key`` / ``Prediction-Key``); otherwise the
gateway's 401. The prefix is then stripped and the request goes on as the emulator's own,
marked with the account (cvspec.emulator.auth skips its global key check for it)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cvspec.emulator.arm import Account, Accounts
from cvspec.emulator.auth import deny

PREFIX = "/accounts/"


class AccountMiddleware:
    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name, _, rest = path[len(PREFIX) :].partition("/")
        account = await run_in_threadpool(self.accounts.by_name, name)
        api = (
            rest.split("/")[2] if rest.startswith("customvision/v") and rest.count("/") >= 2 else ""
        )
        if account is None or not _allowed(account, api, Headers(scope=scope)):
            await deny(send)
            return
        inner = dict(scope)
        inner["path"] = "/" + rest
        inner["raw_path"] = inner["path"].encode()
        state = dict(scope.get("state") or {})
        state["account"] = account.name
        if api == "prediction":
            state["prediction_resource"] = account.arm_id
        inner["state"] = state
        await self.app(inner, receive, send)


def _allowed(account: Account, api: str, headers: Headers) -> bool:
    if api == "training":
        return account.trains and account.has_key(headers.get("training-key"))
    if api == "prediction":
        return account.predicts and account.has_key(headers.get("prediction-key"))
    return False
