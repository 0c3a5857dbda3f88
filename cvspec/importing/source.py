"""The project to import, as read through the official SDK: the one module of the import
that lists the service's content (downloads are in cvspec.importing.download)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cvspec.errors import CvspecError, ServiceError
from cvspec.live import LiveTag, image_pages
from cvspec.marker import split_description
from cvspec.sdk import call
from cvspec.service import Service


@dataclass(frozen=True)
class SourceImage:
    id: str
    uri: str  # the original image's URI: may carry a SAS token, never shown
    tags: tuple[str, ...]  # tag names, sorted
    metadata: tuple[tuple[str, str], ...]  # the image's metadata, to read cvspec's identity
    width: int = 0
    height: int = 0
    created: str = ""  # as the service writes it (ISO 8601)


@dataclass(frozen=True)
class SourceIteration:
    id: str
    name: str
    status: str
    created: str
    publish_name: str
    prediction_resource_id: str
    training_type: str  # "Regular" | "Advanced"
    budget_hours: int
    domain_id: str
    classification_type: str
    exportable_to: tuple[str, ...] = ()  # model platforms (compact domains only)


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str  # "Multiclass" | "Multilabel"
    tags: tuple[LiveTag, ...]  # by name
    images: tuple[SourceImage, ...]  # oldest first
    iterations: tuple[SourceIteration, ...]  # oldest first


def locate(service: Service, name_or_id: str, action: str = "import") -> tuple[str, str]:
    """(id, name) of the project whose name or id is `name_or_id` (one call).

    Raises:
        CvspecError: no project has that name or id, or several have that name.
    """
    projects = call(service.training.get_projects)
    wanted = _canonical(name_or_id)
    by_id = [p for p in projects if wanted is not None and _canonical(p.id) == wanted]
    found = by_id or [p for p in projects if p.name == name_or_id]
    if len(found) > 1:
        ids = ", ".join(sorted(p.id for p in found))
        raise CvspecError(
            f"{len(found)} projects are named {name_or_id!r} ({ids}); {action} one by its id"
        )
    if not found:
        raise CvspecError(f"no project is named {name_or_id!r} or has that id")
    return str(found[0].id), str(found[0].name)


def _canonical(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def read_source(service: Service, project_id: str) -> Source:
    """The project with its tags, images and iterations: 3 calls plus one per 256 images."""
    client = service.training
    try:
        project = call(client.get_project, project_id)
    except ServiceError as exc:
        raise CvspecError(f"cannot read project {project_id}: {exc}") from exc
    tags = tuple(sorted((_tag(t) for t in call(client.get_tags, project_id)), key=_by_name))
    names = {t.id: t.name for t in tags}
    images = tuple(_image(raw, names) for page in image_pages(service, project_id) for raw in page)
    iterations = sorted(
        (_iteration(i) for i in call(client.get_iterations, project_id)),
        key=lambda i: (i.created, i.id),
    )
    description, _ = split_description(project.description or "")
    return Source(
        id=str(project.id),
        name=str(project.name),
        description=description,
        domain_id=str(project.settings.domain_id),
        classification_type=project.settings.classification_type or "Multiclass",
        tags=tags,
        images=images,
        iterations=tuple(iterations),
    )


def iteration_images(
    service: Service, project_id: str, iteration_id: str
) -> dict[str, tuple[str, ...]]:
    """The tagged images an iteration was trained on: image id -> tag names."""
    found: dict[str, tuple[str, ...]] = {}
    for page in image_pages(service, project_id, iteration_id):
        for raw in page:
            tags = _tag_names(raw, {})
            if tags:
                found[str(raw["id"]).lower()] = tags
    return found


def _by_name(tag: LiveTag) -> str:
    return tag.name


def _tag(t: Any) -> LiveTag:
    return LiveTag(t.id, t.name, t.description or "", t.type or "Regular", t.image_count or 0)


def _image(raw: dict[str, Any], names: dict[str, str]) -> SourceImage:
    metadata = raw.get("metadata") or {}
    return SourceImage(
        id=str(raw["id"]).lower(),
        uri=str(raw.get("originalImageUri") or ""),
        tags=_tag_names(raw, names),
        metadata=tuple(sorted((str(k), str(v)) for k, v in metadata.items())),
        width=int(raw.get("width") or 0),
        height=int(raw.get("height") or 0),
        created=str(raw.get("created") or ""),
    )


def _tag_names(raw: dict[str, Any], names: dict[str, str]) -> tuple[str, ...]:
    tags = raw.get("tags") or ()
    return tuple(sorted(str(t.get("tagName") or names.get(str(t.get("tagId")), "")) for t in tags))


def _iteration(i: Any) -> SourceIteration:
    return SourceIteration(
        id=str(i.id),
        name=i.name or "",
        status=i.status or "",
        created=i.created.isoformat() if i.created else "",
        publish_name=i.publish_name or "",
        prediction_resource_id=i.original_publish_resource_id or "",
        training_type=i.training_type or "Regular",
        budget_hours=int(i.reserved_budget_in_hours or 0),
        domain_id=str(i.domain_id or ""),
        classification_type=i.classification_type or "",
        exportable_to=tuple(i.exportable_to or ()) if i.exportable else (),
    )
