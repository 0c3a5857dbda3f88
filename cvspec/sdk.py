"""Calling the SDK: service errors become ServiceError; transient failures are retried.

The SDK (msrest on urllib3 2.x) never retries POST or PATCH and retries 429 only with a
Retry-After header, so cvspec retries every method itself (see docs/service-behavior §11).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.exceptions import ClientRequestError, HttpOperationError

from cvspec.errors import ServiceError

T = TypeVar("T")

RETRIES = 6
_TRANSIENT = {408, 429, 500, 502, 503, 504}


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an SDK operation, retrying transient failures with backoff."""
    for attempt in range(RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except (CustomVisionErrorException, HttpOperationError) as exc:
            status = _status(exc)
            if status not in _TRANSIENT or attempt == RETRIES:
                raise _service_error(exc, status) from None
            time.sleep(_delay(attempt, exc))
        except ClientRequestError as exc:
            if attempt == RETRIES:
                raise ServiceError(f"cannot reach the service: {_reason(exc)}") from None
            time.sleep(_delay(attempt, None))
    raise AssertionError("unreachable")


def _status(exc: HttpOperationError) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _delay(attempt: int, exc: HttpOperationError | None) -> float:
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("Retry-After") if response is not None else None
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            pass
    return min(8.0, 0.2 * 2**attempt) * (0.5 + random.random() / 2)


def _service_error(exc: HttpOperationError, status: int | None) -> ServiceError:
    inner = getattr(exc, "inner_exception", None)
    code = getattr(inner, "code", None)
    message = getattr(inner, "message", None) or str(exc)
    if status == 401:
        message = "access denied: the key is invalid or does not belong to this endpoint"
    return ServiceError(f"{code}: {message}" if code else message, code=code, status=status)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
