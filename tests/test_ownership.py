"""Which spec owns a project (issue 11, part 3; cvspec.ownership, docs/concurrency.md): a
second spec naming the same project is refused, naming the owner, unless --take-over; a
project made before ownership existed is adopted, as the plan shows. cvspec runs through its
CLI (click's CliRunner) against one emulator served from this test process; the specs live
in a git repository, as they would in CI.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from cvspec.cli import main
from cvspec.marker import TrainingMarker, split_description, with_marker
from cvspec.reserved import LOCK_TAG, owned_description, split_owner, with_owner
from cvspec.sdk import call
from tests.apply_support import Emulator, SpecModel, emulator, snapshot

_names = itertools.count()
REMOTE = "https://x-access-token:s3cr3t@github.com/acme/vision.git"
OWNER_A = "github.com/acme/vision:a/spec.yaml"
OWNER_B = "github.com/acme/vision:b/spec.yaml"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _repo(root: Path, name: str) -> tuple[SpecModel, Path, Path]:
    """A git repository with two specs, a/spec.yaml and b/spec.yaml, naming one project
    (b's images differ from a's)."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", REMOTE], check=True)
    a = SpecModel(name=name, tags={"red": "", "blue": ""}, training=False, publish=None)
    a.images = {"red": list(range(5)), "blue": list(range(5, 10))}
    b = SpecModel(name=name, tags={"cat": "", "dog": ""}, training=False, publish=None)
    b.images = {"cat": list(range(20, 25)), "dog": list(range(25, 30))}
    return a, a.write(root / "a"), b.write(root / "b")


def cli(emu: Emulator, *args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=emu.env(COLUMNS="120"))


def test_a_second_spec_on_an_owned_project_is_refused_naming_the_owner(
    emu: Emulator, tmp_path: Path
) -> None:
    model_a, spec_a, spec_b = _repo(tmp_path / "repo", f"owned-{next(_names)}")
    first = cli(emu, "plan", spec_a)
    assert first.exit_code == 0, first.output
    assert f'owner               = "{OWNER_A}"' in first.output  # created with its owner
    assert "s3cr3t" not in first.output  # never the remote's credentials
    assert cli(emu, "apply", spec_a, "--auto-approve").exit_code == 0

    for command in (["plan"], ["apply", "--auto-approve"]):
        refused = cli(emu, *command, spec_b)
        assert refused.exit_code == 1
        assert f"is owned by another spec: {OWNER_A} (this spec is {OWNER_B})" in refused.output
        assert "--take-over" in refused.output
    loose = tmp_path / "loose"  # a copy outside any git repository: no identity
    shutil.copytree(spec_a.parent, loose)
    unknown = cli(emu, "plan", loose / "spec.yaml")
    assert unknown.exit_code == 1
    assert f"is owned by the spec {OWNER_A}, and this spec has no identity" in unknown.output
    assert snapshot(emu.service, model_a.name).managed() == model_a.expected()  # untouched


def test_take_over_is_planned_and_applied_then_the_old_owner_is_refused(
    emu: Emulator, tmp_path: Path
) -> None:
    _, spec_a, spec_b = _repo(tmp_path, f"taken-{next(_names)}")
    assert cli(emu, "apply", spec_a, "--auto-approve").exit_code == 0

    planned = cli(emu, "plan", spec_b, "--take-over", "--format", "json")
    assert planned.exit_code == 0, planned.output
    assert f'"owner": "{OWNER_A}"' in planned.output and f'"owner": "{OWNER_B}"' in planned.output
    assert '"action_reason": "settings_differ"' in planned.output or "ownership" in planned.output
    shown = cli(emu, "plan", spec_b, "--take-over")
    assert f'~ owner = "{OWNER_A}" -> "{OWNER_B}"' in shown.output
    assert f"taken over from {OWNER_A} (--take-over)" in shown.output

    applied = cli(emu, "apply", spec_b, "--take-over", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = cli(emu, "plan", spec_b, "--detailed-exitcode")
    assert again.exit_code == 0, again.output  # owned now: no take-over needed, no change
    old = cli(emu, "plan", spec_a)
    assert old.exit_code == 1 and f"owned by another spec: {OWNER_B}" in old.output


def test_a_project_without_owner_is_adopted_as_the_plan_shows(
    emu: Emulator, tmp_path: Path
) -> None:
    name = f"legacy-{next(_names)}"
    _, spec_a, _ = _repo(tmp_path, name)
    client = emu.service.training
    project = call(client.create_project, name, classification_type="Multiclass")

    shown = cli(emu, "plan", spec_a)
    assert shown.exit_code == 0, shown.output
    assert f'~ owner = "(none)" -> "{OWNER_A}"' in shown.output
    assert "has no owner yet: this spec adopts it" in shown.output
    assert cli(emu, "apply", spec_a, "--auto-approve").exit_code == 0
    described = call(client.get_project, project.id).description
    assert described == f"[cvspec-owner {OWNER_A}]"
    assert cli(emu, "plan", spec_a, "--detailed-exitcode").exit_code == 0


def test_the_owner_survives_a_renamed_checkout_and_another_clone_url(
    emu: Emulator, tmp_path: Path
) -> None:
    _, spec_a, _ = _repo(tmp_path / "checkout", f"moved-{next(_names)}")
    assert cli(emu, "apply", spec_a, "--auto-approve").exit_code == 0
    moved = tmp_path / "renamed-checkout"
    shutil.copytree(tmp_path / "checkout", moved)
    ssh = "git@github.com:acme/vision.git"
    subprocess.run(["git", "-C", str(moved), "remote", "set-url", "origin", ssh], check=True)
    again = cli(emu, "plan", moved / "a" / "spec.yaml", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


@given(
    text=st.text(st.characters(blacklist_characters="[]"), max_size=30),
    owner=st.from_regex(r"[a-z0-9./:_-]{1,40}", fullmatch=True),
    training=st.booleans(),
)
def test_the_owner_marker_round_trips_beside_a_training_marker(
    text: str, owner: str, training: bool
) -> None:
    """What the live reader strips is exactly what apply added, whatever the description
    (trailing spaces included), with or without a training marker after it."""
    described = with_owner(text, owner)
    if training:
        described = with_marker(described, TrainingMarker("cvspec-0123", "2026-11-30T13:00:00"))
    plain, marker = split_description(described)
    assert (marker is not None) == training
    assert split_owner(plain) == (text, owner)
    assert owned_description(described if not training else plain, {}) == with_owner(text, owner)


def test_a_spec_may_not_list_the_lock_tag(emu: Emulator, tmp_path: Path) -> None:
    model = SpecModel(f"reserved-{next(_names)}", {LOCK_TAG: ""}, training=False, publish=None)
    model.images = {LOCK_TAG: list(range(5))}
    refused = cli(emu, "plan", model.write(tmp_path))
    assert refused.exit_code == 1 and "is reserved for cvspec's apply lock" in refused.output
