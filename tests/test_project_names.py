"""cvspec never acts on an ambiguous project name, through the CLI against the emulator.

The real service may allow two projects with the same name (the evidence is in the
docstring of cvspec/emulator/backend.py); the emulator refuses them
(BadRequestProjectNameNotUnique, comparing names ignoring case), so no API call can make
the state. The first test makes it the only way there is: it copies the project's row in
the emulator's SQLite store under a new id, as the service would hold it, then checks that
plan, apply and destroy each refuse with one line listing both ids.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_cli

SPEC = "version: 1\nproject: {name: pets}\ntags: [{name: cat}, {name: dog}]\ntraining: null\n"


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A spec applied to the built-in emulator (project `pets`, two tags)."""
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = run_cli("apply", "spec.yaml", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path


def _duplicate_project(workdir: Path) -> list[str]:
    """Copy the only project's row under a new id; return both ids, sorted."""
    with sqlite3.connect(workdir / ".cvspec" / "emulator" / "emulator.sqlite3") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(projects)")]
        (row,) = db.execute("SELECT * FROM projects").fetchall()
        copy = list(row)
        copy[columns.index("id")] = str(uuid.uuid4())
        copy[columns.index("seq")] = row[columns.index("seq")] + 1
        db.execute(f"INSERT INTO projects VALUES ({','.join('?' * len(copy))})", copy)
    return sorted([row[columns.index("id")], copy[columns.index("id")]])


@pytest.mark.parametrize(
    "command",
    [["plan"], ["apply", "--auto-approve"], ["destroy", "--auto-approve"]],
    ids=["plan", "apply", "destroy"],
)
def test_two_projects_with_the_spec_name__refused_listing_both_ids(
    applied: Path, command: list[str]
) -> None:
    first, second = _duplicate_project(applied)
    result = run_cli(command[0], "spec.yaml", *command[1:], cwd=applied)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"Error: 2 projects are named 'pets' ({first}, {second}); cvspec cannot tell which "
        "one the spec describes. Rename or delete the others."
    ]


def test_name_differing_only_in_case__refused_cleanly(applied: Path) -> None:
    """The emulator (like the service, for tags) compares names ignoring case; cvspec compares
    them exactly, so `Pets` is planned as new and the create is refused: one line, no
    StopIteration traceback."""
    (applied / "spec.yaml").write_text(SPEC.replace("name: pets", "name: Pets"))
    with sqlite3.connect(applied / ".cvspec" / "emulator" / "emulator.sqlite3") as db:
        (existing,) = db.execute("SELECT id FROM projects").fetchone()
    result = run_cli("apply", "spec.yaml", "--auto-approve", cwd=applied)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: the service refuses the project name 'Pets' as not unique; projects with a "
        f"similar name: 'pets' ({existing}). Rename the spec's project or theirs."
    ]
