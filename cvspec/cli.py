"""The command line's main group. User-facing errors become clean messages here, and only here."""

from __future__ import annotations

import sys
from typing import Any

import click

from cvspec import __version__
from cvspec.commands.apply import apply, destroy
from cvspec.commands.export import export
from cvspec.commands.import_ import import_command
from cvspec.commands.plan import plan, show
from cvspec.commands.predict import predict
from cvspec.commands.status import status
from cvspec.commands.test import test
from cvspec.commands.validate import schema, validate
from cvspec.errors import CvspecError, SpecError
from cvspec.variables import redact


class _Group(click.Group):
    """Turns every CvspecError into `Error: ...` lines on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            for problem in exc.problems:
                click.echo(redact(problem), err=True)
            click.echo(f"Error: the spec has {len(exc.problems)} problem(s)", err=True)
            sys.exit(1)
        except CvspecError as exc:
            click.echo(f"Error: {redact(str(exc))}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="cvspec")
def main() -> None:
    """Declarative Azure AI Custom Vision: plan and apply image classifiers from a YAML spec.

    With no CVSPEC_TRAINING_ENDPOINT in the environment, commands run against the built-in
    emulator, whose state lives in .cvspec/ beside the spec.
    """


for command in (validate, plan, show, apply, destroy, predict, schema):
    main.add_command(command)
main.add_command(status)
main.add_command(export)
main.add_command(import_command)
main.add_command(test)


def _mount_emulator() -> None:
    from cvspec.emulator.command import emulator

    main.add_command(emulator)


_mount_emulator()
