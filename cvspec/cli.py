"""The command line: parse arguments, call the core, print. Errors become one line here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cvspec import __version__
from cvspec.errors import CvspecError, SpecError
from cvspec.plan import Plan

SPEC = click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))


class _Group(click.Group):
    """Turns every CvspecError into `Error: ...` lines on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            click.echo(f"Error: the spec has {len(exc.problems)} problem(s)", err=True)
            sys.exit(1)
        except CvspecError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="cvspec")
def main() -> None:
    """Declarative Azure AI Custom Vision: plan and apply image classifiers from a YAML spec.

    With no CVSPEC_TRAINING_ENDPOINT in the environment, commands run against the built-in
    emulator, whose state lives in .cvspec/ beside the spec.
    """


def state_dir(spec_path: Path) -> Path:
    return spec_path.resolve().parent / ".cvspec"


@contextmanager
def _session(spec_path: Path) -> Iterator[tuple[Any, Any]]:
    """Validate the spec offline, then connect; yields (validated spec, service)."""
    from cvspec.service import connect
    from cvspec.spec import load_and_validate

    validated = load_and_validate(spec_path)
    with connect(state_dir(spec_path)) as service:
        yield validated, service


def _make_plan(validated: Any, service: Any) -> Plan:
    from cvspec.desired import desired_state
    from cvspec.diff import diff
    from cvspec.live import read_live

    desired = desired_state(validated, service.prediction_resource_id)
    return diff(desired, read_live(service, desired.project_name))


@main.command()
@SPEC
def validate(spec: Path) -> None:
    """Check the spec offline: schema, files, images and service limits."""
    from cvspec.spec import load_and_validate

    validated = load_and_validate(spec)
    click.echo(f"{spec}: valid ({len(validated.images)} images, {len(validated.spec.tags)} tags)")


@main.command()
@SPEC
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 2: changes, 1: error.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--verbose", "-v", is_flag=True, help="List every image file that changes.")
def plan(spec: Path, detailed_exitcode: bool, fmt: str, verbose: bool) -> None:
    """Show what apply would change in the service."""
    from cvspec.render import render_json, render_text

    with _session(spec) as (validated, service):
        result = _make_plan(validated, service)
    click.echo(render_json(result) if fmt == "json" else render_text(result, verbose))
    if detailed_exitcode and not result.is_empty():
        sys.exit(2)


@main.command()
@SPEC
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Stream progress events as JSON lines.")
def apply(spec: Path, auto_approve: bool, as_json: bool) -> None:
    """Bring the service to the state the spec describes."""
    from cvspec.apply import apply_plan
    from cvspec.progress import Reporter
    from cvspec.render import render_text

    with _session(spec) as (validated, service):
        result = _make_plan(validated, service)
        if not as_json:
            click.echo(render_text(result))
        if result.is_empty():
            return
        if not auto_approve and not _confirm():
            raise CvspecError("apply cancelled")
        outcome = apply_plan(result, service, validated.base_dir, Reporter(as_json=as_json))
    for failure in outcome.failures:
        click.echo(failure, err=True)
    if outcome.failures:
        raise CvspecError(f"apply finished with {len(outcome.failures)} failure(s)")
    if not as_json:
        click.echo(f"Apply complete! {outcome.operations} operation(s) done.")


def _confirm() -> bool:
    click.echo("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


@main.command()
@SPEC
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--store", is_flag=True, help="Store the images and results in the project.")
def predict(spec: Path, images: tuple[Path, ...], store: bool) -> None:
    """Classify IMAGES with the iteration the spec publishes (Prediction API)."""
    from cvspec.predict import classify

    with _session(spec) as (validated, service):
        for image, predictions in classify(validated, service, images, store):
            click.echo(f"{image}:")
            for name, probability in predictions:
                click.echo(f"  {name:<24} {probability:7.2%}")


@main.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editors and CI)."""
    import json

    from cvspec.spec.model import Spec

    click.echo(json.dumps(Spec.model_json_schema(), indent=2))


def _mount_emulator() -> None:
    from cvspec.emulator.command import emulator

    main.add_command(emulator)


_mount_emulator()
