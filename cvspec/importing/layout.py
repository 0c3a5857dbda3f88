"""Where each imported image goes, and the spec that lists them (pure: no I/O).

* multiclass images whose tag can be a folder name: `images/{tag}/<image id>.<ext>`, listed
  by the source `path: "images/{tag}/*"`;
* multilabel images, and multiclass images whose tags cannot be a folder (a `/` in the
  name, a leading dot, several tags): `files/<image id>.<ext>`, listed in `labels.jsonl`;
* untagged images: `untagged/<image id>.<ext>`. A multilabel spec lists them (in
  `labels.jsonl`, with no tags); a multiclass spec cannot (every image has exactly one tag),
  so they are listed in `untagged.txt` and stay in the project as images cvspec did not
  upload (plans report them as drift, never change them).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import yaml

from cvspec.importing.source import Source, SourceIteration
from cvspec.spec.domains import domain_name

SPEC_FILE = "spec.yaml"
FOLDERS = "images"
FILES = "files"
UNTAGGED = "untagged"
MANIFEST = "labels.jsonl"
UNTAGGED_LIST = "untagged.txt"
RESOURCE_VARIABLE = "CVSPEC_PREDICTION_RESOURCE_ID"
# Characters no folder name may hold on Linux, macOS or Windows.
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


class Kind(StrEnum):
    FOLDER = "folder"  # images/{tag}/
    MANIFEST = "manifest"  # files/, in labels.jsonl
    UNTAGGED = "untagged"  # untagged/


@dataclass(frozen=True)
class Placement:
    image_id: str
    stem: str  # the path relative to the import's folder, without the extension
    kind: Kind
    tags: tuple[str, ...]
    in_spec: bool  # the spec lists it (so cvspec records its identity)


def folder_safe(tag: str) -> bool:
    """Whether a tag name can be a folder name everywhere (and match `{tag}` as itself)."""
    return (
        not _UNSAFE.search(tag)
        and not tag.startswith(".")
        and tag == tag.strip()
        and not tag.endswith(".")
    )


def place(source: Source) -> tuple[Placement, ...]:
    """Where every image of the project goes."""
    multiclass = source.classification_type != "Multilabel"
    return tuple(_place(image.id, image.tags, multiclass) for image in source.images)


def _place(image_id: str, tags: tuple[str, ...], multiclass: bool) -> Placement:
    if not tags:
        return Placement(image_id, f"{UNTAGGED}/{image_id}", Kind.UNTAGGED, tags, not multiclass)
    if multiclass and len(tags) == 1 and folder_safe(tags[0]):
        return Placement(image_id, f"{FOLDERS}/{tags[0]}/{image_id}", Kind.FOLDER, tags, True)
    return Placement(image_id, f"{FILES}/{image_id}", Kind.MANIFEST, tags, True)


def manifest_text(placements: Iterable[Placement], paths: Mapping[str, str]) -> str:
    """labels.jsonl: the spec's images that no folder lists (`paths`: image id -> file)."""
    lines = [
        json.dumps({"path": paths[p.image_id], "tags": list(p.tags)})
        for p in placements
        if p.in_spec and p.kind is not Kind.FOLDER
    ]
    return "".join(line + "\n" for line in lines)


def untagged_text(placements: Iterable[Placement], paths: Mapping[str, str]) -> str:
    """untagged.txt: the files of the untagged images a multiclass spec cannot list."""
    return "".join(paths[p.image_id] + "\n" for p in placements if not p.in_spec)


def chosen_iterations(
    source: Source,
) -> tuple[SourceIteration | None, SourceIteration | None]:
    """(the iteration whose training settings the spec takes, the one it publishes): the
    latest published iteration for both, else the latest completed one and no publish."""
    completed = [i for i in source.iterations if i.status == "Completed"]
    published = [i for i in completed if i.publish_name]
    if published:
        return published[-1], published[-1]
    return (completed[-1] if completed else None), None


def spec_text(source: Source, placements: Iterable[Placement]) -> str:
    """The spec of the project as it is (see module docstring for the images)."""
    placements = list(placements)
    trained, published = chosen_iterations(source)
    counts = Counter(t for p in placements for t in p.tags)
    document: dict[str, object] = {
        "version": 1,
        "project": _project(source),
        "tags": _tags(source, counts),
        "images": _sources(placements),
        "training": _training(trained) if trained else None,
    }
    if published is not None:
        document["publish"] = {
            "name": published.publish_name,
            "prediction_resource": f"${{{RESOURCE_VARIABLE}:-{published.prediction_resource_id}}}",
        }
    header = (
        f"# Written by `cvspec import` from project {source.name!r} ({source.id}).\n"
        + _training_comment(trained)
    )
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def _training_comment(trained: SourceIteration | None) -> str:
    if trained is None:
        return "# The project has no trained iteration: training is off (training: null).\n"
    return f"# Training settings from iteration {trained.name!r}.\n"


def _project(source: Source) -> dict[str, object]:
    project: dict[str, object] = {"name": source.name}
    if source.description:
        project["description"] = source.description
    project["classification"] = source.classification_type.lower()
    project["domain"] = domain_name(source.domain_id) or source.domain_id
    return project


def _tags(source: Source, counts: Counter[str]) -> list[dict[str, str]]:
    """The project's tags, but regular tags without images (a spec that trains refuses
    them; the project keeps them, and plans report them as drift)."""
    tags = []
    for tag in source.tags:
        if tag.type == "Regular" and not counts.get(tag.name):
            continue
        entry = {"name": tag.name}
        if tag.description:
            entry["description"] = tag.description
        if tag.type == "Negative":
            entry["type"] = "negative"
        tags.append(entry)
    return tags


def left_out_tags(source: Source, placements: Iterable[Placement]) -> list[str]:
    """Regular tags without images, which the spec does not list."""
    used = {t for p in placements for t in p.tags}
    return [t.name for t in source.tags if t.type == "Regular" and t.name not in used]


def _sources(placements: list[Placement]) -> list[dict[str, str]]:
    sources = []
    if any(p.kind is Kind.FOLDER for p in placements):
        sources.append({"path": f"{FOLDERS}/{{tag}}/*"})
    if any(p.in_spec and p.kind is not Kind.FOLDER for p in placements):
        sources.append({"manifest": MANIFEST})
    return sources


def _training(it: SourceIteration) -> dict[str, object]:
    if it.training_type == "Advanced":
        return {"type": "advanced", "budget_hours": max(1, it.budget_hours)}
    return {"type": "regular"}
