"""Throttling and fault injection for tests and benchmarks.

* TPS limits per tier, as the real service throttles: HTTP 429 with ``Retry-After`` and the
  gateway's error envelope.
* Fault injection at a given rate: 429, 503, a dropped connection (the response is cut off
  mid-body) or a slow answer.

Both are ASGI middleware and off by default; flags or environment variables turn them on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cvspec.emulator.limits import TierLimits

FAULT_KINDS = ("429", "503", "drop", "slow")
API_PREFIX = "/customvision/v"


class Stalls:
    """One-shot stalls armed by a test: the next request matching (method, path regex) hangs,
    unprocessed, for ``seconds`` and then fails with 503, so that a client can be killed at
    an exact point. With ``after``, the stall catches the first match that follows a request
    matching ``after`` (e.g. the naming of an iteration just after TrainProject)."""

    def __init__(self) -> None:
        self._armed: list[_Stall] = []
        self._hit = threading.Event()
        self._lock = threading.Lock()

    def arm(
        self,
        method: str,
        pattern: str,
        seconds: float = 30.0,
        after: tuple[str, str] | None = None,
    ) -> None:
        with self._lock:
            self._armed.append(_Stall(method.upper(), re.compile(pattern), seconds, after))
            self._hit.clear()

    def wait_hit(self, timeout: float) -> bool:
        """Wait until an armed stall caught a request."""
        return self._hit.wait(timeout)

    def take(self, method: str, path: str) -> float | None:
        with self._lock:
            for stall in self._armed:
                if stall.after is not None and not stall.primed:
                    m, pattern = stall.after
                    stall.primed = m.upper() == method and re.search(pattern, path) is not None
                elif stall.method == method and stall.pattern.search(path):
                    self._armed.remove(stall)
                    self._hit.set()
                    return stall.seconds
        return None


@dataclass
class _Stall:
    method: str
    pattern: re.Pattern[str]
    seconds: float
    after: tuple[str, str] | None
    primed: bool = False


@dataclass(frozen=True)
class FaultConfig:
    """Inject a fault into ``rate`` (0..1) of API requests, choosing among ``kinds``;
    ``stalls`` (tests only) hang chosen requests on demand."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1
    seed: int | None = None
    stalls: Stalls | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {self.rate}")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {', '.join(FAULT_KINDS)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> FaultConfig | None:
        """``CVSPEC_EMULATOR_FAULT_RATE`` (and optionally ``..._FAULT_KINDS`` csv,
        ``..._FAULT_SLOW_SECONDS``, ``..._FAULT_SEED``), or None when unset."""
        env = os.environ if environ is None else environ
        rate = env.get("CVSPEC_EMULATOR_FAULT_RATE")
        if not rate:
            return None
        kinds = env.get("CVSPEC_EMULATOR_FAULT_KINDS")
        seed = env.get("CVSPEC_EMULATOR_FAULT_SEED")
        return cls(
            rate=float(rate),
            kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else FAULT_KINDS,
            slow_seconds=float(env.get("CVSPEC_EMULATOR_FAULT_SLOW_SECONDS", "2.0")),
            seed=int(seed) if seed else None,
        )


@dataclass
class _Bucket:
    """A token bucket: ``rate`` tokens per second, burst of ``rate``."""

    rate: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.rate

    def take(self) -> bool:
        current = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (current - self.stamp) * self.rate)
        self.stamp = current
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """Per-operation-class TPS buckets for one tier."""

    def __init__(self, limits: TierLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def classify(self, method: str, path: str) -> tuple[str, float]:
        if "/prediction/" in path:
            if path.endswith("/nostore"):
                return "prediction-nostore", self.limits.tps_prediction_nostore
            return "prediction", self.limits.tps_prediction
        if method == "POST" and path.endswith("/train"):
            return "train", self.limits.tps_train_project
        return "training", self.limits.tps_training

    def allow(self, method: str, path: str) -> tuple[bool, str]:
        name, rate = self.classify(method, path)
        with self._lock:
            bucket = self._buckets.setdefault(name, _Bucket(rate))
            return bucket.take(), name


def _throttle_message(kind: str, tier: str) -> str:
    api = "Prediction" if kind.startswith("prediction") else "Training"
    return (
        f"Requests to the Custom_Vision_{api} Operation under Custom_Vision.{api} have "
        f"exceeded rate limit of your current Custom_Vision.{api} {tier} pricing tier. "
        "Please retry after 1 second. To increase your rate limit switch to a paid tier."
    )


class InjectedDrop(ConnectionAbortedError):
    """Raised to cut a response off mid-body (an injected dropped connection)."""


class _QuietInjectedDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))


class FaultMiddleware:
    """ASGI middleware applying the TPS limit and the fault injection to API paths."""

    def __init__(
        self, app: ASGIApp, limiter: RateLimiter | None, faults: FaultConfig | None
    ) -> None:
        self.app = app
        self.limiter = limiter
        self._random_lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: FaultConfig | None) -> None:
        """Set (or, with None, stop) the fault injection; a running server may change it."""
        with self._random_lock:
            self.faults = faults if faults and (faults.rate > 0 or faults.stalls) else None
            self._random = random.Random(faults.seed if faults else None)
        if self.faults is not None and "drop" in self.faults.kinds:
            logger = logging.getLogger("uvicorn.error")
            if not any(isinstance(f, _QuietInjectedDrops) for f in logger.filters):
                logger.addFilter(_QuietInjectedDrops())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.limiter is not None:
            allowed, kind = self.limiter.allow(scope["method"], scope["path"])
            if not allowed:
                message = _throttle_message(kind, self.limiter.limits.name)
                await _send_json(send, 429, _gateway(429, message), {"Retry-After": "1"})
                return
        stall = (
            self.faults.stalls.take(scope["method"], scope["path"])
            if self.faults and self.faults.stalls
            else None
        )
        if stall is not None:
            await asyncio.sleep(stall)
            await self._answer_fault("503", send)
            return
        fault = self._pick_fault()
        if fault is None or fault == "slow":
            if fault == "slow" and self.faults is not None:
                await asyncio.sleep(self.faults.slow_seconds)
            await self.app(scope, receive, send)
            return
        await self._answer_fault(fault, send)

    async def _answer_fault(self, fault: str, send: Send) -> None:
        if fault == "429":
            retry = str(self.faults.retry_after_seconds if self.faults else 1)
            message = "Rate limit is exceeded. Try again later."
            await _send_json(send, 429, _gateway(429, message), {"Retry-After": retry})
        elif fault == "503":
            body = {
                "code": "ErrorServerTimeOut",
                "message": "The service is temporarily unavailable.",
            }
            await _send_json(send, 503, body, {})
        elif fault == "drop":  # promise a body, send one byte of it, then hang up
            headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise InjectedDrop("cvspec emulator: injected dropped connection")

    def _pick_fault(self) -> str | None:
        if self.faults is None or self.faults.rate <= 0:
            return None
        with self._random_lock:
            if self._random.random() >= self.faults.rate:
                return None
            return self._random.choice(self.faults.kinds)


def _gateway(status: int, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": str(status), "message": message}}


async def _send_json(send: Send, status: int, body: object, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json; charset=utf-8")]
    raw_headers.append((b"content-length", str(len(payload)).encode()))
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    start: Message = {"type": "http.response.start", "status": status, "headers": raw_headers}
    await send(start)
    await send({"type": "http.response.body", "body": payload})
