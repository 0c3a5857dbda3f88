"""`cvspec plan`: show what apply would change."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cvspec.commands.common import SPEC, make_plan, session


@click.command()
@SPEC
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 2: changes, 1: error.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--verbose", "-v", is_flag=True, help="List every image file that changes.")
def plan(spec: Path, detailed_exitcode: bool, fmt: str, verbose: bool) -> None:
    """Show what apply would change in the service."""
    from cvspec.render import render_json, render_text

    with session(spec) as (validated, service):
        result = make_plan(validated, service)
    click.echo(render_json(result) if fmt == "json" else render_text(result, verbose))
    if detailed_exitcode and not result.is_empty():
        sys.exit(2)
