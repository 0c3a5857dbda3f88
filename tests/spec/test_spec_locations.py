"""Where problems point: YAML positions (block, flow, anchors) and displayed paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cvspec.spec.problems import display_path, field_path
from cvspec.spec.yamldoc import Position, parse_yaml

from .conftest import write_image


def test_positions__block_and_flow() -> None:
    doc = parse_yaml("a:\n  b: [1, {c: x}]\n  d: 2\n")
    assert doc.values[("a", "b", 1, "c")] == Position(2, 14)
    assert doc.keys[("a", "d")] == Position(3, 3)
    assert doc.position(("a", "missing", 0)) == Position(2, 3)  # nearest written ancestor
    assert doc.position(()) == Position(1, 1)


def test_positions__aliases_point_at_the_anchor() -> None:
    doc = parse_yaml("base: &b {x: 1}\nother: *b\n")
    assert doc.data == {"base": {"x": 1}, "other": {"x": 1}}
    assert doc.values[("other", "x")] == doc.values[("base", "x")] == Position(1, 14)


def test_recursive_alias__does_not_loop() -> None:
    doc = parse_yaml("a: &a [*a]\n")
    assert doc.values[("a",)] == Position(1, 4)


def test_duplicate_keys__with_first_line() -> None:
    doc = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert doc.data == {"a": 3, "b": 2}
    assert doc.duplicate_keys == [(("a",), 1)]


def test_field_path() -> None:
    assert field_path(("images", 0, "urls", 2)) == "images[0].urls[2]"
    assert field_path(()) == "(root)"


def test_field_path__keys_that_would_break_the_line_are_quoted() -> None:
    assert field_path(("gates", "per_tag", "a\nb", "min_recall")) == (
        'gates.per_tag["a\\nb"].min_recall'
    )
    assert field_path(("gates", "per_tag", "\x07")) == 'gates.per_tag["\\u0007"]'
    assert field_path(("tags", 0, "name")) == "tags[0].name"


def test_display_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "a" / "b.png") == os.path.join("a", "b.png")
    assert display_path("a/../b.png") == "b.png"
    assert display_path("../x.png") == str(tmp_path.parent / "x.png")
    assert display_path("/etc/hosts") == "/etc/hosts"


def test_display_path__deleted_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert display_path("/abs/x.png") == "/abs/x.png"


def test_unicode_file_names(project: Path) -> None:
    from cvspec.spec import load_and_validate

    write_image(project / "images" / "chat noir" / "été.png")
    spec = project / "spec.yaml"
    spec.write_text(
        "version: 1\nproject: {name: pets, classification: multilabel}\n"
        'tags: [{name: "chat noir"}]\nimages: [{path: "images/chat noir/*.png", '
        'tags: ["chat noir"]}]\ntraining: null\n',
        encoding="utf-8",
    )
    (image,) = load_and_validate(spec).images
    assert image.path == project / "images" / "chat noir" / "été.png"
    assert image.tags == ("chat noir",)
