"""Identity kept in the service itself, so that no state file is needed.

Images: the service has no content-hash field and its metadata can only be set per batch
(the same map for every image of an upload or UpdateImageMetadata call). cvspec therefore
writes, after each upload batch, one manifest into the metadata of all the batch's images:
records of (image id, first 8 bytes of the sha256), base64-packed into up to 8 values of 256
characters (the service's limits: 10 pairs per image, values up to 256 characters).
Each image finds its own entry by its id, so identity costs one extra call per 64 images
and survives deletion of its batch siblings.

Iterations: the name carries a fingerprint of the dataset and training settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping

MARKER_KEY = "cvspec"
MARKER_VALUE = "1"
_CHUNK_KEY = "cvspec.m{}"
HASH_CHARS = 16  # hex characters of the sha256 kept as identity (64 bits)
_RECORD = 16 + HASH_CHARS // 2  # bytes: the image id, then the hash prefix
_PER_CHUNK = 8  # records per metadata value: 8 x 24 bytes = 256 base64 characters
_MAX_CHUNKS = 8  # 64 images, the upload batch size
ITERATION_PREFIX = "cvspec-"


def hash_key(sha256: str) -> str:
    """The prefix of a content hash that identifies an image inside a project."""
    return sha256[:HASH_CHARS]


def encode_manifest(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Metadata for a batch of (image id, sha256) pairs: the marker plus the packed manifest."""
    records = [uuid.UUID(i).bytes + bytes.fromhex(hash_key(h)) for i, h in sorted(pairs)]
    chunks = [records[i : i + _PER_CHUNK] for i in range(0, len(records), _PER_CHUNK)]
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"a manifest holds at most {_MAX_CHUNKS * _PER_CHUNK} images")
    metadata = {MARKER_KEY: MARKER_VALUE}
    for n, chunk in enumerate(chunks):
        metadata[_CHUNK_KEY.format(n)] = base64.urlsafe_b64encode(b"".join(chunk)).decode()
    return metadata


def decode_identity(image_id: str, metadata: Mapping[str, str] | None) -> str | None:
    """The hash key recorded for this image, or None when cvspec does not manage it."""
    if not metadata or metadata.get(MARKER_KEY) != MARKER_VALUE:
        return None
    wanted = uuid.UUID(image_id).bytes
    for n in range(_MAX_CHUNKS):
        for record in _records(metadata.get(_CHUNK_KEY.format(n), "")):
            if record[:16] == wanted:
                return record[16:].hex()
    return None


def manifest_entries(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Every (image id -> hash key) recorded in one batch manifest; empty when unmarked.

    Image ids are lower-case canonical UUIDs. The live reader decodes each distinct manifest
    once with this, instead of once per image with decode_identity.
    """
    if not metadata or metadata.get(MARKER_KEY) != MARKER_VALUE:
        return {}
    entries: dict[str, str] = {}
    for n in range(_MAX_CHUNKS):
        for record in _records(metadata.get(_CHUNK_KEY.format(n), "")):
            entries.setdefault(_uuid_text(record[:16].hex()), record[16:].hex())
    return entries


def _uuid_text(h: str) -> str:
    """str(uuid.UUID(hex=h)), without building a UUID (the live reader does this 50k times)."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _records(value: str) -> list[bytes]:
    try:
        raw = base64.urlsafe_b64decode(value)
    except (ValueError, binascii.Error):
        return []
    return [raw[i : i + _RECORD] for i in range(0, len(raw) - _RECORD + 1, _RECORD)]


def fingerprint(payload: object) -> str:
    """A short stable digest of any JSON-serialisable value."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dataset_iteration_name(
    settings_json: str, images: Iterable[tuple[str, tuple[str, ...]]]
) -> str:
    """The name of the iteration trained on `images` (hash key, tags) with these settings
    (a JSON object: classification, domain, tags, training)."""
    payload = {**json.loads(settings_json), "images": sorted(images)}
    return iteration_name(fingerprint(payload))


def iteration_name(dataset_fingerprint: str) -> str:
    return ITERATION_PREFIX + dataset_fingerprint


def failed_iteration_name(name: str, gates: str) -> str:
    """The name that records, in the service, that iteration `name` failed the quality gates
    whose key (gates_key) is `gates`: `cvspec-<fingerprint>-failed-<gates key>`."""
    return f"{base_iteration_name(name)}{_FAILED}{gates}"


def base_iteration_name(name: str) -> str:
    """The dataset's iteration name, without a gate-failure record."""
    return name.split(_FAILED, 1)[0]


def failed_gates(name: str) -> str | None:
    """The gates key a cvspec iteration failed (its name records it), or None."""
    if iteration_fingerprint(name) is None or _FAILED not in name:
        return None
    return name.split(_FAILED, 1)[1]


def gates_key(gates: object) -> str:
    """A short digest of quality gates (a dataclass or any JSON-serialisable value)."""
    import dataclasses

    if dataclasses.is_dataclass(gates) and not isinstance(gates, type):
        gates = dataclasses.asdict(gates)
    return fingerprint(gates)[:8]


_FAILED = "-failed-"


def iteration_fingerprint(name: str) -> str | None:
    """The dataset fingerprint in a cvspec iteration's name (a gate-failure record aside);
    None for iterations cvspec did not make."""
    if name.startswith(ITERATION_PREFIX):
        return base_iteration_name(name)[len(ITERATION_PREFIX) :]
    return None
