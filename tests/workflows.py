"""Run the shipped CI workflows' shell steps, in order, as their CI service would.

Only the `run:` (GitHub) and `bash:`/`script:` (Azure Pipelines) steps are executed, with bash
and the environment the service gives them (the workflow's, job's and step's `env`, the
outputs and summary files). The steps that use an action or a task are what the service or a
marketplace action does, and are played here by file operations: a checkout copies the
repository, an artifact upload/download copies files to/from a store, a pull-request comment
is written to a dict keyed by the comment's header (an update replaces it in place). An
action or task this runner does not know fails the test, so a change to a workflow has to be
looked at here too. Expressions are evaluated for the few forms the workflows use; any other
form fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import clean_env

BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_MACRO = re.compile(r"\$\((?P<name>[A-Za-z_][A-Za-z0-9_.]*)\)")


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class CI:
    """The service's side: the repository to check out, the artifact store, the comments."""

    repo: Path
    root: Path
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)  # header -> body
    comment_writes: dict[str, int] = field(default_factory=dict)  # header -> times written
    log: list[StepResult] = field(default_factory=list)
    runs: int = 0

    def workspace(self) -> Path:
        """A fresh job folder (every job starts on a new runner)."""
        self.runs += 1
        path = self.root / f"run{self.runs}"
        path.mkdir(parents=True)
        return path

    def checkout(self, workspace: Path) -> None:
        shutil.copytree(self.repo, workspace, dirs_exist_ok=True, ignore=_ignore_state)

    def upload(self, name: str, workspace: Path, paths: list[str]) -> None:
        files = {p: (workspace / p).read_bytes() for p in paths if (workspace / p).is_file()}
        assert files, f"artifact {name}: none of {paths} exists"
        self.artifacts[name] = files

    def download(self, name: str, workspace: Path, into: str) -> None:
        assert name in self.artifacts, f"no artifact {name!r} was uploaded"
        for path, data in self.artifacts[name].items():
            target = workspace / into / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def comment(self, header: str, body: str) -> None:
        self.comments[header] = body
        self.comment_writes[header] = self.comment_writes.get(header, 0) + 1

    def shell(self, name: str, script: str, env: Mapping[str, str], cwd: Path) -> StepResult:
        outputs_file = cwd.parent / f"{cwd.name}.outputs"
        outputs_file.write_text("")
        full = {**env, "GITHUB_OUTPUT": str(outputs_file)}
        done = subprocess.run(
            [*BASH, "-c", script],
            cwd=cwd,
            env=full,
            capture_output=True,
            text=True,
            timeout=600,
        )
        result = StepResult(
            name, done.returncode, done.stdout, done.stderr, _outputs(outputs_file.read_text())
        )
        self.log.append(result)
        return result


def _ignore_state(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in (".cvspec", "__pycache__")]


def _outputs(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            found[name] = value
    return found


def base_env(workspace: Path) -> dict[str, str]:
    """A runner's environment: no Azure settings of ours, cvspec on PATH, CI=true."""
    env = clean_env(CI="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    summary = workspace.parent / f"{workspace.name}.summary.md"
    summary.touch()
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    env["GITHUB_WORKSPACE"] = str(workspace)
    return env


# --- GitHub Actions -------------------------------------------------------------------------


@dataclass
class GitHubRun:
    """One job of a GitHub workflow, with its context."""

    workflow: dict[str, Any]
    context: dict[str, Any]  # github.*: event_name, ref, sha, event.pull_request...
    secrets: dict[str, str]
    pr_number: int
    skip_steps: tuple[str, ...] = ()  # run steps not run here, by name (installing cvspec)
    steps: dict[str, StepResult] = field(default_factory=dict)
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def expression(self, text: str) -> Any:
        """The value of `${{ ... }}` forms the workflows use."""
        text = text.strip()
        if text == "always()":
            return True
        compare = re.fullmatch(r"github\.event_name == '(\w+)'", text)
        if compare:
            return self.context["event_name"] == compare.group(1)
        parts = text.split(".")
        if parts[0] == "secrets" and len(parts) == 2:
            return self.secrets.get(parts[1], "")
        if parts[0] == "github":
            return _lookup(self.context, parts[1:])
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.step_outputs.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the test runner cannot evaluate ${{{{ {text} }}}}")

    def substitute(self, value: Any) -> str:
        return _EXPR.sub(lambda m: str(self.expression(m.group(1))), str(value))

    def condition(self, value: Any) -> bool:
        if value is None:
            return True
        text = str(value)
        match = _EXPR.fullmatch(text.strip())
        return bool(self.expression(match.group(1) if match else text))

    def run_job(self, ci: CI, job_name: str) -> Path:
        """Run one job on a fresh workspace; returns the workspace."""
        job = self.workflow["jobs"][job_name]
        if not self.condition(job.get("if")):
            raise AssertionError(f"job {job_name} does not run on {self.context['event_name']}")
        workspace = ci.workspace()
        env = base_env(workspace)
        env.update({k: self.substitute(v) for k, v in (self.workflow.get("env") or {}).items()})
        env.update({k: self.substitute(v) for k, v in (job.get("env") or {}).items()})
        failed = False
        for index, step in enumerate(job["steps"]):
            if not self._should_run(step, failed):
                continue
            step_id = step.get("id", f"step{index}")
            if "uses" in step:
                outputs = self._action(ci, workspace, step)
                self.step_outputs[step_id] = outputs
                continue
            name = step.get("name", step["run"].splitlines()[0])
            if name in self.skip_steps:
                continue
            assert "${{" not in step["run"], f"{name}: expressions belong in env, not in run"
            step_env = {
                **env,
                **{k: self.substitute(v) for k, v in (step.get("env") or {}).items()},
            }
            result = ci.shell(name, step["run"], step_env, workspace)
            self.steps[step_id] = result
            self.step_outputs[step_id] = result.outputs
            failed = failed or result.returncode != 0
        return workspace

    def _should_run(self, step: dict[str, Any], failed: bool) -> bool:
        condition = step.get("if")
        if condition is None:
            return not failed
        return self.condition(condition) and (not failed or "always()" in str(condition))

    def _action(self, ci: CI, workspace: Path, step: dict[str, Any]) -> dict[str, str]:
        uses = str(step["uses"])
        given = {k: self.substitute(v) for k, v in (step.get("with") or {}).items()}
        action = _ACTIONS.get(uses.split("@")[0])
        assert action is not None, f"the test runner does not know the action {uses}"
        return action(self, ci, workspace, given)


def _lookup(data: Any, parts: list[str]) -> Any:
    for part in parts:
        data = data[part] if isinstance(data, dict) else ""
    return data


def _checkout(run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]) -> dict[str, str]:
    ci.checkout(workspace)
    return {}


def _noop(run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]) -> dict[str, str]:
    return {}


def _upload(run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]) -> dict[str, str]:
    ci.upload(given["name"], workspace, [p.strip() for p in given["path"].splitlines() if p])
    return {}


def _download_pr_artifact(
    run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]
) -> dict[str, str]:
    assert given["workflow"] == "cvspec.yml", given
    assert given["pr"] == str(run.pr_number), f"download from PR {given['pr']}"
    ci.download(given["name"], workspace, given.get("path", "."))
    return {"found_artifact": "true"}


def _find_pr(run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]) -> dict[str, str]:
    assert given.get("state") == "all", "a merged pull request is closed: state all"
    return {"number": str(run.pr_number), "pr": str(run.pr_number)}


def _sticky_comment(
    run: GitHubRun, ci: CI, workspace: Path, given: dict[str, str]
) -> dict[str, str]:
    number = given.get("number") or str(_lookup(run.context, ["event", "number"]))
    assert number == str(run.pr_number), f"comment on PR {number}"
    ci.comment(given["header"], (workspace / given["path"]).read_text())
    return {}


_ACTIONS: dict[str, Callable[[GitHubRun, CI, Path, dict[str, str]], dict[str, str]]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _noop,
    "actions/upload-artifact": _upload,
    "dawidd6/action-download-artifact": _download_pr_artifact,
    "jwalton/gh-find-current-pr": _find_pr,
    "marocchino/sticky-pull-request-comment": _sticky_comment,
}


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file; YAML 1.1 reads the `on:` key as True, which is put back."""
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    assert isinstance(data, dict)
    return data


# --- Azure Pipelines -------------------------------------------------------------------------

_SET_VARIABLE = re.compile(
    r"##vso\[task\.setvariable variable=(?P<name>[^;\]]+)(?P<opts>[^\]]*)\](?P<value>.*)"
)


@dataclass
class AzureRun:
    """One stage of an Azure pipeline, with its predefined and group variables."""

    pipeline: dict[str, Any]
    variables: dict[str, str]  # predefined (Build.Reason, ...) and the variable group's
    secret: frozenset[str]  # variables not exported to scripts' environments
    pr_number: int
    skip_steps: tuple[str, ...] = ()
    tools: Path | None = None  # a folder put first on PATH (the stand-in `az`)
    steps: dict[str, StepResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.pipeline.get("variables") or []:
            if "name" in entry:
                self.variables[entry["name"]] = str(entry["value"])

    def macro(self, text: Any) -> str:
        """`$(Name)` replaced by the variable's value; an undefined one stays as written."""
        return _MACRO.sub(lambda m: self.variables.get(m.group("name"), m.group(0)), str(text))

    def condition(self, text: str | None, failed: bool) -> bool:
        if text is None:
            return not failed
        value, rest = self._evaluate(text.replace(" ", ""), failed)
        assert rest == "", f"cannot evaluate the condition {text!r}"
        return bool(value)

    def _evaluate(self, text: str, failed: bool) -> tuple[Any, str]:
        literal = re.match(r"'([^']*)'", text)
        if literal:
            return literal.group(1), text[literal.end() :]
        variable = re.match(r"variables\['([^']+)'\]", text)
        if variable:
            return self.variables.get(variable.group(1), ""), text[variable.end() :]
        call = re.match(r"(\w+)\(", text)
        assert call, f"cannot evaluate {text!r}"
        name, rest, args = call.group(1), text[call.end() :], []
        while not rest.startswith(")"):
            value, rest = self._evaluate(rest, failed)
            args.append(value)
            rest = rest.removeprefix(",")
        rest = rest[1:]
        functions: dict[str, Callable[[list[Any]], Any]] = {
            "eq": lambda a: str(a[0]).lower() == str(a[1]).lower(),
            "ne": lambda a: str(a[0]).lower() != str(a[1]).lower(),
            "and": all,
            "or": any,
            "always": lambda a: True,
            "succeeded": lambda a: not failed,
        }
        assert name in functions, f"cannot evaluate {name}()"
        return functions[name](args), rest

    def env(self, workspace: Path) -> dict[str, str]:
        """Non-secret variables become environment variables (Build.Reason -> BUILD_REASON)."""
        env = base_env(workspace)
        if self.tools is not None:
            env["PATH"] = f"{self.tools}{os.pathsep}{env['PATH']}"
        for name, value in self.variables.items():
            if name not in self.secret:
                env[name.replace(".", "_").upper()] = value
        return env

    def run_stage(self, ci: CI, stage_name: str) -> Path:
        stage = next(s for s in self.pipeline["stages"] if s["stage"] == stage_name)
        assert self.condition(stage.get("condition"), False), f"stage {stage_name} skipped"
        (job,) = stage["jobs"]
        workspace = ci.workspace()
        staging = workspace.parent / f"{workspace.name}.staging"
        staging.mkdir()
        self.variables["Build.SourcesDirectory"] = str(workspace)
        self.variables["Build.ArtifactStagingDirectory"] = str(staging)
        failed = False
        for index, step in enumerate(job["steps"]):
            if not self.condition(step.get("condition"), failed):
                continue
            if "checkout" in step:
                ci.checkout(workspace)
            elif "task" in step:
                self._task(ci, workspace, step)
            else:
                failed = self._script(ci, workspace, step, index) or failed
        return workspace

    def _script(self, ci: CI, workspace: Path, step: dict[str, Any], index: int) -> bool:
        name = step.get("displayName", f"step{index}")
        if name in self.skip_steps:
            return False
        env = self.env(workspace)
        env.update({k: self.macro(v) for k, v in (step.get("env") or {}).items()})
        script = step.get("bash") or step["script"]
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        outputs: dict[str, str] = {}
        for line in done.stdout.splitlines():
            found = _SET_VARIABLE.match(line)
            if found:
                outputs[found["name"]] = found["value"]
                prefix = f"{step['name']}." if "isOutput=true" in found["opts"] else ""
                self.variables[prefix + found["name"]] = found["value"]
        result = StepResult(name, done.returncode, done.stdout, done.stderr, outputs)
        ci.log.append(result)
        self.steps[step.get("name", name)] = result
        return done.returncode != 0

    def _task(self, ci: CI, workspace: Path, step: dict[str, Any]) -> None:
        task = step["task"]
        given = {k: self.macro(v) for k, v in (step.get("inputs") or {}).items()}
        if task == "UsePythonVersion@0":
            return
        if task == "PublishPipelineArtifact@1":
            folder = Path(given["targetPath"])
            files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
            ci.upload(given["artifact"], folder, files)
            return
        if task == "DownloadPipelineArtifact@2":
            assert given["branchName"] == f"refs/pull/{self.pr_number}/merge", given
            ci.download(given["artifactName"], Path(given["targetPath"]), ".")
            return
        raise AssertionError(f"the test runner does not know the task {task}")


FAKE_AZ = '''#!{python}
"""A stand-in for `az devops invoke` (no Azure DevOps here): pull request threads kept in a
JSON file, enough for examples/azure-pipelines/pr_comment.py."""
import json, sys
from pathlib import Path

store = Path({store!r})
args = sys.argv[1:]
assert args[:2] == ["devops", "invoke"], args
def value(flag):
    return args[args.index(flag) + 1]
route = dict(a.split("=", 1) for a in args[args.index("--route-parameters") + 1 :] if "=" in a)
body = json.loads(Path(value("--in-file")).read_text()) if "--in-file" in args else None
threads = json.loads(store.read_text()) if store.exists() else {{}}
pr = threads.setdefault(route["pullRequestId"], [])
method, resource = value("--http-method"), value("--resource")
if resource == "pullRequestThreads" and method == "GET":
    print(json.dumps({{"value": pr}}))
elif resource == "pullRequestThreads" and method == "POST":
    thread = {{"id": len(pr) + 1, "status": body["status"], "comments": [
        {{"id": 1, "content": body["comments"][0]["content"]}}]}}
    pr.append(thread)
    print(json.dumps(thread))
elif resource == "pullRequestThreadComments" and method == "PATCH":
    thread = next(t for t in pr if str(t["id"]) == route["threadId"])
    comment = next(c for c in thread["comments"] if str(c["id"]) == route["commentId"])
    comment["content"] = body["content"]
    print(json.dumps(comment))
else:
    sys.exit(f"unexpected call {{args}}")
store.write_text(json.dumps(threads))
'''


def install_fake_az(folder: Path, store: Path) -> Path:
    """Put the stand-in `az` in `folder`; returns the folder (for PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    az = folder / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable, store=str(store)))
    az.chmod(0o755)
    return folder
