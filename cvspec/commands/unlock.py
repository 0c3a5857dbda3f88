"""`cvspec force-unlock SPEC [LOCK_ID]`: release the project's apply lock (cvspec.lock)."""

from __future__ import annotations

from pathlib import Path

import click

from cvspec.commands.common import SPEC, state_dir


@click.command("force-unlock")
@SPEC
@click.argument("lock_id", required=False)
def force_unlock(spec: Path, lock_id: str | None) -> None:
    """Release the lock an apply holds on the spec's project.

    For a lock left by a run that was killed (it also expires on its own). LOCK_ID, as the
    refusal printed it, makes sure that only that lock is released, not a newer one.
    """
    from cvspec.errors import CvspecError
    from cvspec.live import find_project
    from cvspec.lock import force_unlock as unlock
    from cvspec.service import connect
    from cvspec.spec import load_spec

    name = load_spec(spec).project.name
    with connect(state_dir(spec)) as service:
        project = find_project(service, name)
        if project is None:
            raise CvspecError(f"project {name!r} does not exist: there is no lock to release")
        released = unlock(service, project.id, lock_id)
    if released is None:
        click.echo(f"Project {name!r} is not locked.")
        return
    click.echo(f"Released the lock of project {name!r}, held by {released.describe()}.")
