"""What every command shares: the SPEC argument, the state directory, connecting, planning."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cvspec.plan import Plan
    from cvspec.service import Service
    from cvspec.spec import ValidatedSpec

SPEC = click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))


def state_dir(spec_path: Path) -> Path:
    """Where cvspec keeps local state for a spec: the emulator's data and the hash cache."""
    return spec_path.resolve().parent / ".cvspec"


@contextmanager
def session(spec_path: Path) -> Iterator[tuple[ValidatedSpec, Service]]:
    """Validate the spec offline, then connect; yields (validated spec, service)."""
    from cvspec.service import connect
    from cvspec.spec import load_and_validate

    validated = load_and_validate(spec_path)
    with connect(state_dir(spec_path)) as service:
        yield validated, service


REPLACE = click.option(
    "--replace",
    is_flag=True,
    help="Allow replacing the project (a changed classification or domain type deletes it, "
    "with its images, iterations and published names, and creates it again).",
)


TAKE_OVER = click.option(
    "--take-over",
    is_flag=True,
    help="Take the project over from the spec that owns it (docs/concurrency.md).",
)


def make_plan(
    validated: ValidatedSpec, service: Service, *, replace: bool = False, take_over: bool = False
) -> Plan:
    """Read the live state and diff the spec against it.

    Raises:
        PlanError: the plan replaces the project and `replace` (--replace) is not given,
            or another spec owns the project and `take_over` (--take-over) is not given.
    """
    from cvspec.desired import desired_state
    from cvspec.diff import check_replace_consent, diff
    from cvspec.live import read_live
    from cvspec.ownership import claim, spec_owner
    from cvspec.reserved import refuse_reserved_tags

    desired = desired_state(validated, service.prediction_resource_id)
    refuse_reserved_tags(tag.name for tag in desired.tags)
    live = read_live(service, desired.project_name)
    result = claim(diff(desired, live), live, spec_owner(validated.path), take_over)
    check_replace_consent(result, replace)
    return dataclasses.replace(
        result, target=service.target, spec_path=spec_location(validated.path)
    )


def spec_location(path: Path) -> str:
    """The spec's path as a plan records it: relative to the current directory, so that a
    saved plan applies from another checkout of the same tree (a CI artifact)."""
    absolute = os.path.abspath(path)
    try:
        return os.path.relpath(absolute, os.getcwd()).replace(os.sep, "/")
    except (OSError, ValueError):  # no current directory, or another drive
        return absolute
