"""A folder next to the spec's, whose name starts with the spec folder's name
(`../project-private/` beside `project/`), is outside the spec's directory: every way of
reaching it is refused (a manifest row, the manifest itself, a symlinked file or folder),
and `allow_outside: true` lets it in. Then what else a source can get wrong: manifest rows
that are not files, an empty manifest, excluded rows, and the tags of refused files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cvspec.errors import SpecError
from cvspec.spec import load_and_validate

from .conftest import BASIC_SPEC, write_image

WriteSpec = Callable[..., Path]
HINT = "set allow_outside: true to allow it"
MULTILABEL = BASIC_SPEC.replace("multiclass", "multilabel")


@pytest.fixture
def private(project: Path) -> Path:
    """`project-private/`, beside the spec's `project/` folder, with one image."""
    folder = project.parent / f"{project.name}-private"
    write_image(folder / "secret.png")
    return folder


def _problems(write_spec: WriteSpec, text: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(text))
    return raised.value.problems


def test_a_manifest_row_into_a_sibling_with_the_same_prefix_is_refused(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (project / "labels.csv").write_text(f"path,tags\n../{private.name}/secret.png,cat\n")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    problems = _problems(write_spec, spec)
    assert len(problems) == 1
    assert problems[0].startswith("labels.csv:2: ../project-private/secret.png: leads outside")
    assert problems[0].endswith(HINT)


def test_a_manifest_in_a_sibling_with_the_same_prefix_is_refused(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (private / "labels.csv").write_text("path,tags\nsecret.png,cat\n")
    spec = MULTILABEL.replace("images: [", f"images: [{{manifest: ../{private.name}/labels.csv}}, ")
    assert _problems(write_spec, spec) == [
        "spec.yaml:4:21: images[0].manifest: '../project-private/labels.csv' leaves the "
        f"spec's directory; {HINT}"
    ]


def test_a_symlinked_file_into_a_sibling_with_the_same_prefix_is_refused(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (project / "images" / "cat" / "link.png").symlink_to(private / "secret.png")
    (problem,) = _problems(write_spec, BASIC_SPEC)
    assert problem.startswith("images/cat/link.png: leads outside the spec's directory")
    assert "project-private/secret.png" in problem and problem.endswith(HINT)


def test_a_symlinked_folder_into_a_sibling_with_the_same_prefix_is_refused(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (project / "images" / "bird").symlink_to(private)
    spec = BASIC_SPEC.replace("{name: dog}]", "{name: dog}, {name: bird}]")
    (problem,) = _problems(write_spec, spec)
    assert problem.startswith("images/bird: symlinked folder leads outside")
    assert problem.endswith(f"(to {private}); {HINT}")


def test_allow_outside_lets_the_sibling_in(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (project / "labels.csv").write_text(f"path,tags\n../{private.name}/secret.png,cat\n")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    images = load_and_validate(write_spec("allow_outside: true\n" + spec)).images
    assert len(images) == 11


def test_manifest_rows_that_are_not_files_are_named_with_their_line(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "gone.png").symlink_to(project / "nowhere.png")
    (project / "labels.csv").write_text(
        "path,tags\nimages/cat/0.png,cat\nmissing.png,cat\nimages,cat\ngone.png,cat\n"
    )
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    assert _problems(write_spec, spec) == [
        "labels.csv:3: missing.png: file not found",
        "labels.csv:4: images: not a file",
        "labels.csv:5: gone.png: broken symlink",
    ]


def test_an_empty_manifest_and_excluded_rows(write_spec: WriteSpec, project: Path) -> None:
    (project / "empty.csv").write_text("path,tags\n")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: empty.csv}, ")
    assert _problems(write_spec, spec) == [
        "spec.yaml:4:21: images[0].manifest: manifest 'empty.csv' lists no images"
    ]
    (project / "some.csv").write_text(
        "path,tags\nimages/cat/0.png,indoor\nimages/dog/0.png,indoor\n"
    )
    spec = MULTILABEL.replace(
        "images: [", 'images: [{manifest: some.csv, exclude: ["images/dog/*"]}, '
    ).replace(
        "tags: [{name: cat}, {name: dog}]", "tags: [{name: cat}, {name: dog}, {name: indoor}]"
    )
    with pytest.raises(SpecError) as raised:
        load_and_validate(write_spec(spec))
    assert raised.value.problems == [
        "spec.yaml:3:41: tags[2].name: tag 'indoor' has 1 image; training needs at least 5 per tag"
    ]


def test_the_tags_of_refused_files_are_not_also_reported_short(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    for n in range(5):
        write_image(private / "bird" / f"{n}.png")
    (project / "images" / "bird").symlink_to(private / "bird")
    spec = BASIC_SPEC.replace("{name: dog}]", "{name: dog}, {name: bird}]")
    (problem,) = _problems(write_spec, spec)  # no "tag 'bird' has 0 images" as well
    assert problem.startswith("images/bird: symlinked folder leads outside")


def test_a_symlinked_manifest_leading_outside_is_refused(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    (private / "labels.csv").write_text("path,tags\nimages/cat/0.png,cat\n")
    (project / "labels.csv").symlink_to(private / "labels.csv")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    assert _problems(write_spec, spec) == [
        f"spec.yaml:4:21: images[0].manifest: 'labels.csv' leaves the spec's directory; {HINT}"
    ]


def test_two_sources_with_only_refused_files_are_each_reported_once(
    write_spec: WriteSpec, project: Path, private: Path
) -> None:
    write_image(private / "other.png")
    for folder, target in (("extra", "secret.png"), ("more", "other.png")):
        (project / folder).mkdir()
        (project / folder / "link.png").symlink_to(private / target)
    spec = MULTILABEL.replace(
        "images: [", 'images: [{path: "extra/*.png", tags: [cat]}, {path: "more/*.png"}, '
    )
    problems = _problems(write_spec, spec)  # and no "matches no files" for either
    assert [p.split(":")[0] for p in problems] == ["extra/link.png", "more/link.png"]
    assert all("leads outside the spec's directory" in p for p in problems)


@pytest.mark.parametrize("pattern", ["..", "../*.png"])
def test_a_pattern_that_leaves_is_refused_before_globbing(
    write_spec: WriteSpec, pattern: str
) -> None:
    spec = MULTILABEL.replace("images: [", f'images: [{{path: "{pattern}", tags: [cat]}}, ')
    assert _problems(write_spec, spec) == [
        f"spec.yaml:4:17: images[0].path: {pattern!r} leaves the spec's directory; {HINT}"
    ]


def test_an_absolute_pattern_is_refused_unless_allowed_then_globbed_from_the_root(
    write_spec: WriteSpec, private: Path
) -> None:
    pattern = f"{private}/*.png"
    spec = MULTILABEL.replace("images: [", f'images: [{{path: "{pattern}", tags: [cat]}}, ')
    assert _problems(write_spec, spec) == [
        f"spec.yaml:4:17: images[0].path: {pattern!r} leaves the spec's directory; {HINT}"
    ]
    images = load_and_validate(write_spec("allow_outside: true\n" + spec)).images
    assert [i.tags for i in images if i.path is not None and i.path.parent == private] == [("cat",)]


def test_a_folder_or_broken_link_matched_by_a_glob_is_skipped_and_its_tag_counted_short(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "images" / "cat" / "0.png").unlink()
    (project / "images" / "cat" / "folder.png").mkdir()
    (project / "images" / "cat" / "gone.png").symlink_to(project / "nowhere.png")
    assert _problems(write_spec, BASIC_SPEC) == [
        "images/cat/gone.png: broken symlink",
        "spec.yaml:3:15: tags[0].name: tag 'cat' has 4 images; training needs at least 5 per tag",
    ]


def test_urls_after_files_and_undeclared_tags_of_every_kind_of_source(
    write_spec: WriteSpec, project: Path
) -> None:
    spec = MULTILABEL.replace(
        '"images/{tag}/*.png"}]', '"images/{tag}/*.png"}, {urls: ["https://example.com/a.jpg"]}]'
    )
    assert spec != MULTILABEL
    assert len(load_and_validate(write_spec(spec)).images) == 11  # the 10 files, then the URL
    (project / "labels.csv").write_text("path,tags\nimages/cat/0.png,bird\n")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    assert _problems(write_spec, spec) == [
        "spec.yaml:4:21: images[0].manifest: tag 'bird' is not in tags"
    ]
    spec = MULTILABEL.replace(
        "images: [", 'images: [{urls: ["https://example.com/b.jpg"], tags: [bird]}, '
    )
    assert _problems(write_spec, spec) == [
        "spec.yaml:4:55: images[0].tags[0]: tag 'bird' is not in tags"
    ]


def test_manifest_exclusions_are_relative_to_the_spec_folder_not_the_current_one(
    project: Path,
) -> None:
    sub = project / "sub"
    for tag in ("cat", "dog"):
        for n in range(5):
            write_image(sub / "images" / tag / f"{n}.png")
    write_image(sub / "images" / "dog" / "extra.png")
    (sub / "labels.csv").write_text("path,tags\nimages/dog/extra.png,cat\n")
    spec = BASIC_SPEC.replace(
        "images: [", 'images: [{manifest: labels.csv, exclude: ["images/dog/*"]}, '
    )
    (sub / "spec.yaml").write_text(spec)
    images = load_and_validate(sub / "spec.yaml").images  # from project/, not sub/
    assert len(images) == 11 and all(i.tags != ("cat", "dog") for i in images)


def test_a_manifest_the_csv_reader_refuses_is_named_with_the_reason(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "labels.csv").write_text("path,tags\n" + "x" * 200_000 + ",cat\n")
    spec = MULTILABEL.replace("images: [", "images: [{manifest: labels.csv}, ")
    (problem,) = _problems(write_spec, spec)
    assert problem == (
        "spec.yaml:4:21: images[0].manifest: cannot read manifest 'labels.csv': "
        "field larger than field limit (131072)"
    )


def test_a_spec_folder_whose_name_ends_with_a_space_is_still_inside(project: Path) -> None:
    folder = project / "trailing "
    for tag in ("cat", "dog"):
        for n in range(5):
            write_image(folder / f"{tag}{n}.png")
    spec = BASIC_SPEC.replace(
        'images: [{path: "images/{tag}/*.png"}]',
        'images: [{path: "cat*.png", tags: [cat]}, {path: "dog*.png", tags: [dog]}]',
    )
    (folder / "spec.yaml").write_text(spec)
    assert len(load_and_validate(folder / "spec.yaml").images) == 10
