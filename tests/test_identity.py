"""Identity kept in the service: the image manifest and iteration fingerprints."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from cvspec.identity import (
    HASH_CHARS,
    MARKER_KEY,
    decode_identity,
    encode_manifest,
    iteration_fingerprint,
    iteration_name,
)


def _pairs(n: int) -> list[tuple[str, str]]:
    return [
        (str(uuid.UUID(int=i * 7919 + 1)), hashlib.sha256(str(i).encode()).hexdigest())
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 63, 64])
def test_manifest_identifies_every_image_of_a_batch(n: int) -> None:
    pairs = _pairs(n)
    metadata = encode_manifest(pairs)
    assert all(len(k) <= 128 and len(v) <= 256 for k, v in metadata.items())
    assert len(metadata) <= 10  # the service's metadata limit per image
    for image_id, sha in pairs:
        assert decode_identity(image_id, metadata) == sha[:HASH_CHARS]


def test_manifest_rejects_more_than_fits() -> None:
    with pytest.raises(ValueError, match="at most"):
        encode_manifest(_pairs(80))


def test_images_without_the_marker_are_unmanaged() -> None:
    image_id, sha = _pairs(1)[0]
    metadata = encode_manifest([(image_id, sha)])
    assert decode_identity(image_id, None) is None
    assert decode_identity(image_id, {"other": "x"}) is None
    assert decode_identity(image_id, {k: v for k, v in metadata.items() if k != MARKER_KEY}) is None
    assert decode_identity(str(uuid.uuid4()), metadata) is None


def test_iteration_names_carry_the_fingerprint() -> None:
    assert iteration_fingerprint(iteration_name("abc123")) == "abc123"
    assert iteration_fingerprint("Iteration 1") is None
