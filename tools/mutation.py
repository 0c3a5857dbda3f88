"""Mutation testing of the reconciler's core with mutmut: the score per module, and its survivors.

    python tools/mutation.py gates                 # one module (the short names below)
    python tools/mutation.py gates planfile        # several, one after the other
    python tools/mutation.py --all                 # every module of MODULES
    python tools/mutation.py --report              # only rewrite docs/mutation.md

Each module runs in a scratch copy of the repository, `.mutation/<name>/` (git-ignored), whose
pyproject.toml gets a `[tool.mutmut]` section for that module alone: mutmut mutates only that
file and runs only the fast test files that cover it (MODULES), under `nice` with one worker
(`--max-children`, default 1), so several runs never fight over the CPU. mutmut copies the
scratch tree to its own `mutants/` folder there and runs each mutant against the tests that
reach the mutated function. Mutants live in-process only: a test that runs `python -m cvspec`
in a subprocess runs the original code, so the modules are covered by in-process tests (the
pure functions, click's CliRunner, the SDK against an emulator served from the test process);
a function that no test reaches in-process counts as "no tests", a survivor.

Results are kept in `docs/mutation.json` (per module: counts, survivors with their diff, run
time, and the "before" figures); `docs/mutation.md` is written from it. A
survivor that changes no behaviour is listed in `tools/mutation_equivalent.toml` with a
one-line reason: it counts as neither killed nor survived, and the report shows the reason.

Score = killed / (mutants - equivalent). `--before REF` runs the same mutants against the
tests as git REF has them and records that as the module's "before". Timeouts count as
killed (the mutant hung the tests); "no tests" and "suspicious" count as survivors.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".mutation"
RESULTS = REPO / "docs" / "mutation.json"
REPORT = REPO / "docs" / "mutation.md"
EQUIVALENT = REPO / "tools" / "mutation_equivalent.toml"

# module short name -> (source file, the fast test files that cover it)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gates": ("cvspec/gates.py", ("tests/test_gates.py", "tests/test_apply_units.py")),
    "planfile": ("cvspec/planfile.py", ("tests/test_plan_file.py",)),
    "identity": (
        "cvspec/identity.py",
        ("tests/test_identity.py", "tests/test_diff.py", "tests/test_renames_replace.py"),
    ),
    "ratelimit": (
        "cvspec/ratelimit.py",
        ("tests/test_ratelimit.py", "tests/test_apply_units.py", "tests/test_retry_after.py"),
    ),
    "sources": (
        "cvspec/spec/sources.py",
        (
            "tests/spec/test_spec_sources.py",
            "tests/spec/test_spec_escape.py",
            "tests/spec/test_spec_hashcache.py",
            "tests/spec/test_spec_locations.py",
            "tests/spec/test_spec_corpus.py",
        ),
    ),
    "diff_iterations": (
        "cvspec/diff_iterations.py",
        ("tests/test_diff.py", "tests/test_diff_iterations.py", "tests/test_renames_replace.py"),
    ),
    "diff": (
        "cvspec/diff.py",
        (
            "tests/test_diff.py",
            "tests/test_diff_operations.py",
            "tests/test_diff_iterations.py",
            "tests/test_renames_replace.py",
        ),
    ),
    "ops": (
        "cvspec/ops.py",
        ("tests/test_plan_model.py", "tests/test_diff.py", "tests/test_render.py"),
    ),
    "plan": (
        "cvspec/plan.py",
        ("tests/test_plan_model.py", "tests/test_diff.py", "tests/test_render.py"),
    ),
    "sdk": (
        "cvspec/sdk.py",
        (
            "tests/test_sdk_calls.py",
            "tests/test_sdk_policy.py",
            "tests/test_retry_after.py",
            "tests/test_faults_sdk.py",
        ),
    ),
    "checks": (
        "cvspec/spec/checks.py",
        (
            "tests/spec/test_spec_checks.py",
            "tests/spec/test_spec_sources.py",
            "tests/spec/test_spec_locations.py",
            "tests/spec/test_spec_corpus.py",
            "tests/test_service_limits.py",
        ),
    ),
    "rules": ("cvspec/rules.py", ("tests/test_training_rules.py", "tests/test_service_limits.py")),
    "settings_diff": (
        "cvspec/settings_diff.py",
        ("tests/test_settings_diff.py", "tests/test_diff.py"),
    ),
}

# extra pytest arguments per module: the diff's files also hold CLI tests that start an
# emulator (seconds each), which mutants of the pure diff would run again and again
PYTEST_ARGS: dict[str, tuple[str, ...]] = dict.fromkeys(
    ("identity", "diff_iterations", "diff", "ops", "plan"), ("-k", "not cli")
)

# what the tests read besides cvspec/ and tests/ (mutmut copies tests/ and pyproject.toml)
ALSO_COPY = ("specs", "docs", "README.md")
KILLED = {"killed", "timeout", "segfault"}
SURVIVED = {"survived", "no tests", "suspicious"}


@dataclass
class Survivor:
    name: str
    status: str
    diff: str
    reason: str = ""  # set when the mutant is equivalent


@dataclass
class ModuleResult:
    module: str
    source: str
    tests: list[str]
    mutants: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[Survivor] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    command: str = ""
    before: dict[str, float | str] | None = None  # the figures against the tests of a ref
    unchecked: int = 0  # mutants an interrupted run did not reach (--collect)

    @property
    def score(self) -> float:
        counted = self.mutants - self.equivalent
        return 100.0 * self.killed / counted if counted else 100.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--all", action="store_true", help="every module")
    parser.add_argument("--report", action="store_true", help="only rewrite docs/mutation.md")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut workers (1)")
    parser.add_argument("--nice", type=int, default=15, help="niceness of the run (15)")
    parser.add_argument("--keep", action="store_true", help="reuse the scratch copy's results")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="read the results of an interrupted run of MODULE (its scratch copy) without running",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="run against the tests of git REF (e.g. main) and record the figures as 'before'",
    )
    args = parser.parse_args(argv)
    names = list(MODULES) if args.all else args.modules
    if not names and not args.report:
        parser.error("name a module, or --all, or --report")
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; use {', '.join(MODULES)}")
    results = _load_results()
    for name in names:
        if args.collect:
            work = WORK / (f"{name}-before" if args.before else name)
            result = _collect(name, work, {**os.environ})
            result.command = f"python tools/mutation.py {name} (interrupted)"
        else:
            result = run_module(name, args.max_children, args.nice, args.keep, args.before)
        previous = results.get(name)
        if args.before:  # only the "before" figures change
            ref = subprocess.run(
                ["git", "rev-parse", "--short", args.before],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            result.before = _figures(result) | {"tests_from": ref}
            if previous is not None:
                previous.before = result.before
                result = previous
        else:
            result.before = previous.before if previous else None
        results[name] = result
        _save_results(results)
        print(
            f"{name}: {result.killed}/{result.mutants - result.equivalent} killed "
            f"({result.score:.1f} %), {len(_open(result))} survivors, {result.seconds:.0f} s"
        )
    _apply_equivalents(results)
    _save_results(results)
    REPORT.write_text(render(results), encoding="utf-8")
    print(f"wrote {REPORT.relative_to(REPO)}")
    return 0


def run_module(
    name: str, max_children: int, niceness: int, keep: bool = False, tests_from: str | None = None
) -> ModuleResult:
    source, tests = MODULES[name]
    work = WORK / (f"{name}-before" if tests_from else name)
    if not keep and work.exists():
        shutil.rmtree(work)
    if not work.exists():
        _scratch_copy(work, source, tests, tests_from, PYTEST_ARGS.get(name, ()))
    command = ["nice", "-n", str(niceness), sys.executable, "-m", "mutmut", "run"]
    command += ["--max-children", str(max_children)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    with (work / "mutmut.log").open("w") as log:
        done = subprocess.run(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = (work / "mutmut.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed for {name} (exit {done.returncode}):\n{tail}")
    result = _collect(name, work, env)
    result.seconds = seconds
    result.command = f"python tools/mutation.py {name}"
    return result


def _scratch_copy(
    work: Path,
    source: str,
    tests: tuple[str, ...],
    tests_from: str | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    """The tree mutmut runs in; with `tests_from`, tests/ as git has it at that ref."""
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".cvspec")
    for item in ("cvspec", "tests", *ALSO_COPY):
        path = REPO / item
        if item == "tests" and tests_from:
            archive = subprocess.run(
                ["git", "archive", tests_from, "tests"], cwd=REPO, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        elif path.is_dir():
            shutil.copytree(path, work / item, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, work / item)
    tests = tuple(t for t in tests if (work / t).exists())  # files added since `tests_from`
    shared = REPO.parent / "shared"
    if shared.exists():  # tests find ../shared beside the tree they run from (mutants/)
        (work / "shared").symlink_to(shared)
    config = (
        "\n[tool.mutmut]\n"
        'source_paths = ["cvspec"]\n'
        f"only_mutate = [{json.dumps(source)}]\n"
        f"also_copy = {json.dumps(list(ALSO_COPY))}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(tests))}\n"
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', *extra])}\n"
        "use_git_change_detection = false\n"
        "timeout_multiplier = 6.0\n"  # a hung mutant stops after 12x its tests' time (+12 s)
    )
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(text + config, encoding="utf-8")


# Prints {mutant name: its diff} for the names read from stdin, in one process (mutmut's own
# `mutmut show NAME` costs a start of Python per survivor).
_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


def _collect(name: str, work: Path, env: dict[str, str]) -> ModuleResult:
    source, tests = MODULES[name]
    result = ModuleResult(name, source, list(tests))
    listed = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    prefix = source.removesuffix(".py").replace("/", ".") + "."
    open_names: dict[str, str] = {}
    for line in listed.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if not mutant.startswith(prefix):
            continue
        if status == "not checked":
            result.unchecked += 1
            continue
        result.mutants += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status in KILLED:
            result.killed += 1
        else:
            open_names[mutant] = status
    diffs = json.loads(
        subprocess.run(
            [sys.executable, "-c", _DIFFS],
            cwd=work,
            env=env,
            input=json.dumps(list(open_names)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    result.survivors = [
        Survivor(mutant, status, _changed_lines(diffs[mutant]))
        for mutant, status in open_names.items()
    ]
    return result


def _changed_lines(diff: str) -> str:
    """The -/+ lines of a unified diff (without the file headers)."""
    lines = [
        line
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    return "\n".join(lines)


def _figures(result: ModuleResult) -> dict[str, float | str]:
    return {
        "mutants": result.mutants,
        "killed": result.killed,
        "score": round(result.score, 1),
        "seconds": round(result.seconds),
    }


def _equivalents() -> dict[str, str]:
    if not EQUIVALENT.exists():
        return {}
    doc = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8"))
    return {name: str(entry["reason"]) for name, entry in doc.items()}


def _apply_equivalents(results: dict[str, ModuleResult]) -> None:
    reasons = _equivalents()
    for result in results.values():
        for survivor in result.survivors:
            survivor.reason = reasons.get(survivor.name, "")
        result.equivalent = sum(1 for s in result.survivors if s.reason)


def _open(result: ModuleResult) -> list[Survivor]:
    return [s for s in result.survivors if not s.reason]


def _load_results() -> dict[str, ModuleResult]:
    if not RESULTS.exists():
        return {}
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    results = {}
    for name, item in doc.items():
        survivors = [Survivor(**s) for s in item.pop("survivors")]
        results[name] = ModuleResult(**item, survivors=survivors)
    return results


def _save_results(results: dict[str, ModuleResult]) -> None:
    ordered = {name: asdict(results[name]) for name in MODULES if name in results}
    RESULTS.write_text(json.dumps(ordered, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def render(results: dict[str, ModuleResult]) -> str:
    try:
        tool = f"mutmut {importlib.metadata.version('mutmut')}"
    except importlib.metadata.PackageNotFoundError:
        tool = "mutmut"
    lines = [
        "# Mutation score of the reconciler's core",
        "",
        f"Written by `python tools/mutation.py MODULE` ({tool}, one worker, under `nice`; see",
        "[testing.md](testing.md#mutation-testing)). A mutant is one small change to the code",
        "(`<` for `<=`, a constant, a dropped call); it is *killed* when a test fails on it.",
        "Score = killed / (mutants - equivalent). *Before* is the same mutants against the",
        "module's test files as `main` had them before this report (`--before REF`), with no",
        "mutant counted as equivalent.",
        "",
        "Run time is one module's run on a 2-core machine shared with other work.",
        "",
        "| module | tests | mutants | killed | equivalent | open survivors | score | before |"
        " run time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in MODULES:
        r = results.get(name)
        if r is None:
            continue
        before = f"{float(r.before['score']):.1f} %" if r.before else "-"
        tests = ", ".join(Path(t).name for t in r.tests)
        mutants = f"{r.mutants} (+{r.unchecked} not run)" if r.unchecked else str(r.mutants)
        lines.append(
            f"| `{r.source}` | {tests} | {mutants} | {r.killed} | {r.equivalent} "
            f"| {len(_open(r))} | {r.score:.1f} % | {before} | {r.seconds:.0f} s |"
        )
    for name in MODULES:
        r = results.get(name)
        if r is None or not r.survivors:
            continue
        lines += ["", f"## `{r.source}`", ""]
        for s in r.survivors:
            verdict = f"equivalent: {s.reason}" if s.reason else s.status
            lines += [f"* `{s.name}` ({verdict})", "", "  ```diff"]
            lines += [f"  {line}" for line in s.diff.splitlines()]
            lines += ["  ```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
