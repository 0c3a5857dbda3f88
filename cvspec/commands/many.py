"""Many specs at once: `cvspec plan DIR|SPEC...` and `cvspec apply DIR|SPEC...|PLANSET`.

Every spec is planned, and then applied, on its own thread; all the specs that name one
training resource share its client-side rate limit (cvspec.sdk keeps one per endpoint, as the
service limits calls per resource). On the built-in emulator the specs of one folder share
that folder's `.cvspec/` emulator. Output: each spec's plan under its path, then one combined
summary; one Markdown comment; one exit status (docs/gitops.md).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cvspec.commands.common import make_plan, spec_location, state_dir
from cvspec.errors import CvspecError, SpecError

if TYPE_CHECKING:
    from cvspec.commands.apply import PlanRun, RunOptions
    from cvspec.plan import Plan
    from cvspec.service import Service
    from cvspec.spec import Spec

T = TypeVar("T")
R = TypeVar("R")
MAX_THREADS = 8  # specs planned or applied at once


@dataclass
class SpecPlan:
    """One spec's plan, or why it could not be planned."""

    spec: Path
    plan: Plan | None = None
    error: str | None = None
    service: Service | None = None
    base_dir: Path = field(default_factory=Path)

    @property
    def label(self) -> str:
        return spec_location(self.spec)


def parallel(items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
    """fn over items on up to MAX_THREADS threads, results in the items' order."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(MAX_THREADS, len(items)), "cvspec-spec") as pool:
        return list(pool.map(fn, items))


@contextmanager
def connections(
    specs: Sequence[Path], environ: Mapping[str, str] | None = None
) -> Iterator[dict[Path, Service]]:
    """One Service per training resource: the accounts of a spec's resources section, the
    Azure endpoint of the environment for every other spec, or one built-in emulator per
    `.cvspec/` folder."""
    from cvspec.commands.common import connect_spec
    from cvspec.service import settings_from_env

    shared = settings_from_env() is not None
    with ExitStack() as stack:
        by_key: dict[Path, Service] = {}
        keys: dict[Path, Path] = {}
        for spec in specs:
            parsed = _resources_spec(spec, environ)
            key = spec if parsed is not None else Path("azure") if shared else state_dir(spec)
            if key not in by_key:
                by_key[key] = stack.enter_context(connect_spec(spec, parsed))
            keys[spec] = key
        yield {spec: by_key[keys[spec]] for spec in specs}


def _resources_spec(spec: Path, environ: Mapping[str, str] | None) -> Spec | None:
    """The spec, when it has a resources section (its accounts are its own service); a spec
    that does not load is reported by its plan, not here."""
    from cvspec.spec import load_spec

    try:
        parsed = load_spec(spec, environ)
    except CvspecError:
        return None
    return parsed if parsed.resources is not None else None


def distinct(services: Mapping[Path, Service]) -> list[Service]:
    """Each Service once (several specs share one)."""
    return list({id(s): s for s in services.values()}.values())


def _error_text(exc: CvspecError) -> str:
    if isinstance(exc, SpecError):
        return "\n".join([*exc.problems, f"the spec has {len(exc.problems)} problem(s)"])
    return str(exc)


def plan_all(
    specs: Sequence[Path],
    services: Mapping[Path, Service],
    environ: Mapping[str, str],
    replace: bool = False,
    destroy: bool = False,
) -> list[SpecPlan]:
    """Every spec's plan, made in parallel; a spec that fails is recorded, not raised."""
    from cvspec.spec import load_and_validate

    def one(spec: Path) -> SpecPlan:
        found = SpecPlan(spec, service=services[spec], base_dir=spec.parent)
        try:
            validated = load_and_validate(spec, environ)
            if destroy:
                from cvspec.commands.common import with_target
                from cvspec.commands.plan import destroy_plan_of

                found.plan = with_target(
                    destroy_plan_of(validated, services[spec]), services[spec], spec
                )
            else:
                found.plan = make_plan(validated, services[spec], replace=replace)
        except CvspecError as exc:
            found.error = _error_text(exc)
        return found

    return parallel(list(specs), one)


# --- showing plans -------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    specs: int
    with_changes: int
    errors: int
    add: int
    change: int
    destroy: int
    gates_failed: int

    def line(self) -> str:
        """`Specs: 3 planned: 2 with changes, 1 without, 0 failed.` then the Plan: line."""
        without = self.specs - self.with_changes - self.errors
        return (
            f"Specs: {self.specs} planned: {self.with_changes} with changes, {without} without,"
            f" {self.errors} failed.\nPlan (all specs): {self.add} to add, {self.change} to "
            f"change, {self.destroy} to destroy."
        )


def totals(found: Sequence[SpecPlan]) -> Totals:
    from cvspec.commands.plan import gates_failed
    from cvspec.render import summarize

    plans = [f.plan for f in found if f.plan is not None]
    summaries = [summarize(p) for p in plans]
    return Totals(
        specs=len(found),
        with_changes=sum(1 for p in plans if not p.is_empty()),
        errors=sum(1 for f in found if f.error is not None),
        add=sum(s.add for s in summaries),
        change=sum(s.change for s in summaries),
        destroy=sum(s.destroy for s in summaries),
        gates_failed=sum(1 for p in plans if p.is_empty() and gates_failed(p)),
    )


def render_many(found: Sequence[SpecPlan], fmt: str, verbose: bool, color: bool) -> str:
    if fmt == "json":
        return json.dumps(many_document(found), indent=2)
    if fmt == "markdown":
        return render_many_markdown(found)
    return render_many_text(found, verbose, color)


def render_many_text(found: Sequence[SpecPlan], verbose: bool, color: bool) -> str:
    from cvspec.commands.plan import plan_target_line
    from cvspec.render import render_text

    blocks = []
    for item in found:
        head = f"=== {item.label}"
        if item.plan is None:
            blocks.append(f"{head}\n\nError: {item.error}")
            continue
        body = render_text(item.plan, verbose=verbose, color=color)
        blocks.append(f"{head}\n\n{plan_target_line(item.plan)}\n\n{body}")
    return "\n\n".join([*blocks, totals(found).line()])


def many_document(found: Sequence[SpecPlan]) -> dict[str, Any]:
    """`--format json` for several specs (docs/gitops.md)."""
    from cvspec.render import FORMAT_VERSION, plan_document

    t = totals(found)
    return {
        "format_version": FORMAT_VERSION,
        "specs": [
            {"spec": item.label, "plan": plan_document(item.plan) if item.plan else None}
            | ({"error": item.error} if item.error is not None else {})
            for item in found
        ],
        "summary": {
            "specs": t.specs,
            "with_changes": t.with_changes,
            "errors": t.errors,
            "add": t.add,
            "change": t.change,
            "destroy": t.destroy,
        },
    }


COMMENT_MARKER = "<!-- cvspec-plan specs -->"


def render_many_markdown(found: Sequence[SpecPlan]) -> str:
    """One pull-request comment for every spec: the totals first, then each spec's plan
    (cvspec.markdown), each within its share of GitHub's comment limit."""
    from cvspec.markdown import MARKDOWN_LIMIT, render_markdown

    t = totals(found)
    lines = [
        COMMENT_MARKER,
        f"## cvspec plan: {t.add} to add, {t.change} to change, {t.destroy} to destroy",
        f"{t.specs} spec(s): {t.with_changes} with changes, {t.errors} failed to plan.",
        "",
    ]
    share = (MARKDOWN_LIMIT - 2000) // max(1, len(found))
    for item in found:
        lines += [f"#### `{item.label}`", ""]
        if item.plan is None:
            lines += ["> [!CAUTION]", f"> **Could not plan:** {_one_line(item.error)}", ""]
            continue
        lines += [render_markdown(item.plan, limit=share), ""]
    return "\n".join(lines).rstrip() + "\n"


def _one_line(text: str | None) -> str:
    return (text or "").replace("\n", "; ")


def exit_status(found: Sequence[SpecPlan], detailed: bool) -> int:
    """1 when any spec failed; with --detailed-exitcode 2 when any has changes, else 3 when
    any spec's iteration failed its gates, else 0."""
    t = totals(found)
    if t.errors:
        return 1
    if not detailed:
        return 0
    if t.with_changes:
        return 2
    return 3 if t.gates_failed else 0


# --- applying ------------------------------------------------------------------------------


def apply_many(
    targets: Sequence[Path],
    environ: Mapping[str, str],
    options: RunOptions,
    auto_approve: bool,
    replace: bool,
) -> bool:
    """Plan every spec, show the plans, ask once, apply them in parallel; True when anything
    was applied. Nothing is applied when any spec fails to plan."""
    from cvspec.commands.apply import confirm
    from cvspec.discover import find_specs

    specs = find_specs(targets)
    with connections(specs, environ) as services:
        found = plan_all(specs, services, environ, replace=replace)
        _show(found, options)
        failed = [f for f in found if f.error is not None]
        if failed:
            raise CvspecError(
                f"{len(failed)} of {len(found)} spec(s) could not be planned "
                f"({', '.join(f.label for f in failed)}); nothing was applied"
            )
        if all(f.plan is not None and f.plan.is_empty() for f in found):
            _write_reports(found, {}, options)
            return False
        if not auto_approve and not confirm():
            raise CvspecError("apply cancelled")
        return _apply_found(found, services, options)


def apply_plan_set(path: Path, environ: Mapping[str, str], options: RunOptions) -> bool:
    """Apply exactly the plans of a plan set, each after checking it is not stale."""
    from cvspec.commands.apply import check_target
    from cvspec.live import read_live
    from cvspec.planfile import check_fresh
    from cvspec.planset import load_plan_set
    from cvspec.spec import load_and_validate

    saved = load_plan_set(path)
    specs = [spec for _, spec in saved]
    with connections(specs, environ) as services:
        found = []
        for plan, spec in saved:
            load_and_validate(spec, environ)
            check_target(plan, services[spec], path)
            check_fresh(plan, read_live(services[spec], plan.project_name))
            found.append(SpecPlan(spec, plan, service=services[spec], base_dir=spec.parent))
        _show(found, options)
        if all(f.plan is not None and f.plan.is_empty() for f in found):
            _write_reports(found, {}, options)
            return False
        return _apply_found(found, services, options)


def _show(found: Sequence[SpecPlan], options: RunOptions) -> None:
    from cvspec.commands.plan import use_color

    if options.as_json:
        for item in found:
            event: dict[str, Any] = {"event": "plan", "spec": item.label}
            event |= {"plan": many_plan(item)} if item.error is None else {"error": item.error}
            click.echo(json.dumps(event))
        return
    color = use_color(options.no_color)
    click.echo(render_many_text(found, verbose=False, color=color), color=color or None)


def many_plan(item: SpecPlan) -> dict[str, Any] | None:
    from cvspec.render import plan_document

    return plan_document(item.plan) if item.plan is not None else None


def _apply_found(
    found: Sequence[SpecPlan], services: Mapping[Path, Service], options: RunOptions
) -> bool:
    """Apply every non-empty plan on its own thread; print each spec's log as it ends."""
    from cvspec import sdk

    for service in distinct(services):  # one rate budget per training resource
        sdk.configure(service.endpoint, rate=options.rate)
    todo = [f for f in found if f.plan is not None and not f.plan.is_empty()]
    out_lock = threading.Lock()
    started = time.monotonic()
    runs = parallel(todo, lambda item: _apply_one(item, options, out_lock))
    by_spec = {item.spec: run for item, run in zip(todo, runs, strict=True)}
    _write_reports(found, by_spec, options)
    _many_summary(todo, runs, services, options, time.monotonic() - started)
    broken = [item.label for item, run in zip(todo, runs, strict=True) if _failed(run)]
    if broken:
        raise CvspecError(
            f"apply failed for {len(broken)} of {len(todo)} spec(s): {', '.join(broken)}; "
            "the others were applied"
        )
    return True


def _failed(run: PlanRun) -> bool:
    return run.error is not None or (run.outcome is not None and bool(run.outcome.failures))


def _apply_one(item: SpecPlan, options: RunOptions, out_lock: threading.Lock) -> PlanRun:
    from cvspec.commands.apply import RunOptions, run_plan
    from cvspec.progress import Reporter

    assert item.plan is not None and item.service is not None
    buffer = io.StringIO()
    reporter = Reporter(stream=buffer, as_json=options.as_json, tty=False)

    def emit(event: str, **fields: Any) -> None:
        if options.as_json:
            reporter(event, spec=item.label, **fields)
        else:
            reporter(event, **fields)

    wants = RunOptions(report_out=options.report_out)
    run = run_plan(item.plan, item.service, item.base_dir, emit, options.parallelism, wants)
    with out_lock:
        if not options.as_json:
            click.echo(f"=== {item.label}: applying")
        click.echo(buffer.getvalue().rstrip("\n"))
        for failure in _run_failures(run):
            click.echo(f"{item.label}: {failure}", err=True)
    return run


def _run_failures(run: PlanRun) -> list[str]:
    found = list(run.outcome.failures) if run.outcome is not None else []
    return [*found, *([str(run.error)] if run.error is not None else [])]


def _many_summary(
    todo: Sequence[SpecPlan],
    runs: Sequence[PlanRun],
    services: Mapping[Path, Service],
    options: RunOptions,
    seconds: float,
) -> None:
    from cvspec import sdk

    stats = [sdk.policy_for(s.endpoint).stats for s in distinct(services)]
    calls = sum(s.total_calls for s in stats)
    retries = sum(sum(s.retries.values()) for s in stats)
    operations = sum(r.outcome.operations for r in runs if r.outcome is not None)
    failed = sum(1 for r in runs if _failed(r))
    if options.as_json:
        click.echo(
            json.dumps(
                {
                    "event": "summary",
                    "specs": len(todo),
                    "failed": failed,
                    "operations": operations,
                    "seconds": round(seconds, 3),
                    "calls": calls,
                    "retries": retries,
                }
            )
        )
        return
    click.echo(
        f"Apply complete for {len(todo) - failed} of {len(todo)} spec(s) with changes: "
        f"{operations} operation(s) in {seconds:.1f}s; {calls} service call(s)"
        + (f", {retries} retried." if retries else ".")
    )


def _write_reports(
    found: Sequence[SpecPlan], runs: Mapping[Path, PlanRun], options: RunOptions
) -> None:
    """One Markdown report for every spec (cvspec.report.render_combined)."""
    if options.report_out is None:
        return
    from cvspec import report

    bodies = []
    for item in found:
        run = runs.get(item.spec)
        if run is not None and run.report is not None:
            bodies.append((item.label, run.report))
        elif item.plan is not None:
            result = report.outcome(item.plan, report.OpLog(), (), None)
            bodies.append((item.label, report.render_report(item.plan, result, None, None)))
    options.report_out.write_text(report.render_combined(bodies), encoding="utf-8")
