"""`cvspec apply` (a spec, or a plan saved by `cvspec plan -out`) and `cvspec destroy`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import REPLACE, SPEC, TAKE_OVER, make_plan, session, state_dir
from cvspec.errors import CvspecError

if TYPE_CHECKING:
    from cvspec.apply import ApplyResult
    from cvspec.lock import ProjectLock
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
LOCK_TIMEOUT = click.option(
    "--lock-timeout",
    default="0s",
    show_default=True,
    help="How long to wait for another apply's lock on the project (30s, 5m); 0s refuses "
    "at once, naming the holder (docs/concurrency.md).",
)


@click.command()
@click.argument("target", metavar="SPEC|PLANFILE", type=click.Path(path_type=Path, dir_okay=False))
@AUTO_APPROVE
@REPLACE
@JSON
@PARALLELISM
@RATE
@NO_COLOR
@LOCK_TIMEOUT
@TAKE_OVER
def apply(
    target: Path,
    auto_approve: bool,
    replace: bool,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool,
    lock_timeout: str,
    take_over: bool,
) -> None:
    """Bring the service to the state the spec describes.

    Given a plan file saved by `cvspec plan -out` (recognised by its content, whatever its
    name), apply exactly that plan, after checking that the live state has not changed since
    (no confirmation is asked; a replacement it holds was allowed with `plan --replace`).
    """
    from cvspec.lock import parse_duration
    from cvspec.planfile import is_plan_file

    lock = _Locking(parse_duration(lock_timeout), take_over)
    saved = is_plan_file(target)
    if as_json and not auto_approve and not saved:
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    with _interruptible():
        if saved:
            _apply_saved(target, as_json, parallelism, rate, no_color, lock)
        else:
            _apply_spec(target, auto_approve, replace, as_json, parallelism, rate, no_color, lock)


@dataclass(frozen=True)
class _Locking:
    """--lock-timeout (seconds) and --take-over."""

    timeout: float = 0.0
    take_over: bool = False

    def hold(self, service: Service, project: str) -> AbstractContextManager[ProjectLock]:
        from cvspec.lock import hold_lock

        return hold_lock(service, project, self.timeout, lambda text: click.echo(text, err=True))


def _apply_spec(
    target: Path,
    auto_approve: bool,
    replace: bool,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool = False,
    locking: _Locking = _Locking(),
) -> None:
    with session(target) as (validated, service):
        reporter = _reporter(service, as_json, rate, no_color)
        with locking.hold(service, validated.spec.project.name) as lock:
            result = make_plan(validated, service, replace=replace, take_over=locking.take_over)
            lock.owner = result.owner
            _show_plan(result, reporter, _where(service, target), no_color)
            if result.is_empty():
                return
            if not auto_approve and not confirm():
                raise CvspecError("apply cancelled")
            _run(result, service, validated.base_dir, reporter, parallelism, lock=lock)


def _apply_saved(
    path: Path,
    as_json: bool,
    parallelism: int,
    rate: float | None,
    no_color: bool = False,
    locking: _Locking = _Locking(),
) -> None:
    from cvspec.live import read_live
    from cvspec.planfile import check_fresh, load_plan, saved_spec

    saved = load_plan(path)
    spec = saved_spec(path, saved)
    with session(spec) as (validated, service):
        reporter = _reporter(service, as_json, rate, no_color)
        with locking.hold(service, saved.project_name) as lock:
            lock.owner = saved.owner
            check_fresh(saved, read_live(service, saved.project_name))
            _show_plan(saved, reporter, _where(service, spec), no_color)
            if saved.is_empty():
                return
            _run(saved, service, validated.base_dir, reporter, parallelism, lock=lock)


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
    lock: ProjectLock | None = None,
) -> None:
    from cvspec.apply import apply_plan

    started = time.monotonic()
    checkpoint = lock.checkpoint if lock is not None else None
    with _interruptible(reporter):
        outcome = apply_plan(
            plan, service, base_dir, reporter, parallelism=parallelism, checkpoint=checkpoint
        )
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

    stats = sdk.policy_for(service.endpoint).stats
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
    from cvspec.destroy import destroy_lines
    from cvspec.diff import destroy_plan
    from cvspec.live import read_live
    from cvspec.service import connect
    from cvspec.spec import load_spec

    if as_json and not auto_approve:
        raise CvspecError("--json needs --auto-approve (there is no prompt in JSON mode)")
    parsed = load_spec(spec)  # the images are not needed, only the project's name
    with connect(state_dir(spec)) as service, _Locking().hold(service, parsed.project.name):
        reporter = _reporter(service, as_json, rate)
        live = read_live(service, parsed.project.name)
        plan = destroy_plan(parsed.project.name, live, parsed.protect)
        if plan.is_empty():
            click.echo(f"Nothing to destroy: project {parsed.project.name!r} does not exist.")
            return
        if as_json:
            _show_plan(plan, reporter)
        else:
            click.echo(_where(service, spec) + "\n")
            click.echo("\n".join(destroy_lines(live, plan)))
        if not auto_approve and not confirm("Do you really want to destroy this project?"):
            raise CvspecError("destroy cancelled")
        _run(plan, service, spec.resolve().parent, reporter, parallelism=1, verb="Destroy")
