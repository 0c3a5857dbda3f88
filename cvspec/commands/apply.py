"""`cvspec apply` (a spec, or a plan saved by `cvspec plan -out`) and `cvspec destroy`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cvspec.commands.common import (
    REPLACE,
    SPEC,
    make_plan,
    session,
    spec_environment,
    state_dir,
    variable_options,
)
from cvspec.errors import CvspecError, PlanError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cvspec.apply import ApplyResult
    from cvspec.plan import Plan
    from cvspec.progress import Reporter
    from cvspec.service import Service

PARALLELISM = click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Service calls in flight at once (upload batches, tag changes).",
)
RATE = click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Service calls per second, never exceeded [default: 10, the S0/F0 limit].",
)
AUTO_APPROVE = click.option(
    "--auto-approve", is_flag=True, help="Apply without asking for confirmation."
)
JSON = click.option("--json", "as_json", is_flag=True, help="Stream progress events as JSON lines.")
NO_COLOR = click.option(
    "--no-color", is_flag=True, help="No colour (also off when NO_COLOR is set or not a terminal)."
)


REPORT_OUT = click.option(
    "--report-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a Markdown report of the apply (operations done, failed, skipped; the new "
    "iteration's evaluation next to the one it replaced) to this file, for the merged PR.",
)
DETAILED_EXITCODE = click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there was nothing to apply, 2 when changes were applied, 1 on error.",
)


@click.command()
@click.argument(
    "targets",
    metavar="SPEC|PLANFILE|DIR...",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path),
)
@AUTO_APPROVE
@REPLACE
@JSON
@PARALLELISM
@RATE
@NO_COLOR
@REPORT_OUT
@DETAILED_EXITCODE
@variable_options
def apply(
    targets: tuple[Path, ...],
    auto_approve: bool,
    replace: bool,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool,
    report_out: Path | None,
    detailed_exitcode: bool,
    var: tuple[str, ...],
    var_file: tuple[Path, ...],
) -> None:
    """Bring the service to the state the spec describes.

    Given a plan file saved by `cvspec plan -out` (recognised by its content, whatever its
    name), apply exactly that plan, after checking that the live state has not changed since
    (no confirmation is asked; a replacement it holds was allowed with `plan --replace`).
    Given a directory or several paths, apply every spec found (docs/gitops.md).
    """
    from cvspec.planfile import is_plan_file
    from cvspec.planset import is_plan_set

    environ = spec_environment(var_file, var)
    target = targets[0]
    single = len(targets) == 1 and not target.is_dir()
    saved = single and is_plan_file(target)
    if as_json and not auto_approve and not saved and not (single and is_plan_set(target)):
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    options = RunOptions(as_json, parallelism, rate, no_color, report_out)
    with _interruptible():
        if single and is_plan_set(target):
            from cvspec.commands.many import apply_plan_set

            changed = apply_plan_set(target, environ, options)
        elif not single:
            from cvspec.commands.many import apply_many

            changed = apply_many(targets, environ, options, auto_approve, replace)
        elif saved:
            changed = _apply_saved(target, environ, options)
        else:
            changed = _apply_spec(target, environ, options, auto_approve, replace)
    if detailed_exitcode and changed:
        sys.exit(2)


@dataclass(frozen=True)
class RunOptions:
    """How an apply runs and reports, whatever it applies."""

    as_json: bool = False
    parallelism: int = 4
    rate: float | None = None
    no_color: bool = False
    report_out: Path | None = None


def _apply_spec(
    target: Path,
    environ: Mapping[str, str],
    options: RunOptions,
    auto_approve: bool,
    replace: bool,
) -> bool:
    """Plan, confirm, apply; True when something was applied."""
    with session(target, environ) as (validated, service):
        reporter = _reporter(service, options.as_json, options.rate, options.no_color)
        result = make_plan(validated, service, replace=replace)
        _show_plan(result, reporter, _where(service, target, result), options.no_color)
        if result.is_empty():
            _write_empty_report(result, options.report_out)
            return False
        if not auto_approve and not confirm():
            raise CvspecError("apply cancelled")
        _run(result, service, validated.base_dir, reporter, options.parallelism, options)
        return True


def _apply_saved(path: Path, environ: Mapping[str, str], options: RunOptions) -> bool:
    """Apply exactly a saved plan; True when something was applied."""
    from cvspec.commands.common import live_state
    from cvspec.planfile import check_fresh, load_plan, saved_spec

    saved = load_plan(path)
    spec = saved_spec(path, saved)
    with _unset_hint(), session(spec, environ) as (validated, service):
        check_target(saved, service, path)
        reporter = _reporter(service, options.as_json, options.rate, options.no_color)
        _check_accounts_fresh(saved, service)  # first: it says what changed in the accounts
        check_fresh(saved, live_state(service, saved.project_name))
        _show_plan(saved, reporter, _where(service, spec, saved), options.no_color)
        if saved.is_empty():
            _write_empty_report(saved, options.report_out)
            return False
        _run(saved, service, validated.base_dir, reporter, options.parallelism, options)
        return True


@contextmanager
def _unset_hint() -> Iterator[None]:
    """A saved plan's spec is read again: say so when its variables are missing."""
    from cvspec.errors import SpecError

    try:
        yield
    except SpecError as exc:
        if any("is not set" in problem for problem in exc.problems):
            hint = (
                "(the saved plan's spec is read again when it is applied: give `apply "
                "PLANFILE` the same --var and --var-file as the `plan` that made it)"
            )
            raise SpecError([*exc.problems, hint]) from None
        raise


def check_target(saved: Plan, service: Service, path: Path) -> None:
    """Refuse a saved plan made for another service than the one the environment names
    (a plan reviewed for dev applied to prod)."""
    from cvspec.render import endpoint_host

    if not saved.target:
        return
    host = endpoint_host(service.endpoint) if service.target == "azure" else ""
    if (saved.target, saved.target_host) != (service.target, host):
        made = saved.target_host or "the built-in emulator"
        now = host or "the built-in emulator"
        raise PlanError(
            f"{path}: the plan was made for {made}, but the environment points at {now}; "
            "apply it where it was planned, or plan again"
        )


def _check_accounts_fresh(saved: Plan, service: Service) -> None:
    """Refuse a saved plan whose accounts changed since it was made (created, SKU changed)."""
    from cvspec import ops
    from cvspec.diff_resources import stale_accounts
    from cvspec.errors import StalePlanError

    planned = [op for op in saved.operations if isinstance(op, ops.ACCOUNT_OPS)]
    if not planned or service.resources is None:
        return
    changed = stale_accounts(planned, service.resources.read())
    if changed:
        raise StalePlanError(f"Saved plan is stale: {'; '.join(changed)}. Run `cvspec plan` again.")


def _account_lines(plan: Plan) -> list[str]:
    """The accounts `cvspec destroy` deletes (resources.destroy_with_project), one line each."""
    from cvspec import ops
    from cvspec.render import describe

    deleting = plan.of_type(ops.DeleteAccount)
    lines = [line for op in deleting for line in describe(op)]
    return ["", "and the accounts:", *lines] if lines else []


def _where(service: Service, spec: Path, plan: Plan | None = None) -> str:
    from cvspec.commands.plan import target_line

    return target_line(service, spec, plan.project_name if plan is not None else "")


def _show_plan(plan: Plan, reporter: Reporter, where: str = "", no_color: bool = False) -> None:
    """The target and the plan as text (coloured as `cvspec plan` colours it), or one `plan`
    event (docs/plan-json.md) in JSON mode."""
    from cvspec.commands.plan import use_color
    from cvspec.render import render_json, render_text

    if reporter.as_json:
        reporter("plan", plan=json.loads(render_json(plan)))
        return
    if where:
        click.echo(where + "\n")
    color = use_color(no_color)
    click.echo(render_text(plan, color=color), color=color or None)


def _reporter(
    service: Service, as_json: bool, rate: float | None, no_color: bool = False
) -> Reporter:
    from cvspec import sdk
    from cvspec.progress import Reporter

    reporter = Reporter(as_json=as_json, color=not no_color)
    sdk.configure(service.endpoint, rate=rate, on_retry=reporter.retry)
    return reporter


def _run(
    plan: Plan,
    service: Service,
    base_dir: Path,
    reporter: Reporter,
    parallelism: int,
    options: RunOptions | None = None,
    verb: str = "Apply",
) -> None:
    started = time.monotonic()
    with _interruptible(reporter):
        run = run_plan(plan, service, base_dir, reporter, parallelism, options)
    if options is not None and options.report_out is not None and run.report is not None:
        options.report_out.write_text(run.report, encoding="utf-8")
    if run.error is not None:
        raise run.error
    assert run.outcome is not None
    _summary(run.outcome, service, reporter, time.monotonic() - started, verb)
    if run.outcome.failures:
        for failure in run.outcome.failures:
            click.echo(failure, err=True)
        raise CvspecError(
            f"{verb.lower()} finished with {len(run.outcome.failures)} failure(s); "
            "the rest was applied"
        )


@dataclass
class PlanRun:
    """What running one plan gave: the applier's result or the error that stopped it, and
    the Markdown report when one was asked for."""

    outcome: ApplyResult | None = None
    error: CvspecError | None = None
    report: str | None = None


def run_plan(
    plan: Plan,
    service: Service,
    base_dir: Path,
    emit: Callable[..., None],
    parallelism: int,
    options: RunOptions | None = None,
) -> PlanRun:
    """Apply `plan`; a CvspecError is returned, not raised, so the report still gets written."""
    from cvspec import report
    from cvspec.apply import apply_plan

    wants_report = options is not None and options.report_out is not None
    log = report.OpLog()
    before = (
        report.read_evaluation(service, plan, report.replaced_iteration(plan))
        if wants_report
        else None
    )

    def recording(event: str, **fields: Any) -> None:
        log.record(event, fields)
        emit(event, **fields)

    run = PlanRun()
    try:
        run.outcome = apply_plan(plan, service, base_dir, recording, parallelism=parallelism)
    except CvspecError as exc:
        run.error = exc
    if wants_report:
        after = report.read_evaluation(service, plan, report.new_iteration(plan))
        failures = run.outcome.failures if run.outcome is not None else ()
        result = report.outcome(plan, log, failures, str(run.error) if run.error else None)
        run.report = report.render_report(plan, result, before, after)
    return run


def _write_empty_report(plan: Plan, report_out: Path | None) -> None:
    if report_out is None:
        return
    from cvspec import report

    result = report.outcome(plan, report.OpLog(), (), None)
    report_out.write_text(report.render_report(plan, result, None, None), encoding="utf-8")


@contextmanager
def _interruptible(reporter: Reporter | None = None) -> Iterator[None]:
    """Ctrl-C: say that nothing is lost and exit 130, as shells expect. Whatever the reporter
    has live on the terminal stops first, however the block ends."""
    try:
        yield
    except KeyboardInterrupt:
        if reporter is not None:
            reporter("interrupted")
        click.echo(
            "\nInterrupted. What was done is kept; run `cvspec apply` again to finish.", err=True
        )
        sys.exit(130)
    finally:
        if reporter is not None:
            reporter.close()


def _summary(
    outcome: ApplyResult, service: Service, reporter: Reporter, seconds: float, verb: str
) -> None:
    from cvspec import sdk

    stats = sdk.policy_for(outcome.endpoint or service.endpoint).stats
    retries = sum(stats.retries.values())
    if reporter.as_json:
        reporter(
            "summary",
            operations=outcome.operations,
            failures=len(outcome.failures),
            seconds=round(seconds, 3),
            calls=stats.total_calls,
            calls_by_operation=dict(stats.calls),
            retries=dict(stats.retries),
        )
        return
    detail = ", ".join(f"{n} after {reason}" for reason, n in sorted(stats.retries.items()))
    click.echo(
        f"{verb} complete! {outcome.operations} operation(s) done in {seconds:.1f}s; "
        f"{stats.total_calls} service call(s)"
        + (f", {retries} retried ({detail})." if retries else ".")
    )


def confirm(question: str = "Do you want to perform these actions?") -> bool:
    """Terraform's prompt: only 'yes' approves."""
    click.echo(f"\n{question}\n  Only 'yes' will be accepted to approve.")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


@click.command()
@SPEC
@AUTO_APPROVE
@JSON
@RATE
@variable_options
def destroy(
    spec: Path,
    auto_approve: bool,
    as_json: bool,
    rate: float | None,
    var: tuple[str, ...],
    var_file: tuple[Path, ...],
) -> None:
    """Delete the spec's project, unpublishing its iterations first.

    Refused when the spec says `protect: true`.
    """
    from cvspec.commands.common import destroy_plan_for, live_state
    from cvspec.destroy import destroy_lines
    from cvspec.service import connect
    from cvspec.spec import load_spec

    if as_json and not auto_approve:
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    # the images are not needed, only the project's name
    parsed = load_spec(spec, spec_environment(var_file, var))
    wanted = parsed.publish.prediction_resource if parsed.publish else None
    with connect(state_dir(spec), parsed.resources, wanted) as service:
        reporter = _reporter(service, as_json, rate)
        live = live_state(service, parsed.project.name)
        plan = destroy_plan_for(parsed, service)
        if plan.is_empty():
            click.echo(f"Nothing to destroy: project {parsed.project.name!r} does not exist.")
            return
        if as_json:
            _show_plan(plan, reporter)
        else:
            click.echo(_where(service, spec, plan) + "\n")
            click.echo("\n".join(destroy_lines(live, plan) + _account_lines(plan)))
        if not auto_approve and not confirm("Do you really want to destroy this project?"):
            raise CvspecError("destroy cancelled")
        _run(plan, service, spec.resolve().parent, reporter, parallelism=1, verb="Destroy")
