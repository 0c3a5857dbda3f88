"""Projects built the way the portal (or Microsoft's samples) build them, through the official
SDK against a running emulator, for the status and export tests; and the SDK's own reading
of a project, to compare cvspec's output against."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)

from cvspec.emulator.server import EmulatorServer
from tests.emulator.support import PALETTE, make_image, unique_name, wait_trained

COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"  # General (compact): exportable


@dataclass
class PortalProject:
    """What the test built, to compare the export with."""

    id: str
    name: str
    uploaded: dict[str, bytes] = field(default_factory=dict)  # image id -> bytes
    iterations: list[str] = field(default_factory=list)  # ids, oldest first
    publish_name: str = ""


def add_images(
    trainer: CustomVisionTrainingClient,
    project: PortalProject,
    tag_ids: list[Any],
    count: int,
    color: tuple[int, int, int],
) -> list[str]:
    """Upload `count` fresh images (unique bytes) with these tags; return their ids."""
    files = [make_image(color, label=unique_name("img")) for _ in range(count)]
    entries = [
        ImageFileCreateEntry(name=f"{n}.png", contents=bytearray(data), tag_ids=tag_ids)
        for n, data in enumerate(files)
    ]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images]
    ids = [i.image.id for i in summary.images]
    # the service answers in the batch's order (source_url is the file name)
    by_name = {i.source_url: i.image.id for i in summary.images}
    for n, data in enumerate(files):
        project.uploaded[by_name.get(f"{n}.png", ids[n])] = data
    return ids


def build_portal_project(
    server: EmulatorServer, trainer: CustomVisionTrainingClient
) -> PortalProject:
    """Multiclass, compact domain: tags red and blue, a negative tag, three untagged images,
    two iterations (the second with two more red images), the second one published."""
    created = trainer.create_project(
        unique_name("portal"), domain_id=COMPACT, classification_type="Multiclass"
    )
    project = PortalProject(created.id, created.name)
    red = trainer.create_tag(project.id, "red", description="red squares")
    blue = trainer.create_tag(project.id, "blue")
    negative = trainer.create_tag(project.id, "Negative", type="Negative")
    add_images(trainer, project, [red.id], 6, PALETTE["red"])
    add_images(trainer, project, [blue.id], 6, PALETTE["blue"])
    add_images(trainer, project, [negative.id], 5, (128, 128, 128))
    add_images(trainer, project, [], 3, PALETTE["yellow"])
    first = wait_trained(trainer, project.id, trainer.train_project(project.id))
    assert first.status == "Completed", first.training_error_details
    add_images(trainer, project, [red.id], 2, PALETTE["red"])
    second = wait_trained(trainer, project.id, trainer.train_project(project.id))
    assert second.status == "Completed", second.training_error_details
    project.iterations = [first.id, second.id]
    project.publish_name = unique_name("pub")
    trainer.publish_iteration(
        project.id, second.id, project.publish_name, server.prediction_resource_id
    )
    return project


def sdk_tag_counts(trainer: CustomVisionTrainingClient, project_id: str) -> dict[str, int]:
    """{tag name: image count} as the SDK reads it (GetTags)."""
    return {t.name: t.image_count for t in trainer.get_tags(project_id)}


def sdk_untagged(trainer: CustomVisionTrainingClient, project_id: str) -> int:
    return int(trainer.get_untagged_image_count(project_id))


def manifest_counts(rows: list[dict[str, str]]) -> Counter[str]:
    """Images per tag in an exported manifest.csv (tags `;`-separated)."""
    return Counter(t for row in rows for t in row["tags"].split(";") if t)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
