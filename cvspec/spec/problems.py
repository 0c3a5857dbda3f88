"""One-line problem messages: `spec.yaml:LINE:COL: field.path: message` or `file: message`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cvspec.spec.yamldoc import Document, Loc


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` relative to the current directory when it is under it, else absolute."""
    try:
        cwd = os.getcwd()
    except OSError:  # the current directory was deleted
        return os.fspath(path)
    absolute = os.path.normpath(os.path.join(cwd, path))
    if absolute == cwd or absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return absolute


def field_path(loc: Loc) -> str:
    """`images[0].path` for ("images", 0, "path"); `(root)` for (). A key that is not
    printable on one line (a newline, a control character) is shown quoted and escaped:
    `gates.per_tag["a\\nb"]`, so that a problem stays one line."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).isprintable():
            text += f".{part}"
        else:
            text += f"[{json.dumps(str(part))}]"
    return text.lstrip(".") or "(root)"


def file_problem(path: str | os.PathLike[str], message: str, line: int | None = None) -> str:
    """A problem with a file other than the spec (an image or a manifest)."""
    where = display_path(path) + (f":{line}" if line is not None else "")
    return f"{where}: {message}"


@dataclass(frozen=True)
class Locator:
    """Turns a field path of the spec into a one-line problem with line and column."""

    path: Path
    document: Document | None = None

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> str:
        """`spec.yaml:LINE:COL: field.path: message` (line and column when known)."""
        where = display_path(self.path)
        if self.document is not None:
            position = self.document.position(loc, of_key=at_key)
            where += f":{position.line}:{position.column}"
        return f"{where}: {field_path(loc)}: {message}"

    def sort_key(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        """Document order of `loc`, for reporting problems top to bottom."""
        if self.document is None:
            return (0, 0)
        position = self.document.position(loc, of_key=at_key)
        return (position.line, position.column)
