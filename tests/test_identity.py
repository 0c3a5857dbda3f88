"""Identity kept in the service: the image manifest and iteration fingerprints."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import uuid

import pytest

from cvspec import ops
from cvspec.identity import (
    HASH_CHARS,
    MARKER_KEY,
    base_iteration_name,
    dataset_iteration_name,
    decode_identity,
    encode_manifest,
    failed_gates,
    failed_iteration_name,
    fingerprint,
    gates_key,
    hash_key,
    iteration_fingerprint,
    iteration_name,
    manifest_entries,
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


def test_the_manifest_packs_eight_records_per_value_of_256_characters() -> None:
    metadata = encode_manifest(reversed(_pairs(9)))  # any order: records are sorted by id
    assert list(metadata) == [MARKER_KEY, "cvspec.m0", "cvspec.m1"]
    assert metadata[MARKER_KEY] == "1"
    assert len(metadata["cvspec.m0"]) == 256 and len(metadata["cvspec.m1"]) == 32
    assert metadata == encode_manifest(_pairs(9))
    full = encode_manifest(_pairs(64))
    assert len(full) == 9 and all(len(v) == 256 for k, v in full.items() if k != MARKER_KEY)
    with pytest.raises(ValueError, match="a manifest holds at most 64 images"):
        encode_manifest(_pairs(65))


@pytest.mark.parametrize("n", [1, 8, 9, 64])
def test_manifest_entries_lists_every_image_by_its_canonical_id(n: int) -> None:
    pairs = _pairs(n)
    entries = manifest_entries(encode_manifest(pairs))
    assert entries == {i: sha[:HASH_CHARS] for i, sha in pairs}
    assert all(i == str(uuid.UUID(i)) for i in entries)


def test_a_manifest_without_the_marker_or_with_another_value_lists_nothing() -> None:
    metadata = encode_manifest(_pairs(2))
    assert manifest_entries(None) == {} and manifest_entries({}) == {}
    assert manifest_entries({**metadata, MARKER_KEY: "2"}) == {}
    assert decode_identity(_pairs(1)[0][0], {**metadata, MARKER_KEY: "2"}) is None


def test_a_damaged_value_loses_only_its_own_records() -> None:
    pairs = _pairs(9)
    metadata = encode_manifest(pairs)
    last_id, last_sha = sorted(pairs)[-1]  # alone in the second value
    short = base64.urlsafe_b64decode(metadata["cvspec.m1"])[:-1]  # its record, a byte short
    cut = {**metadata, "cvspec.m1": base64.urlsafe_b64encode(short).decode()}
    assert decode_identity(last_id, cut) is None
    assert last_id not in manifest_entries(cut)
    assert len(manifest_entries(cut)) == 8
    broken = {**metadata, "cvspec.m0": "not base64!"}
    assert manifest_entries(broken) == {last_id: last_sha[:HASH_CHARS]}
    assert decode_identity(last_id, broken) == last_sha[:HASH_CHARS]


def test_the_hash_key_is_the_first_16_hex_characters() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert hash_key(sha) == sha[:16] and HASH_CHARS == 16


def test_a_fingerprint_is_12_hex_characters_of_the_sorted_compact_json() -> None:
    value = {"b": 1, "a": [1, "x"]}
    text = '{"a":[1,"x"],"b":1}'
    assert fingerprint(value) == hashlib.sha256(text.encode()).hexdigest()[:12]


def test_a_dataset_name_depends_on_the_images_and_settings_not_their_order() -> None:
    settings = json.dumps({"domain": "General", "tags": [["a", "Regular"]]})
    images = [("k1", ("a",)), ("k2", ("b",))]
    name = dataset_iteration_name(settings, images)
    assert name == iteration_name(fingerprint({**json.loads(settings), "images": images}))
    assert name.startswith("cvspec-") and len(name) == len("cvspec-") + 12
    assert dataset_iteration_name(settings, list(reversed(images))) == name
    assert dataset_iteration_name(settings, [("k1", ("b",)), ("k2", ("b",))]) != name
    assert dataset_iteration_name(settings.replace("General", "Food"), images) != name


def test_a_gate_failure_is_recorded_in_the_name_and_read_back() -> None:
    gates = ops.Gates(min_precision=0.9)
    key = gates_key(gates)
    assert key == gates_key(dataclasses.asdict(gates)) and len(key) == 8
    assert key != gates_key(ops.Gates(min_precision=0.8))
    failed = failed_iteration_name("cvspec-abc123", key)
    assert failed == f"cvspec-abc123-failed-{key}"
    assert failed_iteration_name(failed, "other") == "cvspec-abc123-failed-other"
    assert base_iteration_name(failed) == "cvspec-abc123"
    assert iteration_fingerprint(failed) == "abc123"
    assert failed_gates(failed) == key
    assert failed_gates("cvspec-abc123") is None
    assert failed_gates("Iteration 1-failed-x") is None  # not cvspec's
    twice = "cvspec-abc123-failed-x-failed-y"  # only the first record counts
    assert base_iteration_name(twice) == "cvspec-abc123" and failed_gates(twice) == "x-failed-y"
