"""Image sources resolve to the expected images: folder-per-tag, globs, manifests, URLs."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cvspec.errors import SpecError
from cvspec.spec import ResolvedImage, checks, load_and_validate, load_spec, resolve_images

from .conftest import BASIC_SPEC, write_image

HEAD = """\
version: 1
project: {name: pets, classification: multilabel}
tags: [{name: cat}, {name: dog}, {name: indoor}]
training: null
"""

WriteSpec = Callable[..., Path]


def _by_file(images: tuple[ResolvedImage, ...]) -> dict[str, tuple[str, ...]]:
    return {
        image.path.relative_to(Path.cwd()).as_posix(): image.tags
        for image in images
        if image.path is not None
    }


def test_basic_spec__resolves_folder_per_tag(write_spec: WriteSpec) -> None:
    validated = load_and_validate(write_spec(BASIC_SPEC))
    assert len(validated.images) == 10
    assert [i.sha256 for i in validated.images] == sorted(i.sha256 for i in validated.images)
    assert _by_file(validated.images)["images/cat/3.png"] == ("cat",)
    assert validated.base_dir == validated.path.parent
    first = validated.images[0]
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()  # type: ignore[union-attr]


def test_glob_with_tags__adds_tags_to_folder_tags(write_spec: WriteSpec) -> None:
    spec = (
        HEAD
        + 'images:\n  - {path: "images/{tag}/*.png"}\n'
        + '  - {path: "images/cat/[01].png", tags: [indoor]}\n'
    )
    images = _by_file(load_and_validate(write_spec(spec)).images)
    assert images["images/cat/0.png"] == ("cat", "indoor")
    assert images["images/cat/2.png"] == ("cat",)


def test_recursive_glob__matches_nested_folders(write_spec: WriteSpec, project: Path) -> None:
    write_image(project / "more" / "a" / "b" / "x.png")
    spec = HEAD + 'images:\n  - {path: "more/**/*.png", tags: [indoor]}\n'
    assert _by_file(load_and_validate(write_spec(spec)).images) == {"more/a/b/x.png": ("indoor",)}


def test_same_content_twice__merges_tags_in_multilabel(
    write_spec: WriteSpec, project: Path
) -> None:
    shutil.copy(project / "images/cat/0.png", project / "images/dog/9.png")
    validated = load_and_validate(write_spec(HEAD + 'images: [{path: "images/{tag}/*.png"}]\n'))
    assert len(validated.images) == 10
    merged = [i for i in validated.images if len(i.tags) == 2]
    assert [(i.path, i.tags) for i in merged] == [(project / "images/cat/0.png", ("cat", "dog"))]


def test_exclude__per_source_and_global(write_spec: WriteSpec) -> None:
    spec = (
        HEAD
        + 'exclude: ["images/dog/4.png"]\n'
        + 'images:\n  - {path: "images/{tag}/*.png", exclude: ["images/cat/[0-2].png"]}\n'
    )
    images = _by_file(load_and_validate(write_spec(spec)).images)
    assert sorted(images) == [
        "images/cat/3.png",
        "images/cat/4.png",
        "images/dog/0.png",
        "images/dog/1.png",
        "images/dog/2.png",
        "images/dog/3.png",
    ]


def test_csv_manifest__paths_relative_to_manifest(write_spec: WriteSpec, project: Path) -> None:
    (project / "labels").mkdir()
    (project / "labels" / "all.csv").write_text(
        "path,tags\n../images/cat/0.png,cat;indoor\n../images/dog/0.png,dog\n"
    )
    spec = HEAD + "images: [{manifest: labels/all.csv}]\n"
    assert _by_file(load_and_validate(write_spec(spec)).images) == {
        "images/cat/0.png": ("cat", "indoor"),
        "images/dog/0.png": ("dog",),
    }


def test_jsonl_manifest__with_source_tags(write_spec: WriteSpec, project: Path) -> None:
    (project / "labels.jsonl").write_text(
        '{"path": "images/cat/1.png", "tags": ["cat"]}\n\n'
        '{"path": "images/dog/1.png", "tags": "dog"}\n'
    )
    spec = HEAD + "images: [{manifest: labels.jsonl, tags: [indoor]}]\n"
    assert _by_file(load_and_validate(write_spec(spec)).images) == {
        "images/cat/1.png": ("cat", "indoor"),
        "images/dog/1.png": ("dog", "indoor"),
    }


def test_urls__resolve_without_fetching(write_spec: WriteSpec) -> None:
    spec = (
        HEAD
        + 'images:\n  - urls: ["https://example.com/a.jpg", "http://example.com/b.png"]\n'
        + "    tags: [cat]\n"
    )
    images = load_and_validate(write_spec(spec)).images
    assert {(i.url, i.path, i.tags) for i in images} == {
        ("https://example.com/a.jpg", None, ("cat",)),
        ("http://example.com/b.png", None, ("cat",)),
    }
    assert {i.sha256 for i in images} == {
        hashlib.sha256(b"https://example.com/a.jpg").hexdigest(),
        hashlib.sha256(b"http://example.com/b.png").hexdigest(),
    }


def test_allow_outside__accepts_parent_and_symlink(write_spec: WriteSpec, project: Path) -> None:
    outside = write_image(project.parent / "shared" / "x.png")
    (project / "images" / "cat" / "link.png").symlink_to(outside)
    spec = (
        HEAD
        + 'allow_outside: true\nimages:\n  - {path: "images/{tag}/*.png"}\n'
        + '  - {path: "../shared/*.png", tags: [indoor]}\n'
    )
    images = load_and_validate(write_spec(spec)).images
    assert len(images) == 11  # the symlink has the same content as ../shared/x.png: merged
    assert _by_file(images)["images/cat/link.png"] == ("cat", "indoor")


def test_symlink_inside__is_allowed(write_spec: WriteSpec, project: Path) -> None:
    (project / "alias").symlink_to(project / "images")
    spec = HEAD + 'images: [{path: "alias/{tag}/*.png"}]\n'
    assert len(load_and_validate(write_spec(spec)).images) == 10


def test_negative_tag_alone__is_valid(write_spec: WriteSpec, project: Path) -> None:
    for index in range(5):
        write_image(project / "images" / "none" / f"{index}.png")
    spec = BASIC_SPEC.replace("{name: dog}]", "{name: dog}, {name: none, type: negative}]")
    validated = load_and_validate(write_spec(spec))
    assert sum(i.tags == ("none",) for i in validated.images) == 5


def test_env_interpolation__fills_values(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/p"
    monkeypatch.setenv("CVSPEC_PREDICTION_RESOURCE_ID", resource)
    text = BASIC_SPEC + (
        "publish:\n  name: ${PUBLISH_NAME:-pets-model}\n"
        "  prediction_resource: ${CVSPEC_PREDICTION_RESOURCE_ID}\n"
    )
    spec = load_spec(write_spec(text.replace("name: pets,", "name: pets $$1,")))
    assert spec.publish is not None
    assert spec.publish.prediction_resource == resource
    assert spec.publish.name == "pets-model"
    assert spec.project.name == "pets $1"


def test_env_interpolation__explicit_environ(write_spec: WriteSpec) -> None:
    path = write_spec(BASIC_SPEC.replace("name: pets,", 'name: "${NAME}",'))
    assert load_spec(path, environ={"NAME": "fromenv"}).project.name == "fromenv"


def test_resolve_images__public_function(project: Path, write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec(BASIC_SPEC))
    images = resolve_images(spec, project)
    assert len(images) == 10
    (project / "images/cat/0.png").write_bytes(b"")
    with pytest.raises(SpecError) as raised:
        resolve_images(spec, project)
    assert raised.value.problems == ["images/cat/0.png: empty file (0 bytes)"]


def test_paths_outside_cwd__are_shown_absolute(
    write_spec: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_spec(BASIC_SPEC.replace("domain: General", "domain: Nope"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems[0].startswith(f"{path}:2:")


def test_unreadable_spec__names_the_file(project: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(project / "missing.yaml")
    assert raised.value.problems == ["missing.yaml: cannot read spec: No such file or directory"]


def test_domain_by_guid_and_any_case(write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec(BASIC_SPEC.replace("domain: General", "domain: general (COMPACT)")))
    assert spec.project.domain_id == "0732100f-1a38-4e49-a514-c9b44c697ab5"
    guid = "2E37D7FB-3A54-486A-B4D6-CFC369AF0018"
    spec = load_spec(write_spec(BASIC_SPEC.replace("domain: General", f"domain: {guid}")))
    assert spec.project.domain_id == guid.lower()


def test_directory_symlink_escape__is_refused(
    write_spec: WriteSpec, project: Path, tmp_path: Path
) -> None:
    write_image(tmp_path / "elsewhere" / "x.png")
    (project / "images" / "bird").symlink_to(tmp_path / "elsewhere")
    spec = BASIC_SPEC.replace("{name: dog}]", "{name: dog}, {name: bird}]")
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(spec))
    assert raised.value.problems == [  # once, for the folder: no cascade about its files
        f"images/bird: symlinked folder leads outside the spec's directory (to {tmp_path}/"
        "elsewhere); set allow_outside: true to allow it",
    ]


def test_tier_image_limit(write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checks.TIER_LIMITS, "F0", checks.TierLimits(tags=50, images=8))
    spec = BASIC_SPEC.replace("version: 1\n", "version: 1\ntier: F0\n")
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(spec))
    assert raised.value.problems == [
        "spec.yaml:5:9: images: 10 images is over the F0 tier's limit of 8"
    ]


def test_spec_in_subfolder__paths_relative_to_cwd(project: Path) -> None:
    specs = project / "specs"
    shutil.copytree(project / "images", specs / "images")
    (specs / "images/dog/0.png").write_bytes(b"")
    (specs / "pets.yaml").write_text(BASIC_SPEC.replace("name: dog", "name: Dog"))
    with pytest.raises(SpecError) as raised:
        load_and_validate(Path("specs/pets.yaml"))
    assert raised.value.problems == [
        "specs/images/dog/0.png: empty file (0 bytes)",
        "specs/pets.yaml:4:17: images[0].path: tag 'dog' is not in tags"
        " (did you mean 'Dog'? tag names are case-sensitive here)",
        "specs/pets.yaml:3:28: tags[1].name: tag 'Dog' has 0 images; training needs at least 5"
        " per tag",
        "specs/pets.yaml:5:11: training: training needs at least 2 tags with images, found 1",
    ]


def test_extensions__match_in_any_case(write_spec: WriteSpec, project: Path) -> None:
    write_image(project / "images" / "cat" / "IMG_1234.JPG", fmt="JPEG")
    write_image(project / "images" / "dog" / "photo.Png")
    write_image(project / "images" / "dog" / "skip.PNG")
    spec = BASIC_SPEC.replace(
        'images: [{path: "images/{tag}/*.png"}]',
        'images: [{path: "images/{tag}/*.png", exclude: ["**/skip.png"]},'
        ' {path: "images/cat/*.jpg", tags: [cat]}]',
    )
    images = load_and_validate(write_spec(spec)).images
    found = _by_file(images)
    assert found["images/cat/IMG_1234.JPG"] == ("cat",)
    assert found["images/dog/photo.Png"] == ("dog",)
    assert "images/dog/skip.PNG" not in found  # exclude globs ignore the extension's case too
    assert len(found) == 12
