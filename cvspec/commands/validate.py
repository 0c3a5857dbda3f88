"""`cvspec validate` and `cvspec schema`: offline checks of the spec."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cvspec.commands.common import SPEC, spec_environment, variable_options


@click.command()
@SPEC
@variable_options
def validate(spec: Path, var: tuple[str, ...], var_file: tuple[Path, ...]) -> None:
    """Check the spec offline: schema, files, images and service limits."""
    from cvspec.spec import load_and_validate

    validated = load_and_validate(spec, spec_environment(var_file, var))
    click.echo(f"{spec}: valid ({len(validated.images)} images, {len(validated.spec.tags)} tags)")


@click.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editors and CI)."""
    from cvspec.spec.schema import spec_json_schema

    click.echo(json.dumps(spec_json_schema(), indent=2))
