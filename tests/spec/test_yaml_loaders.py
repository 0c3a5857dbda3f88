"""The spec's YAML is read by libyaml when PyYAML has it, and by PyYAML's own parser for the
texts libyaml refuses: both must give the same data, positions, duplicate keys and unquoted
booleans, so that the switch changes speed only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cvspec.spec import yamldoc

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted([*ROOT.glob("tests/**/*.yaml"), *ROOT.glob("specs/*.yaml")])


def test_libyaml_is_used_where_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__  # PyYAML's wheels carry it; CI must measure the fast path
    assert yamldoc._FastLoader is not None


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT)) for p in SPECS])
def test_both_parsers_read_every_spec_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    fast = _outcome(text, yamldoc._FastLoader)
    if isinstance(fast, yamldoc.YamlSyntaxError):
        return  # parse_yaml reads it again with PyYAML's parser: see the corpus tests
    assert fast == _outcome(text, yamldoc._PythonLoader)


def test_unquoted_booleans_and_positions_survive_the_fast_parser() -> None:
    doc = yamldoc.parse_yaml("project:\n  name: on\n  x: 'no'\n  x: 1\nyes: 2\n")
    assert doc.unquoted == {
        ("project", "name"): ("on", "a boolean"),
        ("project", "x"): ("1", "a number"),
        ("yes",): ("2", "a number"),
    }
    assert doc.unquoted_keys == {(True,): "yes"}
    assert doc.duplicate_keys == [(("project", "x"), 3)]
    assert doc.values[("project", "name")] == yamldoc.Position(2, 9)


def _outcome(text: str, loader: object) -> object:
    try:
        return yamldoc._parse(text, loader)  # type: ignore[arg-type]
    except yamldoc.YamlSyntaxError as exc:
        return exc
