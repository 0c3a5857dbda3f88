"""A folder next to the spec's, whose name starts with the spec folder's name
(`../project-private/` beside `project/`), is outside the spec's directory: every way of
reaching it is refused (a manifest row, the manifest itself, a symlinked file or folder),
and `allow_outside: true` lets it in."""

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
    (problem,) = _problems(write_spec, spec)
    assert "'../project-private/labels.csv' leaves the spec's directory" in problem


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
