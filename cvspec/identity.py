"""Identity kept in the service itself, so that no state file is needed.

Images: the service has no content-hash field and its metadata can only be set per batch
(the same map for every image of an upload or UpdateImageMetadata call). cvspec therefore
writes, after each upload batch, one manifest into the metadata of all the batch's images:
entries `<image id prefix><sha256 prefix>` packed into up to 8 values of 256 characters.
Each image finds its own entry by its id, so identity costs one extra call per 64 images
and survives deletion of its batch siblings.

Iterations: the name carries a fingerprint of the dataset and training settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

MARKER_KEY = "cvspec"
MARKER_VALUE = "1"
_CHUNK_KEY = "cvspec.m{}"
_ID_CHARS = 12
HASH_CHARS = 16
_ENTRY = _ID_CHARS + HASH_CHARS
_VALUE_LIMIT = 256
_MAX_CHUNKS = 8
ITERATION_PREFIX = "cvspec-"


def hash_key(sha256: str) -> str:
    """The prefix of a content hash that identifies an image inside a project."""
    return sha256[:HASH_CHARS]


def encode_manifest(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Metadata for a batch of (image id, sha256) pairs: the marker plus the packed manifest."""
    entries = "".join(_compact_id(image_id) + hash_key(sha) for image_id, sha in sorted(pairs))
    per_chunk = (_VALUE_LIMIT // _ENTRY) * _ENTRY
    chunks = [entries[i : i + per_chunk] for i in range(0, len(entries), per_chunk)]
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"a manifest holds at most {_MAX_CHUNKS * per_chunk // _ENTRY} images")
    metadata = {MARKER_KEY: MARKER_VALUE}
    metadata.update({_CHUNK_KEY.format(i): chunk for i, chunk in enumerate(chunks)})
    return metadata


def decode_identity(image_id: str, metadata: Mapping[str, str] | None) -> str | None:
    """The hash key recorded for this image, or None when cvspec does not manage it."""
    if not metadata or metadata.get(MARKER_KEY) != MARKER_VALUE:
        return None
    wanted = _compact_id(image_id)
    for i in range(_MAX_CHUNKS):
        chunk = metadata.get(_CHUNK_KEY.format(i), "")
        for start in range(0, len(chunk) - _ENTRY + 1, _ENTRY):
            if chunk[start : start + _ID_CHARS] == wanted:
                return chunk[start + _ID_CHARS : start + _ENTRY]
    return None


def _compact_id(image_id: str) -> str:
    return image_id.replace("-", "").lower()[:_ID_CHARS]


def fingerprint(payload: object) -> str:
    """A short stable digest of any JSON-serialisable value."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def iteration_name(dataset_fingerprint: str) -> str:
    return ITERATION_PREFIX + dataset_fingerprint


def iteration_fingerprint(name: str) -> str | None:
    """The fingerprint in a cvspec iteration's name; None for iterations cvspec did not make."""
    if name.startswith(ITERATION_PREFIX):
        return name[len(ITERATION_PREFIX) :]
    return None
