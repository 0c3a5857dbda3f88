"""Calling the SDK: one rate limit and one retry policy per endpoint, for every HTTP method.

The SDK (msrest on urllib3 2.x) never retries POST or PATCH, retries 429 on GET/DELETE only
with a Retry-After header and turns 5xx on GET into a ClientRequestError that hides the status
(docs/service-behavior §11). So the first time `call` sees a client it switches the SDK's own
retries off, and from then on cvspec's policy is the only one:

* every call waits for the endpoint's shared RateLimiter (the tier's calls per second);
* 429 (honouring Retry-After, which also pauses every other caller), 408/5xx, timeouts and
  dropped connections are retried with exponential backoff and jitter;
* any other refusal becomes a ServiceError carrying the service's error code;
* an endpoint that has not answered yet and cannot be connected to (connection refused, host
  name not found, connection timed out) is a configuration error, not a hiccup: after
  UNREACHABLE_RETRIES quick retries it is one line, "cannot reach the Custom Vision endpoint
  https://host: connection refused", within about a second. Once the endpoint has answered,
  the same failures are transient and get the full retry budget.

Retried POSTs may have reached the service before the connection dropped, so every caller of
a non-idempotent operation must treat "already done" answers as success (see apply.py).
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.exceptions import ClientRequestError, DeserializationError, HttpOperationError

from cvspec.errors import ServiceError
from cvspec.ratelimit import DEFAULT_RATE, RateLimiter

T = TypeVar("T")

RETRIES = 8
UNREACHABLE_RETRIES = 2  # before the endpoint ever answered: a wrong endpoint fails fast
BACKOFF_BASE = 0.25  # seconds before the first retry without Retry-After
BACKOFF_MAX = 8.0
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSPORT_ERRORS = (
    ClientRequestError,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RetryNotice:
    """One retried call, for progress reporting."""

    operation: str
    attempt: int
    reason: str  # "429", "503", "connection", ...
    delay: float


@dataclass
class CallStats:
    """Counters over every call made through one policy (thread-safe)."""

    calls: Counter[str] = field(default_factory=Counter)  # attempts, by operation
    retries: Counter[str] = field(default_factory=Counter)  # by reason
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def retried(self, reason: str) -> None:
        with self._lock:
            self.retries[reason] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class Policy:
    """Rate limit, retry budget and statistics for one endpoint."""

    limiter: RateLimiter
    retries: int = RETRIES
    stats: CallStats = field(default_factory=CallStats)
    on_retry: Callable[[RetryNotice], None] | None = None
    reached: bool = False  # the endpoint has answered (anything) at least once


_policies: dict[str, Policy] = {}
_policies_lock = threading.Lock()


def policy_for(endpoint: str, kind: str = "training") -> Policy:
    """The policy of an endpoint's Training or Prediction API (each has its own limit),
    created with the default rate on first use."""
    key = f"{kind}:{endpoint.rstrip('/').lower()}"
    with _policies_lock:
        if key not in _policies:
            _policies[key] = Policy(limiter=RateLimiter(DEFAULT_RATE))
        return _policies[key]


def configure(
    endpoint: str,
    rate: float | None = None,
    retries: int | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
    kind: str = "training",
) -> Policy:
    """Set an endpoint's rate (calls/s), retry budget and retry observer; returns its policy.

    Statistics restart, so a caller can count the calls of one run.
    """
    policy = policy_for(endpoint, kind)
    if rate is not None:
        policy.limiter = RateLimiter(rate)
    if retries is not None:
        policy.retries = retries
    policy.on_retry = on_retry
    policy.stats = CallStats()
    return policy


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an SDK operation under its endpoint's rate limit, retrying transient failures."""
    client = getattr(fn, "__self__", None)
    endpoint = _endpoint(client)
    policy = policy_for(endpoint, _kind(client))
    _disable_sdk_retries(client)
    operation = getattr(fn, "__name__", "call")
    streams = _rewindable(args, kwargs)
    for attempt in range(policy.retries + 1):
        policy.limiter.acquire()
        policy.stats.count(operation)
        try:
            answer = fn(*args, **kwargs)
        except Exception as exc:  # classified by _retryable: retried or raised
            delay, reason = _retryable(exc, attempt, policy, endpoint)
        else:
            policy.reached = True
            return answer
        policy.stats.retried(reason)
        if policy.on_retry is not None:
            policy.on_retry(RetryNotice(operation, attempt + 1, reason, delay))
        time.sleep(delay)
        for stream, position in streams:
            stream.seek(position)
    raise AssertionError("unreachable")


def _retryable(
    exc: Exception, attempt: int, policy: Policy, endpoint: str = ""
) -> tuple[float, str]:
    """(delay, reason) for a failure worth retrying; raise ServiceError for any other."""
    last = attempt == policy.retries
    if isinstance(exc, CustomVisionErrorException | HttpOperationError):
        policy.reached = True
        status = _status(exc)
        if status not in TRANSIENT_STATUS or last:
            raise _service_error(exc, status) from None
        return _delay(attempt, exc, policy), str(status)
    if isinstance(exc, DeserializationError):  # a body cut off mid-way
        if last:
            raise ServiceError(f"unreadable answer from the service: {_reason(exc)}") from None
        return _backoff(attempt), "truncated"
    if isinstance(exc, _TRANSPORT_ERRORS):
        why = unreachable_reason(exc)
        if last or (why and not policy.reached and attempt >= UNREACHABLE_RETRIES):
            where = _origin(endpoint)
            raise ServiceError(
                f"cannot reach the Custom Vision endpoint{' ' + where if where else ''}: "
                f"{why or transport_reason(exc)}"
            ) from None
        return _backoff(attempt), "connection"
    raise exc


def unreachable_reason(exc: BaseException) -> str | None:
    """Why no connection could be made, in a few words ("connection refused", "host name
    not found"), or None when the failure came after connecting (or is not recognised)."""
    for cause in _causes(exc):
        if isinstance(cause, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return "host name not found (DNS)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    for cause in _causes(exc):
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return _first_line(str(cause).rpartition(": ")[2]) or "cannot connect"
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError | socket.timeout):
            return "connection timed out"
    return None


_DROPPED = (
    ConnectionResetError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ChunkedEncodingError,
)


def transport_reason(exc: BaseException) -> str:
    """A transport failure in a few words, not urllib3's repr of its connection pool."""
    why = unreachable_reason(exc)
    if why:
        return why
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError | requests.exceptions.SSLError):
            return "TLS/SSL error"
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | requests.exceptions.ReadTimeout):
            return "no answer in time (read timed out)"
        if isinstance(cause, _DROPPED):
            return "the connection was dropped"
    return _reason(exc)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception behind it (msrest, requests and urllib3 wrap each other)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack += [getattr(item, "inner_exception", None), getattr(item, "reason", None)]
        stack += [item.__cause__, item.__context__, *item.args]


def _origin(endpoint: str) -> str:
    """`https://host[:port]` of an endpoint URL (no path, nothing secret)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else endpoint


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip(" )\"'") if text.strip() else ""


def _kind(client: Any) -> str:
    return "prediction" if "Prediction" in type(client).__name__ else "training"


def _endpoint(client: Any) -> str:
    config = getattr(client, "config", None)
    return str(getattr(config, "endpoint", "") or "")


def _disable_sdk_retries(client: Any) -> None:
    """Make cvspec's policy the only one: no urllib3 retries, statuses reach the SDK."""
    config = getattr(client, "config", None)
    retry_policy = getattr(config, "retry_policy", None)
    if config is None or retry_policy is None or getattr(config, "_cvspec_retries_off", False):
        return
    retry_policy.retries = 0
    retry_policy.policy.status_forcelist = frozenset()
    retry_policy.policy.raise_on_status = False
    retry_policy.policy.respect_retry_after_header = False
    config._cvspec_retries_off = True


def _rewindable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[Any, int]]:
    """File-like arguments and their positions, to resend the same bytes on a retry."""
    found = []
    for value in (*args, *kwargs.values()):
        if hasattr(value, "seek") and hasattr(value, "tell") and hasattr(value, "read"):
            found.append((value, value.tell()))
    return found


def _status(exc: HttpOperationError) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _delay(attempt: int, exc: HttpOperationError, policy: Policy) -> float:
    """Retry-After when the service gives one (and then every caller waits), else backoff."""
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("Retry-After") if response is not None else None
    if retry_after:
        try:
            seconds = max(0.0, float(retry_after))
        except ValueError:
            seconds = 0.0
        if seconds:
            policy.limiter.pause(seconds)
            return seconds
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2)


def _service_error(exc: HttpOperationError, status: int | None) -> ServiceError:
    inner = getattr(exc, "inner_exception", None)
    code = getattr(inner, "code", None)
    message = getattr(inner, "message", None) or str(exc)
    if status == 401:
        message = "access denied: the key is invalid or does not belong to this endpoint"
    return ServiceError(f"{code}: {message}" if code else message, code=code, status=status)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
