"""Environments through the CLI: `--var` and `--var-file` feed the spec's `${NAME}`, the plan
names its target (host and project) in text, JSON and Markdown, and a saved plan is refused
by another target."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvspec.emulator.server import EmulatorServer
from tests.helpers import REPO, emulator_env
from tests.inprocess import run_here as run_cli

EXAMPLE = REPO / "examples" / "environments"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environments example with the digits images where its spec expects them; the
    current directory."""
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "environments")
    shutil.copytree(REPO / "specs" / "digits", tmp_path / "specs" / "digits")
    monkeypatch.chdir(tmp_path)
    return tmp_path


SPEC = "examples/environments/classifier.yaml"


def plan_json(
    repo: Path, *args: str, env: dict[str, str | None] | None = None
) -> dict[str, object]:
    done = run_cli("plan", SPEC, "--format", "json", *args, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_var_files_and_vars_choose_the_environment(repo: Path) -> None:
    dev = plan_json(repo, "--var-file", "examples/environments/dev.env")
    prod = plan_json(repo, "--var-file", "examples/environments/prod.yaml")
    assert (dev["project"], prod["project"]) == ("digits-dev", "digits-prod")
    # later wins: the environment, then each var file in order, then --var
    env: dict[str, str | None] = {"ENVIRONMENT": "from-env"}
    assert plan_json(repo, env=env)["project"] == "digits-from-env"
    layered = plan_json(
        repo,
        "--var-file",
        "examples/environments/prod.yaml",
        "--var-file",
        "examples/environments/dev.env",
        env=env,
    )
    assert layered["project"] == "digits-dev"
    assert plan_json(
        repo, "--var-file", "examples/environments/dev.env", "--var", "ENVIRONMENT=qa"
    )["project"] == ("digits-qa")
    valid = run_cli("validate", SPEC, "--var", "ENVIRONMENT=qa", cwd=repo)
    assert valid.returncode == 0 and "valid (24 images, 3 tags)" in valid.stdout
    missing = run_cli("validate", SPEC, cwd=repo)
    assert missing.returncode == 1
    assert "project.name: environment variable ENVIRONMENT is not set" in missing.stderr


def test_env_files_accept_comments_export_and_quotes(repo: Path) -> None:
    (repo / "qa.env").write_text("# qa\n\nexport ENVIRONMENT='qa'\nKEEP=\"2\"\nUNUSED=a=b\n")
    assert plan_json(repo, "--var-file", "qa.env")["project"] == "digits-qa"


def test_bad_vars_are_one_line_errors_that_never_quote_a_value(repo: Path) -> None:
    secret = "?sv=2024&sig=TopSecretSignature"
    (repo / "bad.env").write_text(f"ENVIRONMENT=dev\n{secret}\n")
    bad_file = run_cli("validate", SPEC, "--var-file", "bad.env", cwd=repo)
    assert bad_file.returncode == 1
    assert bad_file.stderr == "Error: --var-file bad.env:2: expected NAME=VALUE\n"
    (repo / "list.yaml").write_text("- ENVIRONMENT\n")
    assert (
        "expected a mapping"
        in run_cli("validate", SPEC, "--var-file", "list.yaml", cwd=repo).stderr
    )
    bad_var = run_cli("validate", SPEC, "--var", secret, cwd=repo)
    assert bad_var.returncode == 1 and "Traceback" not in bad_var.stderr
    assert secret not in bad_var.stderr and "TopSecret" not in bad_var.stderr

    # a secret-named variable whose value a spec check would quote is masked
    spec = repo / SPEC
    spec.write_text(
        spec.read_text().replace("classification: multiclass", "classification: ${SAS}")
    )
    quoted = run_cli(
        "validate", SPEC, "--var", "ENVIRONMENT=dev", "--var", f"SAS={secret}", cwd=repo
    )
    assert quoted.returncode == 1 and "classification" in quoted.stderr
    assert secret not in quoted.stderr and "***" in quoted.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("env-emulator")) as running:
        yield running


def test_every_plan_header_names_the_target_and_a_plan_for_one_is_refused_by_another(
    repo: Path, server: EmulatorServer
) -> None:
    dev = ("--var-file", "examples/environments/dev.env")
    text = run_cli("plan", SPEC, *dev, "-out", "dev.plan", cwd=repo)
    assert text.stdout.startswith(
        "Target: built-in emulator (state in examples/environments/.cvspec/emulator), "
        "project 'digits-dev'\n"
    )
    shown = run_cli("show", "dev.plan", cwd=repo).stdout
    assert shown.startswith("Target: built-in emulator (state in examples/environments/.cvspec/")
    markdown = run_cli("show", "dev.plan", "--format", "markdown", cwd=repo).stdout
    assert (
        "cvspec plan for `digits-dev` on the built-in emulator "
        "(state in `examples/environments/.cvspec/`)\n"
    ) in markdown
    doc = json.loads(run_cli("show", "dev.plan", "--format", "json", cwd=repo).stdout)
    assert (doc["target"], doc["target_host"], doc["project"]) == ("emulator", "", "digits-dev")

    azure: dict[str, str | None] = {  # the emulator as a server: an endpoint, as Azure's
        k: v for k, v in emulator_env(server).items() if k.startswith("CVSPEC_")
    }
    host = f"127.0.0.1:{server.port}"
    remote = run_cli("plan", SPEC, *dev, "--format", "markdown", cwd=repo, env=azure)
    assert f"cvspec plan for `digits-dev` on Azure Custom Vision (`{host}`)" in remote.stdout
    remote_json = plan_json(repo, *dev, env=azure)
    assert (remote_json["target"], remote_json["target_host"]) == ("azure", host)

    unset = run_cli("apply", "dev.plan", cwd=repo)
    assert unset.returncode == 1
    assert "give `apply PLANFILE` the same --var and --var-file" in unset.stderr
    refused = run_cli("apply", "dev.plan", *dev, cwd=repo, env=azure)
    assert refused.returncode == 1
    assert (
        f"dev.plan: the plan was made for the built-in emulator, but the environment points "
        f"at {host}" in refused.stderr
    )
    for secret in (server.training_key, server.prediction_key):
        assert secret not in remote.stdout + json.dumps(remote_json) + refused.stderr
