"""Where each exported image goes and what the label files say (pure: no I/O).

Every image is stored once, as `images/<image id>.<ext>`. An image with exactly one tag
whose name is a safe folder name is also linked as `imagefolder/<tag>/<image id>.<ext>`
(torchvision's ImageFolder, Keras' image_dataset_from_directory). The manifests list every
image with all its tags (`;`-separated in the CSV, a list in the JSONL), untagged images
included with no tags. The exported spec reads the ImageFolder tree, plus a small manifest
(`spec-labels.jsonl`) for the tagged images that do not fit a folder (several tags, or a tag
name that cannot be a folder name).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

IMAGES_DIR = "images"
IMAGEFOLDER_DIR = "imagefolder"
MANIFEST_CSV = "manifest.csv"
MANIFEST_JSONL = "manifest.jsonl"
SPEC_LABELS = "spec-labels.jsonl"
SPEC_FILE = "spec.yaml"
CHECKSUMS = "SHA256SUMS"
TAG_SEPARATOR = ";"

# Characters that a folder name cannot hold on some system, or that a spec glob would read.
_UNSAFE = re.compile(r'[\x00-\x1f/\\<>:"|?*\[\]{}' + TAG_SEPARATOR + "]")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ExportImage:
    """One image of the project, as listed (tags sorted by name)."""

    id: str
    tags: tuple[str, ...]
    width: int
    height: int
    created: str
    by_cvspec: bool


@dataclass(frozen=True)
class StoredImage:
    """An image once downloaded: where it is and what its bytes hash to."""

    image: ExportImage
    path: str  # relative to the export folder, "/"-separated
    sha256: str
    folder_path: str | None  # its ImageFolder link, when it has one


def folder_safe(tag: str) -> bool:
    """Whether a tag name can be an ImageFolder folder (and a `{tag}` part of a spec glob)."""
    return (
        bool(tag)
        and tag == tag.strip()
        and not tag.startswith(".")
        and not tag.endswith(".")
        and _UNSAFE.search(tag) is None
        and _RESERVED.match(tag) is None
    )


def image_path(image_id: str, extension: str) -> str:
    return f"{IMAGES_DIR}/{image_id}{extension}"


def folder_path(image: ExportImage, extension: str) -> str | None:
    """The ImageFolder path of a single-tag image with a folder-safe tag, else None."""
    if len(image.tags) != 1 or not folder_safe(image.tags[0]):
        return None
    return f"{IMAGEFOLDER_DIR}/{image.tags[0]}/{image.id}{extension}"


def manifest_csv(stored: Iterable[StoredImage]) -> str:
    """Every image: path, tags (`;`-separated), id, sha256, width, height, created."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "tags", "id", "sha256", "width", "height", "created"])
    for s in stored:
        i = s.image
        tags = TAG_SEPARATOR.join(i.tags)
        writer.writerow([s.path, tags, i.id, s.sha256, i.width, i.height, i.created])
    return out.getvalue()


def manifest_jsonl(stored: Iterable[StoredImage]) -> str:
    """Every image as one JSON object a line (the CSV's fields; tags as a list)."""
    lines = []
    for s in stored:
        i = s.image
        record = {
            "path": s.path,
            "tags": list(i.tags),
            "id": i.id,
            "sha256": s.sha256,
            "width": i.width,
            "height": i.height,
            "created": i.created,
            "uploaded_by_cvspec": i.by_cvspec,
        }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def spec_labels_jsonl(stored: Iterable[StoredImage]) -> str:
    """The tagged images without an ImageFolder place, as a spec manifest (path, tags)."""
    return "".join(
        json.dumps({"path": s.path, "tags": list(s.image.tags)}, ensure_ascii=False) + "\n"
        for s in stored
        if s.image.tags and s.folder_path is None
    )


def needs_spec_labels(stored: Iterable[StoredImage]) -> bool:
    return any(s.image.tags and s.folder_path is None for s in stored)


def has_folders(stored: Iterable[StoredImage]) -> bool:
    return any(s.folder_path is not None for s in stored)
