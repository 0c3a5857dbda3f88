"""Making the imported project cvspec's, so that a plan of the written spec is a no-op.

cvspec recognises its images by the content hash recorded in their metadata
(cvspec.identity) and its iterations by the dataset fingerprint in their names. A project
built elsewhere has neither, and a plan would re-upload every image (the service would
answer OKDuplicate) and train again. So the import, which has just downloaded and hashed
every image, records the identity itself (one UpdateImageMetadata per 64 images, the
manifest an upload writes; nothing else about an image changes), and gives the iteration
the spec trains its dataset name when that iteration was trained on exactly the images and
tags the project holds now (its images as the service lists them for that iteration). The
published name, its prediction resource and the model are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cvspec import ops
from cvspec.identity import decode_identity, encode_manifest, hash_key
from cvspec.importing.layout import Placement, chosen_iterations
from cvspec.importing.source import Source, SourceIteration, iteration_images
from cvspec.recover import BATCH
from cvspec.sdk import call
from cvspec.service import Service


@dataclass(frozen=True)
class Naming:
    """What happened to the iteration the spec trains."""

    iteration: str  # its name in the project ("" when there is none)
    new_name: str  # its dataset name, when given ("" when not)
    why_not: str  # why it was not named ("" when named, or nothing to name)


def record_identity(
    service: Service, source: Source, placements: Iterable[Placement], sha256: Mapping[str, str]
) -> tuple[int, list[str]]:
    """Record cvspec's identity on the spec's images that lack it, 64 images per call;
    (how many were marked, the ids of those the service refused, e.g. metadata full)."""
    metadata = {i.id: dict(i.metadata) for i in source.images}
    pairs = [
        (p.image_id, sha256[p.image_id])
        for p in placements
        if p.in_spec
        and decode_identity(p.image_id, metadata.get(p.image_id)) != hash_key(sha256[p.image_id])
    ]
    refused: list[str] = []
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        summary = call(
            service.training.update_image_metadata,
            source.id,
            [image_id for image_id, _ in chunk],
            encode_manifest(chunk),
        )
        refused += [str(r.image_id).lower() for r in summary.images or () if r.status != "OK"]
    return len(pairs) - len(refused), refused


def name_iteration(
    service: Service,
    source: Source,
    train: ops.Train | None,
    workspace: Mapping[str, tuple[str, ...]],
) -> Naming:
    """Rename the spec's iteration to the dataset name the plan's Train wants, when it was
    trained on exactly `workspace` (tagged image id -> tags)."""
    trained, _ = chosen_iterations(source)
    if train is None or trained is None:
        return Naming(trained.name if trained else "", "", "")
    why = _differs(service, source, trained, workspace)
    if why:
        return Naming(trained.name, "", why)
    call(service.training.update_iteration, source.id, trained.id, name=train.iteration_name)
    return Naming(trained.name, train.iteration_name, "")


def _differs(
    service: Service, source: Source, it: SourceIteration, workspace: Mapping[str, tuple[str, ...]]
) -> str:
    if it.domain_id and it.domain_id.lower() != source.domain_id.lower():
        return "it was trained with another domain"
    if it.classification_type and it.classification_type != source.classification_type:
        return "it was trained with another classification type"
    if iteration_images(service, source.id, it.id) != dict(workspace):
        return "the project's images or tags changed since it was trained"
    return ""


def workspace_tags(source: Source) -> dict[str, tuple[str, ...]]:
    """The project's tagged images: image id -> tag names."""
    return {i.id: i.tags for i in source.images if i.tags}
