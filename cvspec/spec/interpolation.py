"""`${VAR}` in spec values: replaced by environment variables before validation.

`${VAR}` is the variable's value (an error when unset), `${VAR:-default}` falls back to
`default`, and `$$` writes a literal `$`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cvspec.spec.yamldoc import Loc

_TOKEN = re.compile(r"\$\$|\$\{(?P<body>[^}]*)\}|\$\{")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)

Problem = tuple[Loc, str]


def interpolate(data: Any, environ: Mapping[str, str]) -> tuple[Any, list[Problem]]:
    """Replace `${VAR}` in every string value; return the new data and the problems."""
    problems: list[Problem] = []
    return _visit(data, (), environ, problems), problems


def _visit(data: Any, loc: Loc, environ: Mapping[str, str], problems: list[Problem]) -> Any:
    if isinstance(data, str):
        return _substitute(data, loc, environ, problems)
    if isinstance(data, dict):
        return {k: _visit(v, (*loc, k), environ, problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_visit(v, (*loc, i), environ, problems) for i, v in enumerate(data)]
    return data


def _substitute(text: str, loc: Loc, environ: Mapping[str, str], problems: list[Problem]) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = _BODY.fullmatch(match.group("body") or "")
        if body is None:
            problems.append((loc, f"malformed reference {match.group(0)!r}; write ${{NAME}}"))
            return match.group(0)
        value = environ.get(body["name"], body["default"])
        if value is None:
            problems.append((loc, f"environment variable {body['name']} is not set"))
            return match.group(0)
        return value

    return _TOKEN.sub(replace, text)
