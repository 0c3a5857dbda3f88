"""`cvspec plan`: show what apply would change; `cvspec show`: render a saved plan."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import (
    REPLACE,
    make_plan,
    session,
    spec_environment,
    state_dir,
    variable_options,
    with_target,
)

if TYPE_CHECKING:
    from cvspec.plan import Plan
    from cvspec.service import Service
    from cvspec.spec import ValidatedSpec

EMULATOR_RATE = 10_000.0  # calls per second: in effect unlimited

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "html"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (docs/plan-json.md), markdown for a PR comment, "
    "html for a self-contained visual report (docs/reports.md).",
)
HTML_LINK = click.option(
    "--html-link",
    metavar="URL",
    help="With --format markdown: link the comment to the HTML report at URL (docs/reports.md).",
)
VERBOSE = click.option("--verbose", "-v", is_flag=True, help="List every image that changes.")
NO_COLOR = click.option(
    "--no-color", is_flag=True, help="No colour (also off when NO_COLOR is set or not a terminal)."
)


@click.command()
@click.argument(
    "specs", metavar="SPEC|DIR...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan to this file, for `cvspec apply FILE` (holds no keys).",
)
@click.option(
    "--destroy", is_flag=True, help="Plan the project's destruction (what `cvspec destroy` does)."
)
@REPLACE
@FORMAT
@HTML_LINK
@VERBOSE
@NO_COLOR
@variable_options
def plan(
    specs: tuple[Path, ...],
    detailed_exitcode: bool,
    out: Path | None,
    destroy: bool,
    replace: bool,
    fmt: str,
    html_link: str | None,
    verbose: bool,
    no_color: bool,
    var: tuple[str, ...],
    var_file: tuple[Path, ...],
) -> None:
    """Show what apply would change in the service.

    Given a directory or several paths, plan every spec found, in parallel, with one
    combined summary and exit status (docs/gitops.md).

    Exit status: 0 on success (with --detailed-exitcode: 0 no changes, 2 changes, 3 no
    changes but the spec's iteration failed its quality gates and is not published), 1 on
    error. Note that click's usage errors also exit 2, as Terraform's do.
    """
    environ = spec_environment(var_file, var)
    if len(specs) != 1 or specs[0].is_dir():
        status = _plan_many(specs, environ, out, destroy, replace, fmt, verbose, no_color)
        sys.exit(status if detailed_exitcode or status == 1 else 0)
    spec = specs[0]
    with session(spec, environ) as (validated, service):
        unthrottle_emulator(service)
        if destroy:
            result = destroy_plan_of(validated, service)
        else:
            result = make_plan(validated, service, replace=replace)
        result = with_target(result, service, validated.path)
        html = _plan_html(result, validated, service) if fmt == "html" else None
    if out is not None:
        from cvspec.planfile import save_plan

        save_plan(result, out)
    if fmt == "text":
        click.echo(plan_target_line(result) + "\n")
    shown = html if html is not None else _render(result, fmt, verbose, no_color, html_link)
    click.echo(shown, color=use_color(no_color) or None)
    if out is not None and fmt == "text":
        click.echo(
            f"\nSaved the plan to: {out}\n\nTo apply exactly this plan, run:\n"
            f"    cvspec apply {out}"
        )
    if detailed_exitcode and not result.is_empty():
        sys.exit(2)
    if detailed_exitcode and gates_failed(result):
        sys.exit(3)


def _plan_many(
    specs: tuple[Path, ...],
    environ: Mapping[str, str],
    out: Path | None,
    destroy: bool,
    replace: bool,
    fmt: str,
    verbose: bool,
    no_color: bool,
) -> int:
    """Plan every spec found; print them and the totals; the exit status (detailed)."""
    from cvspec.commands.many import connections, exit_status, plan_all, render_many
    from cvspec.discover import find_specs

    _one_spec_for_html(fmt)
    found_specs = find_specs(specs)
    with connections(found_specs, environ) as services:
        for service in {id(s): s for s in services.values()}.values():
            unthrottle_emulator(service)
        found = plan_all(found_specs, services, environ, replace=replace, destroy=destroy)
    status = exit_status(found, detailed=True)
    if out is not None and status != 1:
        from cvspec.planset import save_plan_set

        save_plan_set([f.plan for f in found if f.plan is not None], out)
    click.echo(render_many(found, fmt, verbose, use_color(no_color)))
    if out is not None and fmt == "text":
        if status == 1:
            click.echo(f"\nNot saved to {out}: a spec could not be planned.", err=True)
        else:
            click.echo(f"\nSaved the plans to: {out}\n\nTo apply exactly these plans, run:")
            click.echo(f"    cvspec apply {out}")
    if status == 1:
        click.echo("Error: a spec could not be planned (see above)", err=True)
    return status


@click.command()
@click.argument("planfile", type=click.Path(path_type=Path, dir_okay=False))
@FORMAT
@HTML_LINK
@VERBOSE
@NO_COLOR
def show(planfile: Path, fmt: str, html_link: str | None, verbose: bool, no_color: bool) -> None:
    """Render a plan saved by `cvspec plan -out PLANFILE` (no service call)."""
    from cvspec.planfile import load_plan
    from cvspec.planset import is_plan_set

    if is_plan_set(planfile):
        _show_set(planfile, fmt, verbose, no_color)
        return
    saved = load_plan(planfile)
    if fmt == "html":
        click.echo(_saved_plan_html(saved, planfile))
        return
    if fmt == "text" and saved.target:
        click.echo(plan_target_line(saved) + "\n")
    click.echo(_render(saved, fmt, verbose, no_color, html_link), color=use_color(no_color) or None)


def _plan_html(result: Plan, validated: ValidatedSpec, service: Service) -> str:
    """The HTML report, with what only the service knows: live tag counts, evaluations and
    thumbnails of the images to delete."""
    from cvspec.html import service_facts as facts
    from cvspec.html.report import render_plan_html

    spec = validated.spec
    return render_plan_html(
        result,
        validated.base_dir,
        before=facts.tag_counts_before(service, result),
        evaluations=facts.evaluation_columns(
            service, result, spec.publish.name if spec.publish else None, spec.gates.threshold
        ),
        fetch=facts.thumbnail_fetcher(service, result),
    )


def _saved_plan_html(saved: Plan, planfile: Path) -> str:
    """The HTML report of a saved plan: its images from the spec's folder, when it is here."""
    from cvspec.errors import PlanError
    from cvspec.html.report import render_plan_html
    from cvspec.planfile import saved_spec

    try:
        base: Path | None = saved_spec(planfile, saved).parent
    except PlanError:
        base = None  # placeholders instead of thumbnails
    return render_plan_html(saved, base)


def _one_spec_for_html(fmt: str) -> None:
    if fmt == "html":
        from cvspec.errors import CvspecError

        raise CvspecError("--format html renders one spec's plan; give one spec, not several")


def _show_set(path: Path, fmt: str, verbose: bool, no_color: bool) -> None:
    from cvspec.commands.many import SpecPlan, render_many
    from cvspec.planset import load_plan_set

    _one_spec_for_html(fmt)
    found = [SpecPlan(spec, plan, base_dir=spec.parent) for plan, spec in load_plan_set(path)]
    click.echo(render_many(found, fmt, verbose, use_color(no_color)))


def gates_failed(result: Plan) -> bool:
    """Nothing to apply, but the spec's iteration failed its quality gates (exit 3)."""
    from cvspec.plan import DriftKind

    return any(d.kind is DriftKind.GATES_FAILED for d in result.drift)


def destroy_plan_of(validated: ValidatedSpec, service: Service) -> Plan:
    from cvspec.commands.common import destroy_plan_for

    return destroy_plan_for(validated.spec, service)


def target_line(service: Service, spec: Path, project: str = "") -> str:
    """`Target: built-in emulator (state in DIR)` or `Target: HOST`, then the project: where
    plan and apply act."""
    from cvspec.render import target_line as line

    return line(service.target, service.endpoint, _shown_state(spec), project)


def plan_target_line(result: Plan) -> str:
    """The target line of a plan, from what the plan records (also for a saved plan)."""
    from cvspec.render import target_line as line

    state = _shown_state(Path(result.spec_path)) if result.spec_path else ""
    endpoint = f"https://{result.target_host}" if result.target_host else ""
    return line(result.target, endpoint, state, result.project_name)


def _shown_state(spec: Path) -> str:
    state = state_dir(spec) / "emulator"
    try:
        shown = os.path.relpath(state)
    except ValueError:  # another drive (Windows)
        shown = str(state)
    if shown.startswith(".."):
        shown = str(state)
    return shown


def unthrottle_emulator(service: Service) -> None:
    """The built-in emulator has no call rate limit; Azure keeps cvspec's default (10/s)."""
    if service.target == "emulator":
        from cvspec import sdk

        sdk.configure(service.endpoint, rate=EMULATOR_RATE)


def _render(
    result: Plan, fmt: str, verbose: bool, no_color: bool, html_link: str | None = None
) -> str:
    from cvspec.markdown import render_markdown
    from cvspec.render import render_json, render_text

    if fmt == "json":
        return render_json(result)
    if fmt == "markdown":
        return with_report_link(render_markdown(result), html_link)
    return render_text(result, verbose=verbose, color=use_color(no_color))


def with_report_link(markdown: str, url: str | None) -> str:
    """The comment with a link to the HTML report under its title line."""
    if not url:
        return markdown
    lines = markdown.split("\n")
    title = next((n for n, line in enumerate(lines) if line.startswith("#")), 0)
    safe = url.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
    link = f"[Visual report (HTML): thumbnails, tag counts, evaluations]({safe})"
    return "\n".join([*lines[: title + 1], "", link, *lines[title + 1 :]])


def use_color(no_color: bool) -> bool:
    """Whether to colour standard output: rich's Console decides (a terminal that is not
    TERM=dumb, or FORCE_COLOR / TTY_COMPATIBLE=1 set; never with NO_COLOR set, which wins over
    FORCE_COLOR). `--no-color` answers without importing rich."""
    if no_color:
        return False
    from rich.console import Console

    console = Console(file=sys.stdout)
    return console.color_system is not None and not console.no_color
