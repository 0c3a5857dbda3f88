"""Images that a killed apply uploaded but could not mark ("pending" images).

Every upload batch carries the batch-level metadata `cvspec: pending` (the only metadata the
service lets an upload set), and the identity manifest written right after replaces it. An
apply killed between the two calls leaves pending images: cvspec's, but of unknown content.

Recovering them is a planned operation, never a side effect of planning: the live reader
(cvspec.live, read-only) recognises pending images, downloads and hashes them
(`hash_contents`), so that the diff matches them to the spec's images like any image cvspec
uploaded (no upload again) and plans one AdoptPendingImages; its handler writes their
identity manifest (`adopt`). From then on they are ordinary managed images, kept or pruned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from cvspec.identity import MARKER_KEY, encode_manifest
from cvspec.sdk import call

PENDING_VALUE = "pending"
PENDING_METADATA = {MARKER_KEY: PENDING_VALUE}
BATCH = 64  # images per UpdateImageMetadata call (a manifest holds 64 images)
DOWNLOAD_TIMEOUT = 60.0
WORKERS = 4


def is_pending(metadata: Mapping[str, Any] | None) -> bool:
    """Whether an image's metadata marks it as uploaded by an apply that did not finish."""
    return bool(metadata) and metadata.get(MARKER_KEY) == PENDING_VALUE  # type: ignore[union-attr]


def hash_contents(uris: Sequence[str], workers: int = WORKERS) -> list[str | None]:
    """The sha256 of the image at each URI (None when it could not be downloaded)."""
    if not uris:
        return []
    with ThreadPoolExecutor(max(1, min(workers, len(uris))), "cvspec-pending") as pool:
        return list(pool.map(_sha256, uris))


def adopt(client: Any, project_id: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Write the identity manifest of (image id, hash key) pairs, 64 images per call."""
    for start in range(0, len(pairs), BATCH):
        chunk = list(pairs[start : start + BATCH])
        call(
            client.update_image_metadata,
            project_id,
            [image_id for image_id, _ in chunk],
            encode_manifest(chunk),
        )


def _sha256(uri: str) -> str | None:
    for _ in range(3):
        try:
            response = requests.get(uri, timeout=DOWNLOAD_TIMEOUT)
        except requests.RequestException:
            continue
        if response.ok:
            return hashlib.sha256(response.content).hexdigest()
    return None
