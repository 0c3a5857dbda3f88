"""The hypothesis profile of the run (tests/conftest.py): derandomized unless
CVSPEC_HYPOTHESIS=random, so that a property test failing in CI fails again anywhere."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st


def _draws() -> list[int]:
    seen: list[int] = []

    @settings(max_examples=10)
    @given(st.integers())
    def record(n: int) -> None:
        seen.append(n)

    record()
    return seen


def test_the_profile_follows_cvspec_hypothesis() -> None:
    randomized = os.environ.get("CVSPEC_HYPOTHESIS") == "random"
    assert settings.default.derandomize is not randomized
    assert settings.default.database is None
    if not randomized:  # the same examples, run after run
        assert _draws() == _draws()
