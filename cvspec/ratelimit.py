"""A client-side rate limiter shared by every call to one service endpoint.

The service throttles each resource to a number of calls per second (S0: 10/s, see
docs/service-behavior §3) and answers 429 beyond it. cvspec keeps under that rate itself, so
that concurrent batches never trip the limit: a call may start only when fewer than `rate`
calls started within the last second (a token bucket whose tokens come back one window after
they were taken, i.e. no burst above the rate in any window). A small safety margin absorbs
network jitter between our clock and the service's. When a 429 does arrive, `pause()` holds
every caller for its Retry-After, because the limit is per resource, not per caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_RATE = 10.0  # S0 and F0: 10 calls per second for the Training API
SAFETY_MARGIN = 0.05  # the window is 5% longer than one second's worth of calls


class RateLimiter:
    """At most `rate` call starts per second, in any window, across all threads."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        margin: float = SAFETY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = rate
        self.slots = max(1, int(rate))  # calls allowed per window
        self.window = self.slots / rate * (1.0 + margin)  # seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self.waited = 0.0  # total seconds callers spent waiting, for statistics

    def acquire(self) -> float:
        """Block until a call may start; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                delay = self._delay(self._clock())
                if delay <= 0:
                    self._starts.append(self._clock())
                    self.waited += waited
                    return waited
            self._sleep(delay)
            waited += delay

    def _delay(self, now: float) -> float:
        while self._starts and self._starts[0] <= now - self.window:
            self._starts.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if len(self._starts) < self.slots:
            return 0.0
        return self._starts[0] + self.window - now

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (the service said so with a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class Unlimited(RateLimiter):
    """No limit (for callers that throttle elsewhere); pauses still apply."""

    def __init__(self) -> None:
        super().__init__(rate=1.0)

    def _delay(self, now: float) -> float:
        return max(0.0, self._paused_until - now)
