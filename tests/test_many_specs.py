"""Many specs at once through the CLI on the built-in emulator: `cvspec plan DIR`, saved plan
sets, `cvspec apply PLANSET`, one combined summary, comment, report and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.inprocess import run_here as run_cli


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


EXAMPLE = "name: digits-example"


def a_folder(root: Path, names: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """specs/ with one spec per name (its own project and publish name), sharing the images,
    plus YAML files that are not specs (a var file, a workflow)."""
    folder = root / "specs"
    folder.mkdir()
    template = copy_example(folder).read_text()
    (folder / "digits.yaml").unlink()
    for name in names:
        text = template.replace(EXAMPLE, f"name: many-{name}")
        (folder / f"{name}.yaml").write_text(text.replace("digits-latest", f"latest-{name}"))
    (folder / "prod.vars.yaml").write_text("ENV: prod\n")
    (folder / "ci").mkdir()
    (folder / "ci" / "workflow.yml").write_text("name: ci\non: push\n")
    return folder


def test_a_folder_of_three_specs_plans_and_applies_with_one_exit_status(tmp_path: Path) -> None:
    a_folder(tmp_path)
    planned = run_cli("plan", "specs", "--detailed-exitcode", "-out", "plans.json", cwd=tmp_path)
    assert planned.returncode == 2, planned.stderr
    blocks = [line for line in planned.stdout.splitlines() if line.startswith("=== ")]
    assert blocks == ["=== specs/a.yaml", "=== specs/b.yaml", "=== specs/c.yaml"]
    assert "Target: built-in emulator (state in specs/.cvspec/emulator), project 'many-b'" in (
        planned.stdout
    )
    assert "Specs: 3 planned: 3 with changes, 0 without, 0 failed." in planned.stdout
    assert "Plan (all specs): 90 to add, 0 to change, 0 to destroy." in planned.stdout

    comment = run_cli("show", "plans.json", "--format", "markdown", cwd=tmp_path).stdout
    assert comment.startswith("<!-- cvspec-plan specs -->\n## cvspec plan: 90 to add")
    assert [line for line in comment.splitlines() if line.startswith("#### ")] == [
        "#### `specs/a.yaml`",
        "#### `specs/b.yaml`",
        "#### `specs/c.yaml`",
    ]
    doc = json.loads(run_cli("show", "plans.json", "--format", "json", cwd=tmp_path).stdout)
    assert [s["plan"]["project"] for s in doc["specs"]] == ["many-a", "many-b", "many-c"]
    assert doc["summary"] | {} == {
        "specs": 3,
        "with_changes": 3,
        "errors": 0,
        "add": 90,
        "change": 0,
        "destroy": 0,
    }

    applied = run_cli(
        "apply", "plans.json", "--json", "--detailed-exitcode", "--report-out", "r.md", cwd=tmp_path
    )
    assert applied.returncode == 2, applied.stderr
    events = [json.loads(line) for line in applied.stdout.splitlines()]
    assert {e["spec"] for e in events if e["event"] == "published"} == {
        "specs/a.yaml",
        "specs/b.yaml",
        "specs/c.yaml",
    }
    summary = events[-1]
    assert summary["event"] == "summary" and summary["specs"] == 3 and summary["failed"] == 0
    report = (tmp_path / "r.md").read_text()
    assert report.startswith("## cvspec apply: 3 spec(s)")
    assert report.count("Operations: 7 done, 0 failed, 0 skipped (of 7 planned).") == 3

    again = run_cli("plan", "specs", "--detailed-exitcode", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Specs: 3 planned: 0 with changes, 3 without, 0 failed." in again.stdout
    stale = run_cli("apply", "plans.json", cwd=tmp_path)  # the same plans, applied twice
    assert stale.returncode == 1 and "Saved plan is stale" in stale.stderr


def test_a_spec_that_cannot_be_planned_fails_the_folder_and_nothing_is_applied(
    tmp_path: Path,
) -> None:
    folder = a_folder(tmp_path)
    broken = folder / "b.yaml"
    broken.write_text(broken.read_text().replace("classification: multiclass", "classification: x"))
    planned = run_cli("plan", "specs", "--detailed-exitcode", cwd=tmp_path)
    assert planned.returncode == 1
    assert "Specs: 3 planned: 2 with changes, 0 without, 1 failed." in planned.stdout
    assert "=== specs/b.yaml\n\nError: specs/b.yaml:" in planned.stdout
    saved = run_cli("plan", "specs", "-out", "plans.json", cwd=tmp_path)
    assert saved.returncode == 1 and not (tmp_path / "plans.json").exists()
    applied = run_cli("apply", "specs", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 1
    assert "1 of 3 spec(s) could not be planned (specs/b.yaml); nothing was applied" in (
        applied.stderr
    )
    after = run_cli("plan", "specs/a.yaml", "--detailed-exitcode", cwd=tmp_path)
    assert after.returncode == 2  # a.yaml was not applied either


def test_several_paths_and_an_empty_folder(tmp_path: Path) -> None:
    a_folder(tmp_path, ("a", "b"))
    (tmp_path / "empty").mkdir()
    both = run_cli("plan", "specs/b.yaml", "specs/a.yaml", "--format", "json", cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    assert [s["spec"] for s in json.loads(both.stdout)["specs"]] == [
        "specs/b.yaml",
        "specs/a.yaml",
    ]
    empty = run_cli("plan", "empty", cwd=tmp_path)
    assert empty.returncode == 1
    assert "no spec found under empty" in empty.stderr and "Traceback" not in empty.stderr
