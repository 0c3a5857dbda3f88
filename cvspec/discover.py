"""Find the specs under the paths given to `cvspec plan` and `cvspec apply`.

A path that is a file is a spec, whatever it holds. A directory is searched recursively, in
sorted order, skipping folders whose name starts with `.` (`.cvspec/`, `.git/`): a file there
is a spec when its name ends in `.yaml` or `.yml` and its first line that is not blank, a
comment or `---` starts with `version:` (as every spec's does). Var files, workflows and other
YAML therefore never count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cvspec.errors import CvspecError

SUFFIXES = (".yaml", ".yml")
_HEAD_BYTES = 4096


def find_specs(paths: Iterable[Path]) -> list[Path]:
    """Every spec under `paths`, each once, in the order found.

    Raises:
        CvspecError: a path does not exist, or no spec was found.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += _in_folder(path)
        elif path.is_file():
            found.append(path)
        else:
            raise CvspecError(f"{path}: no such file or directory")
    unique = list(dict.fromkeys(found, None))
    if not unique:
        shown = ", ".join(str(p) for p in paths)
        raise CvspecError(f"no spec found under {shown} (a spec's first line is `version: 1`)")
    return unique


def _in_folder(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.endswith(SUFFIXES) and is_spec(path):
                found.append(path)
    return found


def is_spec(path: Path) -> bool:
    """True when the file's first meaningful line starts with `version:`."""
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    for line in head.splitlines():
        text = line.strip()
        if not text or text.startswith("#") or text == "---":
            continue
        return text.startswith("version:")
    return False
