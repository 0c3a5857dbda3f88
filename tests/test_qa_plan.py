"""Plans as a user makes them, found wrong in acceptance testing: `cvspec plan` through the
CLI against a real emulator on 127.0.0.1, with the spec named the way people type it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cvspec.cli import main
from cvspec.emulator.server import EmulatorServer
from tests.helpers import copy_example, emulator_env, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("qa-plan-emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def env(server: EmulatorServer) -> dict[str, str]:
    return emulator_env(server)


def cli(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner(env={**env, "COLUMNS": "100"}).invoke(main, [str(a) for a in args])


def example(tmp_path: Path, name: str) -> Path:
    spec = copy_example(tmp_path)
    spec.write_text(spec.read_text().replace("name: digits-example", f"name: {name}"))
    return spec


def test_image_paths_are_relative_to_the_spec_when_the_spec_is_named_relatively(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    example(tmp_path, "qa-relative-paths")
    monkeypatch.chdir(tmp_path)
    doc = json.loads(cli(env, "plan", "digits.yaml", "--format", "json").output)
    upload = next(c for c in doc["resource_changes"] if c["type"] == "images")
    paths = {i["path"] for i in upload["change"]["after"]["images"]}
    assert "digits/one/one-03.png" in paths
    assert not [p for p in paths if p.startswith("/") or str(tmp_path) in p]

    text = cli(env, "plan", "digits.yaml", "-v", "-out", "plan.json")
    lines = text.output.splitlines()
    under_one = lines[lines.index("  + images[one]    8 image(s)") + 1 :][:8]
    assert under_one == sorted(under_one) and "        digits/one/one-03.png" in under_one
    assert str(tmp_path) not in text.output
    assert str(tmp_path / "digits" / "one") not in (tmp_path / "plan.json").read_text()
    # the saved plan, applied from elsewhere, still finds its files
    monkeypatch.chdir(tmp_path.parent)
    applied = cli(env, "apply", tmp_path / "plan.json")
    assert applied.exit_code == 0, applied.output
    assert cli(env, "plan", tmp_path / "digits.yaml", "--detailed-exitcode").exit_code == 0


def test_a_tag_renamed_in_case_is_renamed_without_retagging_its_images(
    tmp_path: Path, env: dict[str, str]
) -> None:
    spec = example(tmp_path, "qa-tag-case")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    (tmp_path / "digits" / "seven").rename(tmp_path / "digits" / "Seven")
    spec.write_text(spec.read_text().replace("- name: seven", "- name: Seven"))

    doc = json.loads(cli(env, "plan", spec, "--format", "json").output)
    changes = {c["address"]: c["operations"] for c in doc["resource_changes"]}
    assert changes["tag.seven"] == ["UpdateTag"]
    assert doc["summary"]["images"] == {"upload": 0, "retag": 0, "adopt": 0, "delete": 0}
    assert "images" not in changes
    applied = cli(env, "apply", spec, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert cli(env, "plan", spec, "--detailed-exitcode").exit_code == 0


def test_respelling_the_domain_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    spec = example(tmp_path, "qa-domain-spelling")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    text = spec.read_text()
    for spelling in ("gEnErAl", "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"):
        spec.write_text(text.replace("domain: General", f"domain: {spelling}"))
        again = cli(env, "plan", spec, "--detailed-exitcode")
        assert again.exit_code == 0, again.output


def test_predict_names_the_file_it_cannot_classify(tmp_path: Path, env: dict[str, str]) -> None:
    spec = example(tmp_path, "qa-predict")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    good = tmp_path / "digits" / "one" / "one-03.png"
    text = tmp_path / "notes.txt"
    text.write_text("not an image")

    folder = cli(env, "predict", spec, tmp_path / "digits")
    assert folder.exit_code == 2 and "is a directory" in folder.output
    assert folder.exception is None or isinstance(folder.exception, SystemExit)
    mixed = cli(env, "predict", spec, good, text)
    assert mixed.exit_code == 1
    assert mixed.output.startswith(f"{good}:\n  one ")
    assert f"Error: {text}: BadRequestImageFormat" in mixed.output

    elsewhere = tmp_path / "unpublished"
    elsewhere.mkdir()
    other = example(elsewhere, "qa-predict")
    other.write_text(other.read_text().replace("name: digits-latest", "name: not-there"))
    missing = cli(env, "predict", other, good)
    assert missing.exit_code == 1
    assert "Error: nothing is published as 'not-there'" in missing.output


def test_a_destroy_plan_says_what_goes_with_the_project(
    tmp_path: Path, env: dict[str, str]
) -> None:
    spec = example(tmp_path, "qa-destroy-summary")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    planned = cli(env, "plan", spec, "--destroy", "-out", tmp_path / "d.json")
    assert planned.exit_code == 0, planned.output
    lines = [
        "Plan: 0 to add, 0 to change, 1 to destroy.",
        "Images: 24 to delete with the project.",
        "Training: 1 iteration(s) to delete with the project.",
        "Publishing: unpublish 'digits-latest'.",
    ]
    assert "\n".join(lines) in planned.output
    assert "\n".join(lines) in cli(env, "show", tmp_path / "d.json").output


def test_an_empty_prediction_resource_takes_the_emulators_own(tmp_path: Path) -> None:
    spec = copy_example(tmp_path)
    text = spec.read_text().replace(
        "  keep: 3", '  keep: 3\n  prediction_resource: "${CVSPEC_PREDICTION_RESOURCE_ID:-}"'
    )
    assert "CVSPEC_PREDICTION_RESOURCE_ID" in text
    spec.write_text(text)
    assert run_cli("validate", "digits.yaml", cwd=tmp_path).returncode == 0
    planned = run_cli("plan", "digits.yaml", "--format", "json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    publish = next(
        c for c in json.loads(planned.stdout)["resource_changes"] if c["type"] == "publish"
    )
    assert (
        "/providers/Microsoft.CognitiveServices/accounts/"
        in publish["change"]["after"]["prediction_resource_id"]
    )
