"""The main path, end to end, through the CLI in separate processes against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_example, run_cli


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("e2e")
    copy_example(path)
    return path


def test_validate_accepts_the_example(workdir: Path) -> None:
    result = run_cli("validate", "digits.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "valid (24 images, 3 tags)" in result.stdout


def test_plan_before_apply_shows_everything_and_exits_2(workdir: Path) -> None:
    result = run_cli("plan", "digits.yaml", "--detailed-exitcode", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert "+ project.digits-example" in result.stdout
    assert "Plan: 30 to add, 0 to change, 0 to destroy." in result.stdout
    assert "Images: 24 to upload, 0 to retag, 0 to delete." in result.stdout
    assert "+ images[seven]" in result.stdout


def test_apply_builds_trains_and_publishes(workdir: Path) -> None:
    result = run_cli("apply", "digits.yaml", "--auto-approve", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uploaded 24/24 images" in result.stdout
    assert "Completed after" in result.stdout
    assert "precision" in result.stdout and "overall" in result.stdout
    assert "Apply complete!" in result.stdout
    assert (workdir / ".cvspec" / "emulator").is_dir()


def test_second_apply_changes_nothing(workdir: Path) -> None:
    result = run_cli("apply", "digits.yaml", "--auto-approve", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "No changes." in result.stdout
    assert "Apply complete" not in result.stdout


def test_plan_after_apply_exits_0(workdir: Path) -> None:
    result = run_cli("plan", "digits.yaml", "--detailed-exitcode", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes." in result.stdout


@pytest.mark.parametrize("tag", ["zero", "one", "seven"])
def test_predict_ranks_an_example_image_as_its_tag(workdir: Path, tag: str) -> None:
    image = f"digits/{tag}/{tag}-03.png"
    result = run_cli("predict", "digits.yaml", image, cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{image}:"
    assert lines[1].split()[0] == tag, result.stdout


def test_editing_the_spec_plans_only_the_difference(workdir: Path, tmp_path: Path) -> None:
    spec = (workdir / "digits.yaml").read_text()
    edited = workdir / "edited.yaml"
    edited.write_text(spec.replace("The digit 7", "The digit seven"))
    result = run_cli("plan", "edited.yaml", "--detailed-exitcode", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert "~ tag.seven" in result.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in result.stdout
    assert "Training: none." in result.stdout
