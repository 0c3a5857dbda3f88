"""`cvspec import`: a live project (by name or id) as a spec plus its images, or a project
from the service's own export token (ImportProject)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.errors import CvspecError

if TYPE_CHECKING:
    from cvspec.importing.run import ImportResult
    from cvspec.service import Service


@click.command("import")
@click.argument("project", required=False)
@click.option(
    "--to",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the spec and images into (new or empty, or this import's own "
    "unfinished folder, which it resumes).",
)
@click.option(
    "--token",
    envvar="CVSPEC_IMPORT_TOKEN",
    help="Create the project from the service's export token (ExportProject) instead; "
    "also read from CVSPEC_IMPORT_TOKEN. Never printed.",
)
@click.option("--name", help="With --token: the new project's name.")
@click.option(
    "--download-rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Image downloads per second, never exceeded [default: 50].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Training API calls per second, never exceeded [default: 10, the S0/F0 limit].",
)
def import_command(
    project: str | None,
    folder: Path | None,
    token: str | None,
    name: str | None,
    download_rate: float | None,
    rate: float | None,
) -> None:
    """Write a spec and the images of the live project PROJECT (a name or id) into --to DIR.

    Multiclass images go to images/TAG/, multilabel ones to files/ with labels.jsonl,
    untagged ones to untagged/. The import records cvspec's identity on the images and names
    the iteration trained on them, so that `cvspec plan DIR/spec.yaml` is a no-op. An
    interrupted import resumes when run again. See docs/import.md.
    """
    from cvspec.service import connect

    if token is None and (project is None or folder is None):
        raise click.UsageError("give PROJECT and --to DIR (or --token TOKEN --name NAME)")
    if token is not None and project is not None:
        raise click.UsageError("give PROJECT or --token, not both")
    state = (folder.resolve() if folder else Path.cwd()) / ".cvspec"
    with connect(state) as service:
        _configure(service, rate)
        if token is not None:
            project = _import_token(service, token, name)
            if folder is None:
                return
        assert project is not None and folder is not None
        _show(_import(service, project, folder, download_rate))


def _configure(service: Service, rate: float | None) -> None:
    from cvspec.sdk import configure

    configure(service.endpoint, rate=rate)


def _import_token(service: Service, token: str, name: str | None) -> str:
    from cvspec.sdk import call

    if not name:
        raise click.UsageError("--token needs --name, the new project's name")
    try:
        created = call(service.training.import_project, token, name=name)
    except CvspecError as exc:  # the message never holds the token
        raise CvspecError(f"the service refused the import token: {exc}") from exc
    click.echo(f"Created project {created.name!r} ({created.id}) from the export token.")
    return str(created.id)


def _import(service: Service, project: str, folder: Path, rate: float | None) -> ImportResult:
    from cvspec.importing.download import DOWNLOAD_RATE
    from cvspec.importing.run import Options, run_import
    from cvspec.progress import Reporter

    reporter = Reporter()

    def on_progress(done: int, total: int) -> None:
        if total:
            reporter("calls_progress", label="downloading images", done=done, total=total)

    def on_step(text: str) -> None:
        reporter.close()
        click.echo(text)

    try:
        return run_import(
            service,
            project,
            folder,
            on_progress,
            Options(download_rate=rate or DOWNLOAD_RATE),
            on_step,
        )
    except KeyboardInterrupt:
        raise CvspecError(
            f"interrupted; run the same command again to resume the import into {folder}"
        ) from None
    finally:
        reporter.close()


def _show(result: ImportResult) -> None:
    from cvspec.importing import layout
    from cvspec.render import summary_lines

    click.echo(
        f"Imported project {result.project_name!r} ({result.project_id}) into {result.spec}: "
        f"{result.images} image(s), {result.downloaded} downloaded, "
        f"{result.reused} already downloaded by an earlier run."
    )
    if result.untagged:
        where = (
            f"listed in {layout.MANIFEST} with no tags"
            if result.untagged_listed
            else f"listed in {layout.UNTAGGED_LIST}; a multiclass spec cannot list them, "
            "plans report them as drift"
        )
        click.echo(f"Untagged: {result.untagged} image(s) in {layout.UNTAGGED}/, {where}.")
    if result.left_out_tags:
        names = ", ".join(repr(t) for t in result.left_out_tags)
        click.echo(f"Tags without images, not in the spec (kept in the project): {names}.")
    click.echo(f"Recorded cvspec's identity on {result.marked} image(s).")
    if result.unmarked:
        click.echo(
            f"The service refused to record it on {len(result.unmarked)} image(s) (their "
            f"metadata may be full), e.g. {result.unmarked[0]}: plans upload them again."
        )
    naming = result.naming
    if naming.new_name:
        click.echo(f"Named iteration {naming.iteration!r} {naming.new_name!r} (its dataset).")
    elif naming.why_not:
        click.echo(f"Iteration {naming.iteration!r} not adopted: {naming.why_not}.")
    if result.problems:
        for problem in result.problems:
            click.echo(problem, err=True)
        raise CvspecError(
            f"the import is complete, but the written spec has {len(result.problems)} "
            "problem(s) (above); fix them, then run cvspec plan"
        )
    plan = result.plan
    if plan is not None and plan.is_empty():
        click.echo(f"cvspec plan {result.spec}: no changes.")
    elif plan is not None:
        click.echo(f"cvspec plan {result.spec} would change the project:")
        for line in summary_lines(plan):
            click.echo(f"  {line}")
