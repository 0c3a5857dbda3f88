"""The README stays true: every command is documented and its quickstart lines are exact."""

from __future__ import annotations

import pytest

from cvspec.cli import main
from tests.helpers import REPO

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_is_in_the_readme_and_has_help(name: str) -> None:
    assert f"`cvspec {name}" in README
    assert main.commands[name].help


def test_readme_opens_with_the_two_commands() -> None:
    blocks = [b.split("\n", 1)[1].strip() for b in README.split("```sh")[1:3]]
    assert blocks[0].startswith("pip install -e . && cvspec apply specs/digits.yaml --auto-approve")
    assert blocks[1].startswith("pip install -e '.[test]' && pytest")


def test_ci_runs_the_readme_test_command() -> None:
    assert "pip install -e '.[test]' && pytest" in (REPO / ".ci" / "run").read_text()
