"""The live reader's identity decoding: one manifest decoded once must agree with the
per-image decoder the applier's manifests were designed for."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from cvspec.identity import decode_identity, encode_manifest, hash_key, manifest_entries
from cvspec.live import _image


def _pairs(count: int) -> list[tuple[str, str]]:
    return [
        (str(uuid.UUID(int=n * 7919 + 1)), hashlib.sha256(str(n).encode()).hexdigest())
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [1, 8, 9, 64])
def test_manifest_entries_agree_with_decode_identity(count: int) -> None:
    pairs = _pairs(count)
    metadata = encode_manifest(pairs)
    entries = manifest_entries(metadata)
    assert entries == {image_id: hash_key(sha) for image_id, sha in pairs}
    assert all(decode_identity(i, metadata) == entries[i] for i, _ in pairs)


def test_unmarked_metadata_has_no_entries() -> None:
    metadata = encode_manifest(_pairs(3))
    assert manifest_entries({**metadata, "cvspec": "0"}) == {}
    assert manifest_entries(None) == {}


def test_an_image_reads_its_identity_whatever_the_case_of_its_id() -> None:
    (image_id, sha), *_ = pairs = _pairs(5)
    metadata = encode_manifest(pairs)
    raw = {"id": image_id.upper(), "tags": [{"tagId": "t", "tagName": "b"}], "metadata": metadata}
    image = _image(raw, {})
    assert (image.hash_key, image.tags) == (hash_key(sha), ("b",))


def test_an_image_outside_its_manifest_is_unmanaged() -> None:
    metadata = encode_manifest(_pairs(5))
    stranger = {"id": str(uuid.UUID(int=999_999)), "tags": None, "metadata": metadata}
    assert _image(stranger, {}).hash_key is None


def test_a_tag_without_a_name_is_named_from_the_project_tags() -> None:
    raw = {"id": str(uuid.UUID(int=1)), "tags": [{"tagId": "t1"}], "metadata": None}
    assert _image(raw, {"t1": "seven"}).tags == ("seven",)
