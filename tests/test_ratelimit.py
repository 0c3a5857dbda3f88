"""cvspec.ratelimit on a fake clock: exact start times at the window's boundary, the safety
margin, pauses (the longest wins), waiting statistics, and the Unlimited limiter."""

from __future__ import annotations

import pytest

from cvspec.ratelimit import DEFAULT_RATE, SAFETY_MARGIN, RateLimiter, Unlimited


class Clock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _limiter(rate: float, margin: float = 0.0) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(rate, margin=margin, clock=clock.time, sleep=clock.sleep), clock


def _starts(limiter: RateLimiter, clock: Clock, calls: int) -> list[float]:
    starts = []
    for _ in range(calls):
        limiter.acquire()
        starts.append(clock.now)
    return starts


def test_calls_start_in_whole_windows_and_a_slot_frees_exactly_one_window_later() -> None:
    limiter, clock = _limiter(2)
    assert _starts(limiter, clock, 7) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_acquire_returns_the_seconds_waited_and_the_limiter_sums_them() -> None:
    limiter, clock = _limiter(2)
    assert [limiter.acquire() for _ in range(4)] == [0.0, 0.0, 1.0, 0.0]
    assert limiter.waited == 1.0
    clock.now = 1.5  # half a window later: the slot of the call at 1.0 is still taken
    assert limiter.acquire() == 0.5
    assert limiter.waited == 1.5


def test_a_pause_arriving_during_a_wait_extends_it_and_both_waits_count() -> None:
    clock = Clock()
    limiter: RateLimiter

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 1:  # another caller got a 429 meanwhile
            limiter.pause(0.5)

    limiter = RateLimiter(1, margin=0.0, clock=clock.time, sleep=sleep)
    limiter.acquire()
    assert limiter.acquire() == 1.5 and clock.sleeps == [1.0, 0.5]
    assert limiter.waited == 1.5


def test_the_safety_margin_lengthens_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(4, clock=clock.time, sleep=clock.sleep)
    assert (DEFAULT_RATE, SAFETY_MARGIN) == (10.0, 0.05)
    assert limiter.slots == 4 and limiter.window == pytest.approx(1.05)
    assert _starts(limiter, clock, 5)[-1] == pytest.approx(1.05)


@pytest.mark.parametrize(
    ("rate", "slots", "window"),
    [(10, 10, 1.0), (2.5, 2, 0.8), (0.5, 1, 2.0), (1, 1, 1.0)],
)
def test_a_fractional_rate_takes_whole_slots_over_a_longer_or_shorter_window(
    rate: float, slots: int, window: float
) -> None:
    limiter, clock = _limiter(rate)
    assert (limiter.rate, limiter.slots, limiter.window) == (rate, slots, window)
    starts = _starts(limiter, clock, slots + 1)
    assert starts[:slots] == [0.0] * slots and starts[slots] == window


@pytest.mark.parametrize("rate", [0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match=f"rate must be positive, not {rate}"):
        RateLimiter(rate)


def test_a_pause_holds_callers_until_it_ends_and_the_longest_pause_wins() -> None:
    limiter, clock = _limiter(100)
    limiter.pause(2.0)
    limiter.pause(0.5)  # shorter: does not cut the first one
    assert limiter.acquire() == 2.0 and clock.now == 2.0
    assert limiter.acquire() == 0.0  # the pause is over
    clock.now = 3.0
    limiter.pause(1.0)
    clock.now = 3.25
    assert limiter.acquire() == 0.75


def test_unlimited_never_waits_but_honours_pauses() -> None:
    limiter = Unlimited()
    assert [limiter.acquire() for _ in range(1000)] == [0.0] * 1000
    limiter.pause(0.05)
    assert 0.03 < limiter.acquire() <= 0.05  # what was left of the pause when it asked
