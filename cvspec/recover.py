"""Recovering images that a killed apply uploaded but could not mark.

Every upload batch carries the batch-level metadata `cvspec: pending` (the only metadata the
service lets an upload set), and the identity manifest written right after replaces it. An
apply killed between the two calls leaves "pending" images: cvspec's, but of unknown
content. Most of them are adopted by the next upload (the service answers OKDuplicate and the
manifest is written then), but one whose file left the spec in the meantime would linger,
unmanaged, forever. So before planning, apply asks the service for pending images (one
filtered call, nothing when there are none), downloads each, hashes it and writes its
manifest: from then on it is an ordinary managed image that the plan keeps or prunes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from cvspec.errors import ServiceError
from cvspec.identity import MARKER_KEY, encode_manifest
from cvspec.sdk import call
from cvspec.service import Service

PENDING_VALUE = "pending"
PENDING_METADATA = {MARKER_KEY: PENDING_VALUE}
PENDING_FILTER = f"{MARKER_KEY} eq '{PENDING_VALUE}'"
PAGE = 256
BATCH = 64  # images per UpdateImageMetadata call
DOWNLOAD_TIMEOUT = 60.0

Emit = Callable[..., None]


def recover_pending(service: Service, project_name: str, emit: Emit, workers: int = 4) -> int:
    """Give every pending image of the project its identity; returns how many were fixed."""
    client = service.training
    project = next((p for p in call(client.get_projects) if p.name == project_name), None)
    if project is None:
        return 0
    pending = _pending(service, project.id)
    if not pending:
        return 0
    emit("recovering", images=len(pending))
    with ThreadPoolExecutor(max(1, workers), "cvspec-recover") as pool:
        hashes = list(pool.map(_sha256, (uri for _, uri in pending)))
    pairs = [(image_id, sha) for (image_id, _), sha in zip(pending, hashes, strict=True) if sha]
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        call(
            client.update_image_metadata,
            project.id,
            [image_id for image_id, _ in chunk],
            encode_manifest(chunk),
        )
    return len(pairs)


def _pending(service: Service, project_id: str) -> list[tuple[str, str]]:
    """(image id, original image URI) of every pending image."""
    found: list[tuple[str, str]] = []
    skip = 0
    while True:
        try:
            page = call(
                service.training.get_images,
                project_id,
                filter=PENDING_FILTER,
                take=PAGE,
                skip=skip,
            )
        except ServiceError as exc:
            if exc.status == 400:  # a service without this $filter: nothing to recover
                return found
            raise
        found += [
            (i.id, i.original_image_uri)
            for i in page
            if i.original_image_uri and (i.metadata or {}).get(MARKER_KEY) == PENDING_VALUE
        ]  # checked here too, in case a service ignores the filter
        if len(page) < PAGE:
            return found
        skip += PAGE


def _sha256(uri: str) -> str | None:
    for _ in range(3):
        try:
            response = requests.get(uri, timeout=DOWNLOAD_TIMEOUT)
        except requests.RequestException:
            continue
        if response.ok:
            return hashlib.sha256(response.content).hexdigest()
    return None
