"""Expand the spec's image sources into files (or URLs) and their tags, without reading images.

Paths resolve relative to the spec's directory; a path that leaves it, through `..` or a
symlink, is refused unless the spec says `allow_outside: true`.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from cvspec.spec.globs import any_case_extension, glob_regex
from cvspec.spec.hashcache import FileKey
from cvspec.spec.manifests import ManifestRow, read_manifest
from cvspec.spec.model import ImageSourceSpec, Spec
from cvspec.spec.problems import Locator, display_path, file_problem
from cvspec.spec.yamldoc import Loc

_OUTSIDE_HINT = "set allow_outside: true to allow it"


class Candidate(NamedTuple):
    """One file or URL a source lists, with the tags that source gives it."""

    source: int
    """Index of the source in `images`."""
    tags: tuple[str, ...]
    file: FileKey | None = None
    url: str | None = None


@dataclass
class Expansion:
    """Everything the sources list, and what is wrong with them."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused_tags: set[str] = field(default_factory=set)
    """Tags of files refused for leaving the spec's directory: their counts mean nothing."""


class _Context:
    """The spec directory, with the realpath of each directory looked up once."""

    def __init__(self, spec: Spec, base_dir: Path, locator: Locator) -> None:
        self.base = os.path.abspath(base_dir)
        self.real_base = os.path.realpath(self.base)
        self.allow_outside = spec.allow_outside
        self.locator = locator
        self.global_exclude = [glob_regex(any_case_extension(p)) for p in spec.exclude]
        self.out = Expansion()
        self._real_dirs: dict[str, str] = {}
        self.refused = 0  # files refused for leaving the spec's directory
        self._reported_folders: set[str] = set()

    def refuse_outside(self, path: str, real: str, problem: Callable[[str], None]) -> None:
        """Report a file that leads outside: once for the symlinked folder it is in, or
        for the file itself."""
        self.refused += 1
        folder = self._outside_folder(path)
        if folder is None:
            problem(
                f"leads outside the spec's directory (to {display_path(real)}); {_OUTSIDE_HINT}"
            )
            return
        if folder not in self._reported_folders:
            self._reported_folders.add(folder)
            target = display_path(os.path.realpath(folder))
            self.out.problems.append(
                file_problem(
                    folder,
                    f"symlinked folder leads outside the spec's directory (to {target}); "
                    + _OUTSIDE_HINT,
                )
            )

    def _outside_folder(self, path: str) -> str | None:
        """The first folder on the way from the spec's directory to `path` that is a
        symlink leading outside it, if any."""
        if not path.startswith(self.base + os.sep):
            return None
        folder = self.base
        for part in path[len(self.base) + 1 :].split(os.sep)[:-1]:
            folder = folder + os.sep + part
            if os.path.islink(folder) and not self.inside(os.path.realpath(folder) + os.sep):
                return folder
        return None

    def real_path(self, path: str, is_link: bool) -> str:
        if is_link:
            return os.path.realpath(path)
        directory, _, name = path.rpartition(os.sep)
        real = self._real_dirs.get(directory)
        if real is None:
            real = self._real_dirs[directory] = os.path.realpath(directory or os.sep)
        return real.rstrip(os.sep) + os.sep + name  # os.path.join is slow for 100,000 files

    def inside(self, real: str) -> bool:
        return self.allow_outside or real.startswith(self.real_base + os.sep)

    def spec_problem(self, loc: Loc, message: str) -> None:
        self.out.problems.append(self.locator.problem(loc, message))


def expand_sources(spec: Spec, base_dir: Path, locator: Locator) -> Expansion:
    """Every candidate file and URL of every source, and the problems found on the way."""
    context = _Context(spec, base_dir, locator)
    for index, source in enumerate(spec.images):
        if source.path is not None:
            _expand_glob(context, index, source, source.path)
        elif source.manifest is not None:
            _expand_manifest(context, index, source, source.manifest)
        else:
            tags = tuple(source.tags)
            context.out.candidates += [Candidate(index, tags, url=u) for u in source.urls or []]
    return context.out


def _expand_glob(context: _Context, index: int, source: ImageSourceSpec, pattern: str) -> None:
    loc: Loc = ("images", index, "path")
    if not context.allow_outside and _leaves(pattern):
        context.spec_problem(loc, f"{pattern!r} leaves the spec's directory; {_OUTSIDE_HINT}")
        return
    written, pattern = pattern, any_case_extension(pattern)  # IMG_1234.JPG matches *.jpg
    regex = glob_regex(pattern)
    exclude = context.global_exclude + [glob_regex(any_case_extension(p)) for p in source.exclude]
    tags_of = _TagSets(source.tags)
    found, refused = 0, context.refused
    root = "" if os.path.isabs(pattern) else context.base
    for path in sorted(glob.glob(_glob_of(root, pattern), recursive=True)):
        relative = path[len(root) + 1 :] if root else path
        match = regex.fullmatch(relative)
        if match is None or (exclude and _excluded(relative, exclude)):
            continue
        before = context.refused
        key = _file_key(context, path)
        tags = tags_of.get(match.groupdict().get("tag"))
        if key is not None:
            context.out.candidates.append(Candidate(index, tags, file=key))
            found += 1
        elif context.refused > before:
            context.out.refused_tags.update(tags)
    if not found and context.refused == refused:  # (refused files were reported already)
        context.spec_problem(loc, f"{written!r} matches no files")


class _TagSets:
    """The sorted tags of a source's image, given the `{tag}` it matched (built once each)."""

    def __init__(self, source_tags: list[str]) -> None:
        self._source_tags = source_tags
        self._made: dict[str | None, tuple[str, ...]] = {}

    def get(self, folder_tag: str | None) -> tuple[str, ...]:
        tags = self._made.get(folder_tag)
        if tags is None:
            names = {*self._source_tags, folder_tag} - {None}
            tags = self._made[folder_tag] = tuple(sorted(str(n) for n in names))
        return tags


def _expand_manifest(context: _Context, index: int, source: ImageSourceSpec, name: str) -> None:
    loc: Loc = ("images", index, "manifest")
    path = os.path.normpath(os.path.join(context.base, name))
    if not context.inside(context.real_path(path, os.path.islink(path))):
        context.spec_problem(loc, f"{name!r} leaves the spec's directory; {_OUTSIDE_HINT}")
        return
    try:
        rows, problems = read_manifest(path)
    except OSError as exc:
        context.spec_problem(loc, f"cannot read manifest {name!r}: {exc.strerror}")
        return
    except (UnicodeDecodeError, csv.Error) as exc:
        context.spec_problem(loc, f"cannot read manifest {name!r}: {_reason(exc)}")
        return
    context.out.problems.extend(problems)
    exclude = context.global_exclude + [glob_regex(any_case_extension(p)) for p in source.exclude]
    for row in rows:
        _add_manifest_row(context, index, source, path, row, exclude)
    if not rows and not problems:
        context.spec_problem(loc, f"manifest {name!r} lists no images")


def _add_manifest_row(
    context: _Context,
    index: int,
    source: ImageSourceSpec,
    manifest: str,
    row: ManifestRow,
    exclude: list[re.Pattern[str]],
) -> None:
    path = os.path.normpath(os.path.join(os.path.dirname(manifest), row.path))
    relative = os.path.relpath(path, context.base)
    if _excluded(relative, exclude):
        return
    before = context.refused
    key = _file_key(context, path, manifest=(manifest, row))
    tags = tuple(sorted({*source.tags, *row.tags}))
    if key is not None:
        context.out.candidates.append(Candidate(index, tags, file=key))
    elif context.refused > before:
        context.out.refused_tags.update(tags)


def _file_key(
    context: _Context, path: str, manifest: tuple[str, ManifestRow] | None = None
) -> FileKey | None:
    """Stat the file; None (with a problem when it matters) if it is not a usable file."""

    def problem(message: str) -> None:
        if manifest is None:
            context.out.problems.append(file_problem(path, message))
        else:
            where, row = manifest
            context.out.problems.append(file_problem(where, f"{row.path}: {message}", row.line))

    try:
        info = os.lstat(path)
        is_link = stat.S_ISLNK(info.st_mode)
        if is_link:
            info = os.stat(path)
    except OSError:
        problem("file not found" if not os.path.islink(path) else "broken symlink")
        return None
    if not stat.S_ISREG(info.st_mode):
        if manifest is not None:
            problem("not a file")
        return None
    real = context.real_path(path, is_link)
    if not context.inside(real):
        context.refuse_outside(path, real, problem)
        return None
    return FileKey(path, info.st_size, info.st_mtime_ns)


def _leaves(pattern: str) -> bool:
    normal = os.path.normpath(pattern)
    return os.path.isabs(pattern) or normal == ".." or normal.startswith(".." + os.sep)


def _glob_of(root: str, pattern: str) -> str:
    return os.path.join(glob.escape(root), pattern.replace("{tag}", "*"))


def _excluded(relative: str, exclude: list[re.Pattern[str]]) -> bool:
    return any(regex.fullmatch(relative) for regex in exclude)


def _reason(exc: UnicodeDecodeError | csv.Error) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return str(exc)
