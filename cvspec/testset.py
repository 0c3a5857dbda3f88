"""Read a labelled test set for `cvspec test`, in the spec's source syntax (no image decoded).

TESTSET is one of:
* a folder with one sub-folder per tag (`heldout/cat/*.jpg`, `heldout/dog/**/*.png`);
* a CSV or JSONL manifest (cvspec.spec.manifests: paths relative to the manifest);
* a glob with a `{tag}` part, relative to the current directory (`photos/{tag}/*.jpg`).
Files are expanded by the spec's own loader (cvspec.spec.sources), so the same rules hold:
case-insensitive extensions, `**`, broken symlinks and unreadable manifests reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cvspec.errors import CvspecError
from cvspec.spec.manifests import MANIFEST_SUFFIXES
from cvspec.spec.model import ImageSourceSpec, ProjectSpec, Spec
from cvspec.spec.problems import Locator, display_path
from cvspec.spec.sources import expand_sources

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what the service accepts


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    labels: tuple[str, ...]  # sorted

    @property
    def shown(self) -> str:
        return display_path(self.path)


def load_testset(testset: str, classification: str) -> list[LabelledImage]:
    """Every labelled image of `testset`, sorted by path.

    Raises:
        CvspecError: nothing found, a problem with the files, or a multiclass image that does
        not have exactly one label.
    """
    base, source = _source(testset)
    spec = Spec(project=ProjectSpec(name="testset"), images=[source], allow_outside=True)
    expansion = expand_sources(spec, base, Locator(base / "TESTSET"))
    if expansion.problems and Path(testset).is_dir() and not expansion.candidates:
        raise CvspecError(f"test set {testset}: no images in tag folders ({testset}/TAG/IMAGE)")
    if expansion.problems:
        more = len(expansion.problems) - 1
        extra = f" (and {more} more problem(s))" if more else ""
        raise CvspecError(f"test set {testset}: {_plain(expansion.problems[0])}{extra}")
    found = sorted(
        {
            c.file.path: LabelledImage(Path(c.file.path), c.tags)
            for c in expansion.candidates
            if c.file is not None and c.file.path.lower().endswith(IMAGE_SUFFIXES)
        }.values(),
        key=lambda i: str(i.path),
    )
    if not found:
        raise CvspecError(f"test set {testset}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    if classification == "multiclass":
        _one_label_each(found)
    return found


def _source(testset: str) -> tuple[Path, ImageSourceSpec]:
    path = Path(testset)
    if path.is_dir():
        return path.resolve(), ImageSourceSpec(path="{tag}/**/*")
    if testset.lower().endswith(MANIFEST_SUFFIXES):
        if not path.is_file():
            raise CvspecError(f"test set {testset}: no such manifest")
        return path.resolve().parent, ImageSourceSpec(manifest=path.name)
    if "{tag}" in testset:
        return Path(os.getcwd()), ImageSourceSpec(path=testset)
    raise CvspecError(
        f"test set {testset}: not a folder, a .csv/.jsonl manifest or a glob with {{tag}}"
    )


def _one_label_each(images: list[LabelledImage]) -> None:
    bad = [i for i in images if len(i.labels) != 1]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CvspecError(
            f"{first.shown}: has {len(first.labels)} labels; a multiclass test image has "
            f"exactly one{more}"
        )


def unknown_tags(images: list[LabelledImage], project_tags: set[str]) -> list[str]:
    """Labels of the test set that the project does not have (sorted)."""
    return sorted({t for i in images for t in i.labels} - project_tags)


def _plain(problem: str) -> str:
    """A problem of the synthetic spec, without its field path (`TESTSET: images[0].path: `)."""
    if ": images[0]." not in problem:
        return problem
    return problem.split(": images[0].", 1)[-1].removeprefix("path: ")
