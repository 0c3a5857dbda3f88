"""What every command shares: the SPEC argument, the state directory, connecting, planning."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cvspec.live import LiveState
    from cvspec.ops import Op
    from cvspec.plan import Plan
    from cvspec.service import Service
    from cvspec.spec import Spec, ValidatedSpec

SPEC = click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))


def state_dir(spec_path: Path) -> Path:
    """Where cvspec keeps local state for a spec: the emulator's data and the hash cache."""
    return spec_path.resolve().parent / ".cvspec"


def variable_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--var NAME=VALUE` and `--var-file FILE` (both repeatable), for the spec's `${NAME}`
    references (cvspec.variables); the command receives them as `var` and `var_file`."""
    command = click.option(
        "--var-file",
        "var_file",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Values for the spec's ${NAME} references: YAML (.yaml/.yml/.json) or "
        "NAME=VALUE lines (.env style); repeatable, later files win.",
    )(command)
    return click.option(
        "--var",
        "var",
        multiple=True,
        metavar="NAME=VALUE",
        help="A value for the spec's ${NAME}; repeatable; wins over --var-file and the "
        "environment. Values of secret-named variables (KEY, TOKEN, SAS, ...) are masked in "
        "error messages.",
    )(command)


def spec_environment(var_file: tuple[Path, ...], var: tuple[str, ...]) -> dict[str, str]:
    """What the spec's `${NAME}` reads: the environment, then the var files, then --var."""
    from cvspec.variables import environment

    return environment(var_file, var)


@contextmanager
def connect_spec(spec_path: Path, spec: Spec | None = None) -> Iterator[Service]:
    """The service a spec names: its resources section's accounts when it has one, else
    Azure from the environment, else the built-in emulator beside the spec."""
    from cvspec.service import connect

    resources = spec.resources if spec is not None else None
    wanted = spec.publish.prediction_resource if spec is not None and spec.publish else None
    with connect(state_dir(spec_path), resources, wanted) as service:
        yield service


@contextmanager
def session(
    spec_path: Path, environ: Mapping[str, str] | None = None
) -> Iterator[tuple[ValidatedSpec, Service]]:
    """Validate the spec offline, then connect; yields (validated spec, service)."""
    from cvspec.spec import load_and_validate

    validated = load_and_validate(spec_path, environ)
    with connect_spec(spec_path, validated.spec) as service:
        yield validated, service


REPLACE = click.option(
    "--replace",
    is_flag=True,
    help="Allow replacing the project (a changed classification or domain type deletes it, "
    "with its images, iterations and published names, and creates it again).",
)


def make_plan(validated: ValidatedSpec, service: Service, *, replace: bool = False) -> Plan:
    """Read the live state and diff the spec against it.

    Raises:
        PlanError: the plan replaces the project and `replace` (--replace) is not given.
    """
    from cvspec.desired import desired_state
    from cvspec.diff import check_replace_consent, diff
    from cvspec.plan import order

    account_ops = _account_ops(service)  # refusals about accounts come first
    desired = desired_state(validated, service.prediction_resource_id)
    result = diff(desired, live_state(service, desired.project_name))
    check_replace_consent(result, replace)
    result = dataclasses.replace(result, operations=order([*account_ops, *result.operations]))
    return with_target(result, service, validated.path)


def with_target(result: Plan, service: Service, spec_path: Path) -> Plan:
    """The plan, naming where it goes: the service kind, the Azure endpoint's host, the spec."""
    from cvspec.render import endpoint_host

    host = endpoint_host(service.endpoint) if service.target == "azure" else ""
    return dataclasses.replace(
        result, target=service.target, target_host=host, spec_path=spec_location(spec_path)
    )


def _account_ops(service: Service) -> list[Op]:
    """The accounts of the spec's resources section to create or change (none without it)."""
    if service.resources is None:
        return []
    from cvspec.diff_resources import diff_accounts

    session = service.resources
    return diff_accounts(session.desired, session.read())


def live_state(service: Service, project_name: str) -> LiveState:
    """The project's live state; none while the training account is still to be created."""
    from cvspec.live import LiveDomain, LiveState, read_live
    from cvspec.spec.domains import CLASSIFICATION_DOMAINS

    if service.pending:
        domains = tuple(
            LiveDomain(guid, name, "Classification")
            for name, guid in CLASSIFICATION_DOMAINS.items()
        )
        return LiveState(domains=domains, project=None)
    return read_live(service, project_name)


def spec_location(path: Path) -> str:
    """The spec's path as a plan records it: relative to the current directory, so that a
    saved plan applies from another checkout of the same tree (a CI artifact)."""
    absolute = os.path.abspath(path)
    try:
        return os.path.relpath(absolute, os.getcwd()).replace(os.sep, "/")
    except (OSError, ValueError):  # no current directory, or another drive
        return absolute


def destroy_plan_for(spec: Spec, service: Service) -> Plan:
    """The plan of `cvspec destroy`: the project, and the accounts the spec manages when its
    resources section says destroy_with_project (accounts are otherwise left alone)."""
    from cvspec.diff import destroy_plan
    from cvspec.plan import order

    project = spec.project.name
    result = destroy_plan(project, live_state(service, project), spec.protect)
    session = service.resources
    if session is None or not session.section.destroy_with_project:
        return result
    from cvspec.diff_resources import destroy_accounts

    deleting = destroy_accounts(session.desired, session.read())
    return dataclasses.replace(result, operations=order([*result.operations, *deleting]))
