"""Resolve a spec's image sources to images: content hash, file or URL, and tags.

The same content reached twice merges its tags (multilabel), or is an error naming both
files when a multiclass spec gives them different tags.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cvspec.errors import SpecError
from cvspec.spec.hashcache import FileFacts, FileKey, HashCache, hash_files
from cvspec.spec.imagecheck import image_problems
from cvspec.spec.model import Spec
from cvspec.spec.problems import Locator, display_path, file_problem
from cvspec.spec.sources import Candidate, expand_sources


@dataclass(frozen=True)
class ResolvedImage:
    """One image the spec wants in the project, identified by the sha256 of its bytes.

    For a URL source the bytes are not fetched offline: `sha256` is then the hash of the
    URL's text, `path` is None and `url` is set.
    """

    sha256: str
    path: Path | None
    tags: tuple[str, ...]
    """Sorted tag names."""
    url: str | None = None

    @property
    def source(self) -> str:
        """The file path or URL, for messages."""
        return display_path(self.path) if self.path is not None else str(self.url)


@dataclass
class Resolution:
    """The resolved images, the sources each tag came from, and the problems found."""

    images: tuple[ResolvedImage, ...] = ()
    tag_sources: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    refused_tags: set[str] = field(default_factory=set)
    """Tags of files refused for leaving the spec's directory (reported already)."""


def resolve_images(spec: Spec, base_dir: Path) -> list[ResolvedImage]:
    """Expand every image source, hash and check the files; sorted by hash.

    Raises:
        SpecError: a source or an image has problems (spec-wide checks are not run).
    """
    resolution = resolve_sources(spec, base_dir, Locator(base_dir / "spec"))
    if resolution.problems:
        raise SpecError(resolution.problems)
    return list(resolution.images)


def resolve_sources(
    spec: Spec, base_dir: Path, locator: Locator, *, use_cache: bool = True
) -> Resolution:
    """Expand, hash (through the cache), check and merge the images of every source."""
    expansion = expand_sources(spec, base_dir, locator)
    cache = HashCache.for_spec_dir(base_dir) if use_cache else HashCache(None)
    keys = {c.file.path: c.file for c in expansion.candidates if c.file is not None}
    facts = hash_files(keys.values(), cache)
    cache.save()
    problems = expansion.problems + _file_problems(keys, facts)
    merger = _Merger(multiclass=spec.project.classification == "multiclass")
    for candidate in expansion.candidates:
        merger.add(candidate, facts)
    return Resolution(
        merger.images(), merger.tag_sources, problems + merger.problems, expansion.refused_tags
    )


def _file_problems(keys: dict[str, FileKey], facts: dict[str, FileFacts]) -> list[str]:
    problems = []
    for path in sorted(keys):
        found = image_problems(facts[path].image, keys[path].size)
        problems += [file_problem(path, message) for message in found]
    return problems


@dataclass
class _Entry:
    source: str
    """The file's absolute path, or the URL."""
    url: str | None
    tags: frozenset[str]


def _shown_source(entry: _Entry) -> str:
    return display_path(entry.source) if entry.url is None else entry.source


class _Merger:
    """Groups candidates by content; merges tags or reports multiclass conflicts."""

    def __init__(self, *, multiclass: bool) -> None:
        self.multiclass = multiclass
        self.entries: dict[str, _Entry] = {}
        self.tag_sources: dict[str, list[int]] = {}
        self.problems: list[str] = []

    def add(self, candidate: Candidate, facts: dict[str, FileFacts]) -> None:
        if candidate.file is not None and not facts[candidate.file.path].sha256:
            return  # unreadable: reported with the file's problems
        for tag in candidate.tags:
            sources = self.tag_sources.setdefault(tag, [])
            if candidate.source not in sources:
                sources.append(candidate.source)
        digest, entry = _entry(candidate, facts)
        old = self.entries.get(digest)
        if old is None:
            self.entries[digest] = entry
        elif self.multiclass and old.tags != entry.tags:
            self.problems.append(_conflict(old, entry))
        else:
            old.tags = old.tags | entry.tags

    def images(self) -> tuple[ResolvedImage, ...]:
        paths = _PathMaker()
        return tuple(
            ResolvedImage(digest, paths.make(entry), tuple(sorted(entry.tags)), entry.url)
            for digest, entry in sorted(self.entries.items())
        )


class _PathMaker:
    """Path objects for many files in few folders: Path() parsing is slow in Python 3.11."""

    def __init__(self) -> None:
        self._folders: dict[str, Path] = {}

    def make(self, entry: _Entry) -> Path | None:
        if entry.url is not None:
            return None
        folder, _, name = entry.source.rpartition(os.sep)
        parent = self._folders.get(folder)
        if parent is None:
            parent = self._folders[folder] = Path(folder or os.sep)
        child = getattr(parent, "_make_child_relpath", None)  # CPython 3.11/3.12 fast path
        return child(name) if child is not None else parent / name


def _entry(candidate: Candidate, facts: dict[str, FileFacts]) -> tuple[str, _Entry]:
    tags = frozenset(candidate.tags)
    if candidate.file is None:
        url = str(candidate.url)
        return hashlib.sha256(url.encode()).hexdigest(), _Entry(url, url, tags)
    path = candidate.file.path
    return facts[path].sha256, _Entry(path, None, tags)


def _conflict(old: _Entry, new: _Entry) -> str:
    def shown(tags: frozenset[str]) -> str:
        return ", ".join(repr(t) for t in sorted(tags)) or "no tag"

    here, there = _shown_source(new), _shown_source(old)
    if here == there:
        return (
            f"{here}: listed twice, tagged {shown(old.tags)} and {shown(new.tags)}; "
            "a multiclass image has exactly one tag"
        )
    return (
        f"{here}: same image as {there}, tagged {shown(new.tags)} here and "
        f"{shown(old.tags)} there; a multiclass image has exactly one tag"
    )
