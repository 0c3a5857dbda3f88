"""Shared test configuration: cassette recording rules (pytest-recording / vcrpy).

Cassettes under tests/cassettes/ are replayed by default (pytest-recording's record mode is
`none`) with the network blocked for the tests that use them. When they are re-recorded
(tests/cassettes/README.md), every request and response passes through the scrubbers below:
the Training-Key and Prediction-Key headers are dropped and the service's address is
replaced by a placeholder host, so a cassette never holds a key or a real host name.

Property-based tests (hypothesis) run under one of two profiles, chosen by the environment
variable CVSPEC_HYPOTHESIS (docs/testing.md):

* `ci` (the default): derandomized, so every run tries the same examples and a failure in CI
  fails again on any machine; no example database, so a local `.hypothesis/` folder cannot
  make one run differ from another.
* `random`: a fresh random seed each run, to look for new failing examples on demand. A
  failure prints the seed (`--hypothesis-seed=N` replays the run) and a
  `@reproduce_failure(...)` line for the failing example.

A test's own `@settings(...)` still sets its example count and deadline; the profile decides
how examples are drawn.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import settings

HYPOTHESIS_PROFILES = ("ci", "random")
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("random", derandomize=False, database=None, print_blob=True)


def _hypothesis_profile() -> str:
    name = os.environ.get("CVSPEC_HYPOTHESIS", "ci") or "ci"
    if name not in HYPOTHESIS_PROFILES:
        raise pytest.UsageError(
            f"CVSPEC_HYPOTHESIS={name!r}: use one of {', '.join(HYPOTHESIS_PROFILES)}"
        )
    return name


# loaded before any test module is imported: their @settings inherit from the profile
settings.load_profile(_hypothesis_profile())

PLACEHOLDER = "https://emulator.invalid"
"""The service address in every cassette; replaying clients are pointed at it."""

SECRET_HEADERS = ("training-key", "prediction-key", "authorization", "ocp-apim-subscription-key")
NOISY_HEADERS = ("user-agent",)  # names the recording machine's kernel; not needed to replay
_ADDRESS = re.compile(rb"https?://(?:127\.0\.0\.1|localhost|\[::1\]|[\w.-]+\.azure\.com)(?::\d+)?")


def scrub_request(request: Any) -> Any:
    """Point a recorded request at the placeholder host (the keys go by filter_headers)."""
    parts = urlsplit(request.uri)
    target = urlsplit(PLACEHOLDER)
    request.uri = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Replace service addresses inside recorded bodies (image URIs) with the placeholder."""
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        response["body"]["string"] = _ADDRESS.sub(PLACEHOLDER.encode(), body)
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [*SECRET_HEADERS, *NOISY_HEADERS],
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "match_on": ("method", "scheme", "host", "port", "path", "query"),
    }
