"""Spec checks at their edges (cvspec.spec.checks): tier limits at exactly the limit, the
index of the first negative tag, and multiclass images listed in a stable order, files
before URLs, with their tags."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from cvspec.errors import SpecError
from cvspec.spec import checks, load_and_validate

from .conftest import BASIC_SPEC, write_image

WriteSpec = Callable[..., Path]


def _problems(write_spec: WriteSpec, text: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(text))
    return raised.value.problems


def test_tier_limits_allow_exactly_the_limit(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(checks.TIER_LIMITS, "F0", checks.TierLimits(tags=2, images=10))
    spec = BASIC_SPEC.replace("version: 1\n", "version: 1\ntier: F0\n")
    assert len(load_and_validate(write_spec(spec)).images) == 10  # 2 tags, 10 images
    monkeypatch.setitem(checks.TIER_LIMITS, "F0", checks.TierLimits(tags=1, images=10))
    assert _problems(write_spec, spec) == [
        "spec.yaml:4:7: tags: 2 tags is over the F0 tier's limit of 1"
    ]
    monkeypatch.setitem(checks.TIER_LIMITS, "F0", checks.TierLimits(tags=2, images=9))
    assert _problems(write_spec, spec) == [
        "spec.yaml:5:9: images: 10 images is over the F0 tier's limit of 9"
    ]


def test_a_second_negative_tag_names_the_first(write_spec: WriteSpec) -> None:
    spec = BASIC_SPEC.replace(
        "tags: [{name: cat}, {name: dog}]",
        "tags: [{name: cat}, {name: dog}, {name: n1, type: negative}, {name: n2, type: negative}]",
    )
    problems = _problems(write_spec, spec)
    assert "tags[3].type: a project has at most one negative tag; tags[2] is negative already" in (
        " ".join(problems)
    )


def _against_hash_order(names: list[str], content: Callable[[str], bytes]) -> tuple[str, str]:
    """Two names whose sorted order is the opposite of their contents' sha256 order (images
    are resolved in hash order; the problems must still come in path order)."""
    for first, second in itertools.combinations(sorted(names), 2):
        if hashlib.sha256(content(first)).digest() > hashlib.sha256(content(second)).digest():
            return first, second
    raise AssertionError("no pair against the hash order")


def test_multiclass_images_with_several_tags_are_listed_files_first_then_urls(
    write_spec: WriteSpec, project: Path
) -> None:
    files = {f"extra/x{n}.png": write_image(project / f"extra/x{n}.png") for n in range(6)}
    f1, f2 = _against_hash_order(list(files), lambda name: files[name].read_bytes())
    urls = [f"https://example.com/{n}.jpg" for n in range(6)]
    u1, u2 = _against_hash_order(urls, str.encode)
    (project / "labels.csv").write_text(f"path,tags\n{f2},cat;dog\n{f1},cat;dog\n")
    spec = BASIC_SPEC.replace(
        'images: [{path: "images/{tag}/*.png"}]',
        "images:\n"
        f'  - {{urls: ["{u2}", "{u1}"], tags: [cat, dog]}}\n'
        '  - {path: "images/{tag}/*.png"}\n'
        "  - {manifest: labels.csv}\n",
    )
    two = "has 2 tags ('cat', 'dog'); a multiclass image has exactly one"
    assert _problems(write_spec, spec) == [
        f"{f1}: {two}",
        f"{f2}: {two}",
        f"{u1}: {two}",
        f"{u2}: {two}",
    ]
