"""The actual state: read through the official SDK. The only module that reads the service.

A read costs 4 calls (domains, projects, tags, iterations) plus one per 256 images, so a
no-op plan of a 10,000-image project makes 44 calls. Image pages carry each image's identity
manifest (about 2 kB of metadata per image); msrest's model deserialisation of those pages
costs about 20 ms per page, twenty times the JSON parse, so image pages are fetched through
the same SDK operation (`get_images`, with its URL building, auth, and error handling) but
with model deserialisation of the successful body skipped, and the JSON read here.
"""

from __future__ import annotations

import hashlib
import types
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from cvspec.errors import PlanError
from cvspec.identity import (
    MARKER_KEY,
    MARKER_VALUE,
    decode_identity,
    hash_key,
    manifest_entries,
)
from cvspec.marker import TrainingMarker, split_description
from cvspec.recover import hash_contents, is_pending
from cvspec.sdk import call
from cvspec.service import Service

PAGE = 256  # the service's maximum `take`


@dataclass(frozen=True)
class LiveDomain:
    id: str
    name: str
    type: str  # "Classification" | "ObjectDetection"


@dataclass(frozen=True)
class LiveProject:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str  # "Multiclass" | "Multilabel"
    training_marker: TrainingMarker | None = None  # left by an apply (cvspec.marker)


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
    # Uploaded by an interrupted apply that did not record its identity (`cvspec: pending`):
    # the reader downloaded and hashed it, so `hash_key` is its content's (None when the
    # download failed); the plan adopts it (AdoptPendingImages).
    pending: bool = False


@dataclass(frozen=True)
class LiveIteration:
    id: str
    name: str
    status: str
    created: str
    publish_name: str
    prediction_resource_id: str
    last_modified: str = ""
    training_type: str = ""  # "Regular" | "Advanced" ("" when the service does not say)
    budget_hours: int = 0  # reservedBudgetInHours


@dataclass(frozen=True)
class LiveState:
    """Everything the diff needs to know about one project in the service."""

    domains: tuple[LiveDomain, ...]
    project: LiveProject | None
    tags: tuple[LiveTag, ...] = ()
    images: tuple[LiveImage, ...] = ()
    iterations: tuple[LiveIteration, ...] = ()


@dataclass(frozen=True)
class LiveSummary:
    """A few counts of a live state, to explain why a saved plan went stale."""

    project_id: str | None
    tags: int
    images: int
    managed_images: int
    iterations: int
    published: tuple[str, ...]

    def differences(self, other: LiveSummary) -> list[str]:
        """What changed from `self` to `other`, as 'field: before -> after' phrases."""
        names = ("project_id", "tags", "images", "managed_images", "iterations", "published")
        return [
            f"{n.replace('_', ' ')}: {_show(getattr(self, n))} -> {_show(getattr(other, n))}"
            for n in names
            if getattr(self, n) != getattr(other, n)
        ]


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return "none" if value is None else str(value)


def read_live(service: Service, project_name: str) -> LiveState:
    """Read the project named `project_name` with its tags, images and iterations.

    Raises:
        PlanError: several projects have that name.
        ServiceError: the service refused a call.
    """
    client = service.training
    domains = tuple(LiveDomain(d.id, d.name, d.type) for d in call(client.get_domains))
    project = _find_project(service, project_name)
    if project is None:
        return LiveState(domains=domains, project=None)
    tags = tuple(sorted((_tag(t) for t in call(client.get_tags, project.id)), key=lambda t: t.id))
    names = {t.id: t.name for t in tags}
    return LiveState(
        domains=domains,
        project=project,
        tags=tuple(sorted(tags, key=lambda t: t.name)),
        images=_read_images(service, project.id, names),
        iterations=tuple(
            sorted(
                (_iteration(i) for i in call(client.get_iterations, project.id)),
                key=lambda i: (i.created, i.id),
            )
        ),
    )


def find_project(service: Service, name: str) -> LiveProject | None:
    """The project named `name` (one call), or None.

    Raises:
        PlanError: several projects have that name.
    """
    if service.pending:  # the training account is still to be created: no project in it
        return None
    return _find_project(service, name)


def _find_project(service: Service, name: str) -> LiveProject | None:
    found = [p for p in call(service.training.get_projects) if p.name == name]
    if len(found) > 1:
        ids = ", ".join(sorted(p.id for p in found))
        raise PlanError(
            f"{len(found)} projects are named {name!r} ({ids}); cvspec cannot tell which one "
            "the spec describes. Rename or delete the others."
        )
    if not found:
        return None
    p = found[0]
    description, marker = split_description(p.description or "")
    return LiveProject(
        id=p.id,
        name=p.name,
        description=description,
        domain_id=p.settings.domain_id,
        classification_type=p.settings.classification_type or "Multiclass",
        training_marker=marker,
    )


def _tag(t: Any) -> LiveTag:
    return LiveTag(t.id, t.name, t.description or "", t.type or "Regular", t.image_count or 0)


def _read_images(
    service: Service, project_id: str, tag_names: Mapping[str, str]
) -> tuple[LiveImage, ...]:
    """Every workspace image, paged oldest first; duplicates across pages are dropped.

    Pending images (left by an interrupted apply) are downloaded and hashed here, so that
    the plan can match them to the spec's images (cvspec.recover)."""
    images: dict[str, LiveImage] = {}
    pending: dict[str, str] = {}  # image id -> its original image's URI
    for page in image_pages(service, project_id):
        for raw in page:
            image = _image(raw, tag_names)
            images[image.id] = image
            if is_pending(raw.get("metadata")):
                pending[image.id] = str(raw.get("originalImageUri") or "")
    if pending:
        _hash_pending(images, pending)
    return tuple(images[k] for k in sorted(images))


def _hash_pending(images: dict[str, LiveImage], pending: dict[str, str]) -> None:
    ids = [i for i in sorted(pending) if pending[i]]
    hashes = hash_contents([pending[i] for i in ids])
    found = {i: h for i, h in zip(ids, hashes, strict=True) if h}
    for image_id in pending:
        sha = found.get(image_id)
        images[image_id] = replace(
            images[image_id], hash_key=hash_key(sha) if sha else None, pending=True
        )


def image_pages(
    service: Service, project_id: str, iteration_id: str | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The workspace's images (or an iteration's), as the service's JSON, page by page,
    oldest first: one GetImages call per PAGE images."""
    client = _JsonBody(service.training)
    skip = 0
    while True:
        page = _images_page(client, project_id, skip, iteration_id)
        yield page
        if len(page) < PAGE:
            return
        skip += PAGE


def _images_page(
    client: _JsonBody, project_id: str, skip: int, iteration_id: str | None = None
) -> list[dict[str, Any]]:
    extra = {"iteration_id": iteration_id} if iteration_id else {}
    response = call(
        client.get_images, project_id, take=PAGE, skip=skip, order_by="Oldest", raw=True, **extra
    )
    body = response.response.json()
    return body if isinstance(body, list) else []


class _JsonBody:
    """The SDK training client, except that a successful `[Image]` body is left as JSON.

    Generated msrest operations deserialise with `self._deserialize(type, response)` before
    returning; this wrapper binds the SDK's own `get_images` to itself and answers that one
    call with None, so `raw=True` returns the untouched HTTP response. Everything else, error
    bodies included, goes to the real client.
    """

    def __init__(self, client: Any) -> None:
        self._inner = client
        # Bound to this wrapper, so that the operation reads `_deserialize` from here; its
        # `self.get_images.metadata` (the URL template) still resolves through the function.
        self.get_images = types.MethodType(type(client).get_images, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _deserialize(self, target: str, data: Any, *args: Any) -> Any:
        if target == "[Image]":
            return None
        return self._inner._deserialize(target, data, *args)


def _image(raw: Mapping[str, Any], tag_names: Mapping[str, str]) -> LiveImage:
    image_id = str(raw["id"])
    tags = tuple(sorted(_tag_name(t, tag_names) for t in raw.get("tags") or ()))
    metadata = raw.get("metadata") or None
    return LiveImage(id=image_id, hash_key=_identity(image_id, metadata), tags=tags)


def _tag_name(tag: Mapping[str, Any], tag_names: Mapping[str, str]) -> str:
    return str(tag.get("tagName") or tag_names.get(str(tag.get("tagId")), tag.get("tagId")))


def _identity(image_id: str, metadata: Mapping[str, str] | None) -> str | None:
    if not metadata or metadata.get(MARKER_KEY) != MARKER_VALUE:
        return None
    # The 64 images of an upload batch share one manifest: decode it once, not 64 times.
    entries = _manifest(tuple(metadata.items()))
    found = entries.get(image_id.lower())
    return found if found is not None else entries.get(_canonical_id(image_id))


@lru_cache(maxsize=1024)
def _manifest(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return manifest_entries(dict(items))


def _canonical_id(image_id: str) -> str:
    try:
        return str(uuid.UUID(image_id))
    except ValueError:
        return image_id


def _iteration(i: Any) -> LiveIteration:
    return LiveIteration(
        id=i.id,
        name=i.name or "",
        status=i.status or "",
        created=_iso(i.created),
        publish_name=i.publish_name or "",
        prediction_resource_id=i.original_publish_resource_id or "",
        last_modified=_iso(i.last_modified),
        training_type=i.training_type or "",
        budget_hours=int(i.reserved_budget_in_hours or 0),
    )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def fingerprint_live(live: LiveState) -> str:
    """A digest of everything the diff reads from the live state (tag image counts aside)."""
    digest = hashlib.sha256()
    for line in _canonical_lines(live):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _canonical_lines(live: LiveState) -> Iterable[str]:
    yield from (repr(d) for d in live.domains)
    yield repr(live.project)
    yield from (repr((t.id, t.name, t.description, t.type)) for t in live.tags)
    yield from (repr((i.id, i.hash_key, i.tags, i.pending)) for i in live.images)
    yield from (repr(i) for i in live.iterations)


def summarize_live(live: LiveState) -> LiveSummary:
    """Counts of a live state (see LiveSummary)."""
    published = tuple(
        sorted(f"{i.publish_name}={i.name}" for i in live.iterations if i.publish_name)
    )
    return LiveSummary(
        project_id=live.project.id if live.project else None,
        tags=len(live.tags),
        images=len(live.images),
        managed_images=sum(1 for i in live.images if i.hash_key),
        iterations=len(live.iterations),
        published=published,
    )


def unmanaged_by_tag(images: Iterable[LiveImage]) -> dict[str, int]:
    """How many unmanaged images carry each tag ("(untagged)" for none), sorted by tag."""
    counts = Counter(t for i in images if not i.hash_key for t in i.tags or ("(untagged)",))
    return dict(sorted(counts.items()))


__all__ = [
    "PAGE",
    "LiveDomain",
    "LiveImage",
    "LiveIteration",
    "LiveProject",
    "LiveState",
    "LiveSummary",
    "decode_identity",
    "fingerprint_live",
    "image_pages",
    "read_live",
    "summarize_live",
    "unmanaged_by_tag",
]
