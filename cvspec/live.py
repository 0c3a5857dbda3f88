"""The actual state: read through the official SDK. The only module that reads the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cvspec.identity import decode_identity
from cvspec.sdk import call
from cvspec.service import Service

PAGE = 256  # the service's maximum `take`


@dataclass(frozen=True)
class LiveDomain:
    id: str
    name: str
    type: str


@dataclass(frozen=True)
class LiveProject:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str  # "Multiclass" | "Multilabel"


@dataclass(frozen=True)
class LiveTag:
    id: str
    name: str
    description: str
    type: str  # "Regular" | "Negative"
    image_count: int


@dataclass(frozen=True)
class LiveImage:
    id: str
    hash_key: str | None  # None: not uploaded by cvspec (unmanaged)
    tags: tuple[str, ...]  # tag names, sorted


@dataclass(frozen=True)
class LiveIteration:
    id: str
    name: str
    status: str
    created: str
    publish_name: str
    prediction_resource_id: str


@dataclass(frozen=True)
class LiveState:
    """Everything the diff needs to know about one project in the service."""

    domains: tuple[LiveDomain, ...]
    project: LiveProject | None
    tags: tuple[LiveTag, ...] = ()
    images: tuple[LiveImage, ...] = ()
    iterations: tuple[LiveIteration, ...] = ()


def read_live(service: Service, project_name: str) -> LiveState:
    """Read the project named `project_name` with its tags, images and iterations."""
    client = service.training
    domains = tuple(LiveDomain(d.id, d.name, d.type) for d in call(client.get_domains))
    project = _find_project(service, project_name)
    if project is None:
        return LiveState(domains=domains, project=None)
    tags = tuple(sorted((_tag(t) for t in call(client.get_tags, project.id)), key=lambda t: t.name))
    return LiveState(
        domains=domains,
        project=project,
        tags=tags,
        images=tuple(_read_images(service, project.id)),
        iterations=tuple(_iteration(i) for i in call(client.get_iterations, project.id)),
    )


def _find_project(service: Service, name: str) -> LiveProject | None:
    for p in call(service.training.get_projects):
        if p.name == name:
            settings = p.settings
            return LiveProject(
                id=p.id,
                name=p.name,
                description=p.description or "",
                domain_id=settings.domain_id,
                classification_type=settings.classification_type or "Multiclass",
            )
    return None


def _tag(t: Any) -> LiveTag:
    return LiveTag(t.id, t.name, t.description or "", t.type or "Regular", t.image_count or 0)


def _read_images(service: Service, project_id: str) -> list[LiveImage]:
    images: list[LiveImage] = []
    skip = 0
    while True:
        page = call(
            service.training.get_images, project_id, take=PAGE, skip=skip, order_by="Oldest"
        )
        images.extend(_image(i) for i in page)
        if len(page) < PAGE:
            return sorted(images, key=lambda i: i.id)
        skip += PAGE


def _image(i: Any) -> LiveImage:
    names = tuple(sorted(t.tag_name for t in (i.tags or [])))
    return LiveImage(id=i.id, hash_key=decode_identity(i.id, i.metadata), tags=names)


def _iteration(i: Any) -> LiveIteration:
    return LiveIteration(
        id=i.id,
        name=i.name,
        status=i.status,
        created=_iso(i.created),
        publish_name=i.publish_name or "",
        prediction_resource_id=i.original_publish_resource_id or "",
    )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
