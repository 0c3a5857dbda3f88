"""`cvspec apply` (a spec, or a plan saved by `cvspec plan -out`) and `cvspec destroy`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import REPLACE, SPEC, make_plan, session, state_dir
from cvspec.errors import CvspecError

if TYPE_CHECKING:
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


@click.command()
@click.argument("target", metavar="SPEC|PLANFILE", type=click.Path(path_type=Path, dir_okay=False))
@AUTO_APPROVE
@REPLACE
@JSON
@PARALLELISM
@RATE
@NO_COLOR
def apply(
    target: Path,
    auto_approve: bool,
    replace: bool,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool,
) -> None:
    """Bring the service to the state the spec describes.

    Given a plan file saved by `cvspec plan -out` (recognised by its content, whatever its
    name), apply exactly that plan, after checking that the live state has not changed since
    (no confirmation is asked; a replacement it holds was allowed with `plan --replace`).
    """
    from cvspec.planfile import is_plan_file

    saved = is_plan_file(target)
    if as_json and not auto_approve and not saved:
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    with _interruptible():
        if saved:
            _apply_saved(target, as_json, parallelism, rate, no_color)
        else:
            _apply_spec(target, auto_approve, replace, as_json, parallelism, rate, no_color)


def _apply_spec(
    target: Path,
    auto_approve: bool,
    replace: bool,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool = False,
) -> None:
    with session(target) as (validated, service):
        reporter = _reporter(service, as_json, rate, no_color)
        result = make_plan(validated, service, replace=replace)
        _show_plan(result, reporter, _where(service, target), no_color)
        if result.is_empty():
            return
        if not auto_approve and not confirm():
            raise CvspecError("apply cancelled")
        _run(result, service, validated.base_dir, reporter, parallelism)


def _apply_saved(
    path: Path, as_json: bool, parallelism: int, rate: float | None, no_color: bool = False
) -> None:
    from cvspec.commands.common import live_state
    from cvspec.planfile import check_fresh, load_plan, saved_spec

    saved = load_plan(path)
    spec = saved_spec(path, saved)
    with session(spec) as (validated, service):
        reporter = _reporter(service, as_json, rate, no_color)
        _check_accounts_fresh(saved, service)  # first: it says what changed in the accounts
        check_fresh(saved, live_state(service, saved.project_name))
        _show_plan(saved, reporter, _where(service, spec), no_color)
        if saved.is_empty():
            return
        _run(saved, service, validated.base_dir, reporter, parallelism)


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


def _where(service: Service, spec: Path) -> str:
    from cvspec.commands.plan import target_line

    return target_line(service, spec)


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
    verb: str = "Apply",
) -> None:
    from cvspec.apply import apply_plan

    started = time.monotonic()
    with _interruptible(reporter):
        outcome = apply_plan(plan, service, base_dir, reporter, parallelism=parallelism)
    _summary(outcome, service, reporter, time.monotonic() - started, verb)
    if outcome.failures:
        for failure in outcome.failures:
            click.echo(failure, err=True)
        raise CvspecError(
            f"{verb.lower()} finished with {len(outcome.failures)} failure(s); the rest was applied"
        )


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
def destroy(spec: Path, auto_approve: bool, as_json: bool, rate: float | None) -> None:
    """Delete the spec's project, unpublishing its iterations first.

    Refused when the spec says `protect: true`.
    """
    from cvspec.commands.common import destroy_plan_for, live_state
    from cvspec.destroy import destroy_lines
    from cvspec.service import connect
    from cvspec.spec import load_spec

    if as_json and not auto_approve:
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    parsed = load_spec(spec)  # the images are not needed, only the project's name
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
            click.echo(_where(service, spec) + "\n")
            click.echo("\n".join(destroy_lines(live, plan) + _account_lines(plan)))
        if not auto_approve and not confirm("Do you really want to destroy this project?"):
            raise CvspecError("destroy cancelled")
        _run(plan, service, spec.resolve().parent, reporter, parallelism=1, verb="Destroy")
