"""Refuse keys and SAS tokens written literally in a spec; they belong in the environment."""

from __future__ import annotations

import re
from typing import Any

from cvspec.spec.yamldoc import Loc, iter_strings

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[?&]sig=", re.IGNORECASE), "a SAS token (sig=)"),
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32}(?![0-9A-Fa-f])"), "a key (32 hex characters)"),
    (re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{84}(?![A-Za-z0-9])"), "a key (84 characters)"),
    (re.compile(r"AccountKey=|SharedAccessSignature=", re.IGNORECASE), "a connection string"),
)


def find_literal_credentials(data: Any) -> list[tuple[Loc, str]]:
    """Problems for every string value that looks like a key or a SAS token."""
    problems = []
    for loc, text in iter_strings(data):
        for pattern, what in _PATTERNS:
            if pattern.search(_without_references(text)):
                problems.append((loc, _message(what)))
                break
    return problems


def _without_references(text: str) -> str:
    # `${NAME}` is the way to pass a secret; only literal text counts.
    return re.sub(r"\$\{[^}]*\}", " ", text)


def _message(what: str) -> str:
    return (
        f"looks like {what} written literally; secrets must not be in a spec, "
        "put it in an environment variable and write ${VAR}"
    )
