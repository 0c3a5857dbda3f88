"""`cvspec apply`: bring the service to the state the spec describes."""

from __future__ import annotations

from pathlib import Path

import click

from cvspec.commands.common import SPEC, make_plan, session
from cvspec.errors import CvspecError


@click.command()
@SPEC
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Stream progress events as JSON lines.")
def apply(spec: Path, auto_approve: bool, as_json: bool) -> None:
    """Bring the service to the state the spec describes."""
    from cvspec.apply import apply_plan
    from cvspec.progress import Reporter
    from cvspec.render import render_text

    with session(spec) as (validated, service):
        result = make_plan(validated, service)
        if not as_json:
            click.echo(render_text(result))
        if result.is_empty():
            return
        if not auto_approve and not confirm():
            raise CvspecError("apply cancelled")
        outcome = apply_plan(result, service, validated.base_dir, Reporter(as_json=as_json))
    for failure in outcome.failures:
        click.echo(failure, err=True)
    if outcome.failures:
        raise CvspecError(f"apply finished with {len(outcome.failures)} failure(s)")
    if not as_json:
        click.echo(f"Apply complete! {outcome.operations} operation(s) done.")


def confirm() -> bool:
    """Terraform's prompt: only 'yes' approves."""
    click.echo("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"
