"""The hash cache: a run with nothing changed reads no image bytes; a changed file is re-read."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from cvspec.errors import SpecError
from cvspec.spec import hashcache, imagecheck, load_and_validate
from cvspec.spec.hashcache import FileFacts, FileKey, HashCache
from cvspec.spec.imagecheck import ImageFacts, inspect_image
from tests import badimages

from .conftest import BASIC_SPEC, age, write_image

WriteSpec = Callable[..., Path]


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file whose bytes are read, in order."""
    reads: list[str] = []
    real = hashcache.read_facts

    def counting(key: FileKey) -> FileFacts:
        reads.append(os.path.relpath(key.path))
        return real(key)

    monkeypatch.setattr(hashcache, "read_facts", counting)
    return reads


def _digests(path: Path) -> dict[str, str]:
    images = load_and_validate(path).images
    return {os.path.relpath(str(i.path)): i.sha256 for i in images}


def test_warm_run__reads_no_image_bytes(write_spec: WriteSpec, count_reads: list[str]) -> None:
    spec = write_spec(BASIC_SPEC)
    cold = _digests(spec)
    assert len(count_reads) == 10
    assert (spec.parent / ".cvspec" / "hash-cache.sqlite").is_file()
    count_reads.clear()
    assert _digests(spec) == cold
    assert count_reads == []


def test_changed_file__is_hashed_again(
    write_spec: WriteSpec, project: Path, count_reads: list[str]
) -> None:
    spec = write_spec(BASIC_SPEC)
    before = _digests(spec)
    write_image(project / "images/cat/2.png", size=(80, 60))
    age(project / "images/cat/2.png", seconds=60)
    count_reads.clear()
    after = _digests(spec)
    assert count_reads == ["images/cat/2.png"]
    assert after["images/cat/2.png"] != before["images/cat/2.png"]


def test_same_size_new_mtime__is_hashed_again(
    write_spec: WriteSpec, project: Path, count_reads: list[str]
) -> None:
    spec = write_spec(BASIC_SPEC)
    _digests(spec)
    age(project / "images/dog/1.png", seconds=100)
    count_reads.clear()
    _digests(spec)
    assert count_reads == ["images/dog/1.png"]


def test_bad_image_verdict__is_cached(
    write_spec: WriteSpec, project: Path, count_reads: list[str]
) -> None:
    (project / "images/cat/5.png").write_bytes(b"not an image at all")
    age(project / "images/cat/5.png")
    spec = write_spec(BASIC_SPEC)
    for _ in range(2):
        with pytest.raises(SpecError) as raised:
            load_and_validate(spec)
        assert raised.value.problems == [
            "images/cat/5.png: not an image (the service accepts JPEG, PNG, BMP and GIF)"
        ]
    assert len(count_reads) == 11  # every file read once, in the first run only
    assert count_reads.count("images/cat/5.png") == 1


def test_undecodable_verdict__is_cached(
    write_spec: WriteSpec, project: Path, count_reads: list[str]
) -> None:
    """The decode runs when a file is new to the cache; a warm run decodes nothing."""
    (project / "images/cat/5.png").write_bytes(badimages.png_garbage_idat())
    age(project / "images/cat/5.png")
    spec = write_spec(BASIC_SPEC)
    for _ in range(2):
        with pytest.raises(SpecError) as raised:
            load_and_validate(spec)
        assert raised.value.problems == [
            "images/cat/5.png: corrupt PNG (the pixel data cannot be decoded)"
        ]
    assert count_reads.count("images/cat/5.png") == 1


def test_cache_from_before_decoding__is_rebuilt(
    write_spec: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verdicts taken without a decode (schema 1) are not trusted: the file is decoded."""
    (project / "images/cat/5.png").write_bytes(badimages.png_garbage_idat())
    age(project / "images/cat/5.png")
    spec = write_spec(BASIC_SPEC)
    with monkeypatch.context() as patch:
        patch.setattr(imagecheck, "DECODE", False)
        assert len(load_and_validate(spec).images) == 11  # header and CRCs are right
    connection = sqlite3.connect(spec.parent / ".cvspec" / "hash-cache.sqlite")
    connection.execute("PRAGMA user_version = 1")
    connection.close()
    with pytest.raises(SpecError) as raised:
        load_and_validate(spec)
    assert raised.value.problems == [
        "images/cat/5.png: corrupt PNG (the pixel data cannot be decoded)"
    ]


def test_fresh_file__is_not_persisted(tmp_path: Path) -> None:
    image = write_image(tmp_path / "new.png")
    info = image.stat()
    cache = HashCache(tmp_path / "cache.sqlite")
    key = FileKey(str(image), info.st_size, info.st_mtime_ns)
    cache.put(key, hashcache.read_facts(key))
    assert cache.get(key) is not None  # usable in this run ...
    cache.save()
    assert HashCache(tmp_path / "cache.sqlite").get(key) is None  # ... but not trusted later


def test_corrupt_cache__is_ignored(write_spec: WriteSpec, project: Path) -> None:
    (project / ".cvspec").mkdir()
    (project / ".cvspec" / "hash-cache.sqlite").write_bytes(b"garbage" * 100)
    assert len(_digests(write_spec(BASIC_SPEC))) == 10


def test_no_cache__writes_nothing(write_spec: WriteSpec, project: Path) -> None:
    assert len(load_and_validate(write_spec(BASIC_SPEC), use_cache=False).images) == 10
    assert not (project / ".cvspec").exists()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF"])
def test_inspect_image__accepts_service_formats(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path, fmt)
    assert inspect_image(path.read_bytes()) == ImageFacts(fmt, 300, 200, "")


def test_inspect_image__truncated_bmp(tmp_path: Path) -> None:
    path = tmp_path / "x.bmp"
    Image.new("RGB", (300, 200)).save(path, "BMP")
    facts = inspect_image(path.read_bytes()[:-100])
    assert facts.defect == "truncated BMP (shorter than its header says)"


def test_unreadable_file__is_a_problem_not_a_crash(
    write_spec: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = open

    def failing_open(path: str, *args: object, **kwargs: object) -> object:
        if str(path).endswith("cat/3.png"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(BASIC_SPEC))
    assert raised.value.problems == [
        "images/cat/3.png: cannot read: Permission denied",
        "spec.yaml:3:15: tags[0].name: tag 'cat' has 4 images; training needs at least 5 per tag",
    ]
