"""Globs of the spec (`*`, `?`, `**`, `[...]`, `{tag}`) as regular expressions."""

from __future__ import annotations

import re

_EXTENSION = re.compile(r"\.([A-Za-z0-9]+)$")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob: `**` spans directories, `*` and `?` do not, `{tag}` is captured."""
    out, i = [], 0
    while i < len(pattern):
        token, i = _glob_token(pattern, i)
        out.append(token)
    return re.compile("".join(out))


def _glob_token(pattern: str, i: int) -> tuple[str, int]:
    rest = pattern[i:]
    for literal, regex in (("**/", "(?:[^/]+/)*"), ("**", ".*"), ("{tag}", "(?P<tag>[^/]+)")):
        if rest.startswith(literal):
            return regex, i + len(literal)
    if rest[0] == "*":
        return "[^/]*", i + 1
    if rest[0] == "?":
        return "[^/]", i + 1
    end = pattern.find("]", i + 2)
    if rest[0] == "[" and end != -1:
        body = pattern[i + 1 : end]
        return "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
    return re.escape(rest[0]), i + 1


def check_glob(pattern: str) -> str:
    """`pattern`, if it is a valid glob; raises ValueError naming the problem."""
    if not pattern.strip():
        raise ValueError("a glob must not be empty")
    try:
        glob_regex(pattern)
    except re.error as exc:
        raise ValueError(f"invalid glob {pattern!r}: {exc.msg}") from None
    return pattern


def any_case_extension(pattern: str) -> str:
    """`pattern` with its file extension matched in any case: `*.jpg` -> `*.[jJ][pP][gG]`,
    so that `IMG_1234.JPG` and `a.Png` match (cameras and Windows write upper-case ones).
    Only a literal extension at the end of the last path part changes."""
    match = _EXTENSION.search(pattern)
    if match is None or "/" in match.group(1):
        return pattern
    either = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in match.group(1))
    return pattern[: match.start(1)] + either
