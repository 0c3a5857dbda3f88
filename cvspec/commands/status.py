"""`cvspec status`: what the live project of a spec holds now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cvspec.commands.common import SPEC, connect_spec


@click.command()
@SPEC
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people (tables on a terminal), json for programs (docs/export.md).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Probability threshold of the evaluation figures (default: the spec's gates', 0.5).",
)
def status(spec: Path, fmt: str, threshold: float | None) -> None:
    """Show what the spec's live project holds: tags and image counts, iterations with
    their evaluation, what is published and the prediction URL clients call."""
    from cvspec.spec import load_spec
    from cvspec.status import gather, require_project, service_name
    from cvspec.status_render import print_rich, status_json, status_text

    loaded = load_spec(spec)
    if threshold is None:
        threshold = loaded.gates.threshold
    with connect_spec(spec, loaded) as service:
        found = gather(service, loaded.project.name, threshold)
        require_project(found, service_name(service))
    if fmt == "json":
        click.echo(status_json(found))
        return
    from cvspec.progress import interactive

    if interactive(sys.stdout):
        from rich.console import Console

        print_rich(found, Console())
    else:
        click.echo(status_text(found))
