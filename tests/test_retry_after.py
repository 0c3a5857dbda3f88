"""A 429 with `Retry-After: 1` (the emulator's fault injection): cvspec.sdk.call waits that
second, not its own short backoff, and holds every other caller of the endpoint for it
through the endpoint's shared rate limiter."""

from __future__ import annotations

import time
from pathlib import Path

from cvspec import sdk
from cvspec.emulator.faults import FaultConfig
from tests.apply_support import emulator


def test_retry_after_one_second_is_honoured_and_pauses_every_caller(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        client = emu.service.training
        project = sdk.call(client.create_project, "retry-after")
        notices: list[sdk.RetryNotice] = []
        held: list[float] = []

        def on_retry(notice: sdk.RetryNotice) -> None:
            notices.append(notice)
            emu.server.set_faults(None)  # one 429 only
            # another caller of the same endpoint, arriving during the pause, is held too
            held.append(policy.limiter.acquire())

        policy = sdk.configure(emu.service.endpoint, rate=1000, on_retry=on_retry)
        emu.server.set_faults(FaultConfig(rate=1.0, kinds=("429",), retry_after_seconds=1))
        started = time.monotonic()
        tags = sdk.call(client.get_tags, project.id)
        elapsed = time.monotonic() - started
        assert tags == []
        assert notices == [sdk.RetryNotice("get_tags", 1, "429", 1.0)]
        assert policy.stats.retries == {"429": 1}
        assert held and held[0] >= 0.5  # the pause started before the observer was told
        assert elapsed >= 1.0


def test_an_unreadable_or_zero_retry_after_falls_back_to_backoff(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        client = emu.service.training
        project = sdk.call(client.create_project, "retry-after-zero")
        notices: list[sdk.RetryNotice] = []

        def on_retry(notice: sdk.RetryNotice) -> None:
            notices.append(notice)
            emu.server.set_faults(None)

        policy = sdk.configure(emu.service.endpoint, rate=1000, on_retry=on_retry)
        emu.server.set_faults(FaultConfig(rate=1.0, kinds=("429",), retry_after_seconds=0))
        assert sdk.call(client.get_tags, project.id) == []
        (notice,) = notices
        # attempt 1's backoff: BACKOFF_BASE, with jitter between half and all of it
        assert sdk.BACKOFF_BASE / 2 <= notice.delay <= sdk.BACKOFF_BASE
        assert policy.limiter.acquire() == 0.0  # no pause for the others
