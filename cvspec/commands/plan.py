"""`cvspec plan`: show what apply would change; `cvspec show`: render a saved plan."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import (
    REPLACE,
    SPEC,
    TAKE_OVER,
    make_plan,
    session,
    spec_location,
    state_dir,
)

if TYPE_CHECKING:
    from cvspec.plan import Plan
    from cvspec.service import Service
    from cvspec.spec import ValidatedSpec

EMULATOR_RATE = 10_000.0  # calls per second: in effect unlimited

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (docs/plan-json.md), markdown for a PR comment.",
)
VERBOSE = click.option("--verbose", "-v", is_flag=True, help="List every image that changes.")
NO_COLOR = click.option(
    "--no-color", is_flag=True, help="No colour (also off when NO_COLOR is set or not a terminal)."
)


@click.command()
@SPEC
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
@VERBOSE
@NO_COLOR
@TAKE_OVER
def plan(
    spec: Path,
    detailed_exitcode: bool,
    out: Path | None,
    destroy: bool,
    replace: bool,
    fmt: str,
    verbose: bool,
    no_color: bool,
    take_over: bool,
) -> None:
    """Show what apply would change in the service.

    Exit status: 0 on success (with --detailed-exitcode: 0 no changes, 2 changes, 3 no
    changes but the spec's iteration failed its quality gates and is not published), 1 on
    error. Note that click's usage errors also exit 2, as Terraform's do.
    """
    with session(spec) as (validated, service):
        _unthrottle_emulator(service)
        if destroy:
            result = _destroy_plan(validated, service)
        else:
            result = make_plan(validated, service, replace=replace, take_over=take_over)
    result = dataclasses.replace(
        result, target=service.target, spec_path=spec_location(validated.path)
    )
    if out is not None:
        from cvspec.planfile import save_plan

        save_plan(result, out)
    if fmt == "text":
        click.echo(target_line(service, spec) + "\n")
    click.echo(_render(result, fmt, verbose, no_color), color=use_color(no_color) or None)
    if out is not None and fmt == "text":
        click.echo(
            f"\nSaved the plan to: {out}\n\nTo apply exactly this plan, run:\n"
            f"    cvspec apply {out}"
        )
    if detailed_exitcode and not result.is_empty():
        sys.exit(2)
    if detailed_exitcode and _gates_failed(result):
        sys.exit(3)


@click.command()
@click.argument("planfile", type=click.Path(path_type=Path, dir_okay=False))
@FORMAT
@VERBOSE
@NO_COLOR
def show(planfile: Path, fmt: str, verbose: bool, no_color: bool) -> None:
    """Render a plan saved by `cvspec plan -out PLANFILE` (no service call)."""
    from cvspec.planfile import load_plan

    saved = load_plan(planfile)
    click.echo(_render(saved, fmt, verbose, no_color), color=use_color(no_color) or None)


def _gates_failed(result: Plan) -> bool:
    """Nothing to apply, but the spec's iteration failed its quality gates (exit 3)."""
    from cvspec.plan import DriftKind

    return any(d.kind is DriftKind.GATES_FAILED for d in result.drift)


def _destroy_plan(validated: ValidatedSpec, service: Service) -> Plan:
    from cvspec.diff import destroy_plan
    from cvspec.live import read_live

    project = validated.spec.project.name
    return destroy_plan(project, read_live(service, project), validated.spec.protect)


def target_line(service: Service, spec: Path) -> str:
    """`Target: built-in emulator (state in DIR)` or `Target: HOST`: where plan and apply act."""
    from cvspec.render import target_line as line

    state = state_dir(spec) / "emulator"
    try:
        shown = os.path.relpath(state)
    except ValueError:  # another drive (Windows)
        shown = str(state)
    if shown.startswith(".."):
        shown = str(state)
    return line(service.target, service.endpoint, shown)


def _unthrottle_emulator(service: Service) -> None:
    """The built-in emulator has no call rate limit; Azure keeps cvspec's default (10/s)."""
    if service.target == "emulator":
        from cvspec import sdk

        sdk.configure(service.endpoint, rate=EMULATOR_RATE)


def _render(result: Plan, fmt: str, verbose: bool, no_color: bool) -> str:
    from cvspec.markdown import render_markdown
    from cvspec.render import render_json, render_text

    if fmt == "json":
        return render_json(result)
    if fmt == "markdown":
        return render_markdown(result)
    return render_text(result, verbose=verbose, color=use_color(no_color))


def use_color(no_color: bool) -> bool:
    """Whether to colour standard output: rich's Console decides (a terminal that is not
    TERM=dumb, or FORCE_COLOR / TTY_COMPATIBLE=1 set; never with NO_COLOR set, which wins over
    FORCE_COLOR). `--no-color` answers without importing rich."""
    if no_color:
        return False
    from rich.console import Console

    console = Console(file=sys.stdout)
    return console.color_system is not None and not console.no_color
