"""Resolve a spec's image sources to files, their content hashes and their tags."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cvspec.errors import SpecError
from cvspec.spec.model import Spec


@dataclass(frozen=True)
class ResolvedImage:
    """One image the spec wants in the project, identified by the sha256 of its bytes."""

    sha256: str
    path: Path
    tags: tuple[str, ...]


def resolve_images(spec: Spec, base_dir: Path) -> list[ResolvedImage]:
    """Expand every image source; merge tags of identical content; sorted by hash."""
    found: dict[str, ResolvedImage] = {}
    for source in spec.images:
        for path, tags in _expand(source.path, tuple(source.tags), base_dir):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[digest] = _merge(found.get(digest), ResolvedImage(digest, path, tags))
    return sorted(found.values(), key=lambda image: image.sha256)


def _merge(old: ResolvedImage | None, new: ResolvedImage) -> ResolvedImage:
    if old is None:
        return new
    return ResolvedImage(old.sha256, old.path, tuple(sorted(set(old.tags) | set(new.tags))))


def _expand(pattern: str, tags: tuple[str, ...], base_dir: Path) -> list[tuple[Path, tuple[str, ...]]]:
    if "{tag}" not in pattern:
        return [(p, tuple(sorted(tags))) for p in sorted(base_dir.glob(pattern)) if p.is_file()]
    glob = pattern.replace("{tag}", "*")
    regex = re.compile(re.escape(pattern).replace(re.escape("{tag}"), "(?P<tag>[^/]+)")
                       .replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))
    out = []
    for path in sorted(base_dir.glob(glob)):
        match = regex.fullmatch(path.relative_to(base_dir).as_posix())
        if path.is_file() and match:
            out.append((path, tuple(sorted({match["tag"], *tags}))))
    if not out:
        raise SpecError([f"images: {pattern}: matches no files"])
    return out
