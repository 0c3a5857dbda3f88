"""`cvspec export`: a project as a portable dataset folder (docs/export.md)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import connect_spec

if TYPE_CHECKING:
    from cvspec.spec import Spec


@click.command()
@click.argument("source", metavar="SPEC_OR_PROJECT")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A new or empty folder (or the folder of an interrupted export, which resumes).",
)
@click.option(
    "--model-platform",
    "platforms",
    multiple=True,
    metavar="PLATFORM",
    help="Model format to export from compact-domain iterations: ONNX (default), TensorFlow, "
    "CoreML, OpenVino, DockerFile, VAIDK; repeat for several; `none` for no model.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Image downloads per second (default 50; Training API calls keep the tier's rate).",
)
@click.option(
    "--skip-missing",
    is_flag=True,
    help="Finish without the images the service can no longer serve (listed in the card).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Progress as JSON lines (one event per line)."
)
def export(
    source: str,
    target: Path,
    platforms: tuple[str, ...],
    rate: float | None,
    skip_missing: bool,
    as_json: bool,
) -> None:
    """Export a project (named by a spec file, its name or its id) into a portable dataset:
    images, an ImageFolder tree, CSV and JSONL manifests, a dataset card with every
    iteration's evaluation, a spec that rebuilds the project, SHA256SUMS, and the trained
    models of compact-domain iterations."""
    from cvspec.export import DEFAULT_PLATFORMS, ExportOptions, check_target, export_project
    from cvspec.export_images import DOWNLOAD_RATE
    from cvspec.progress import Reporter

    name, spec_path, spec = _source(source)
    threshold = spec.gates.threshold if spec is not None else 0.5
    check_target(target)  # before connecting: a wrong folder costs nothing
    chosen = _platforms(platforms) if platforms else DEFAULT_PLATFORMS
    options = ExportOptions(
        platforms=chosen,
        threshold=threshold,
        rate=rate or DOWNLOAD_RATE,
        skip_missing=skip_missing,
    )
    reporter = Reporter(as_json=as_json)
    try:
        with connect_spec(spec_path, spec) as service:
            summary = export_project(service, name, target, options, emit=reporter)
    except KeyboardInterrupt:
        reporter("interrupted")
        click.echo(
            f"\nInterrupted. The files downloaded are kept; run the same command again to "
            f"finish the export in {target}.",
            err=True,
        )
        sys.exit(130)
    finally:
        reporter.close()
    if as_json:
        reporter(
            "exported",
            folder=str(summary.folder),
            images=summary.images,
            downloaded=summary.fetched,
            tags=summary.tags,
            untagged=summary.untagged,
            missing=[image_id for image_id, _ in summary.missing],
            models=[dataclasses.asdict(m) for m in summary.models],
        )
        return
    counts = ", ".join(f"{tag} {n}" for tag, n in summary.tags.items())
    click.echo(
        f"Exported {summary.images} image(s) ({summary.fetched} downloaded now; {counts}; "
        f"untagged {summary.untagged}) to {summary.folder}"
    )
    for model in summary.models:
        where = model.path or model.note
        click.echo(f"  model {model.iteration} {model.platform}: {model.status} {where}")
    if summary.missing:
        click.echo(f"  {len(summary.missing)} image(s) missing (listed in README.md)")


def _source(source: str) -> tuple[str, Path, Spec | None]:
    """(project name or id, the spec's path, the spec) of SPEC_OR_PROJECT; a project named
    directly is looked for where the current directory's spec would be."""
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        from cvspec.spec import load_spec

        spec = load_spec(path)
        return spec.project.name, path, spec
    return source, Path.cwd() / "spec.yaml", None


def _platforms(given: tuple[str, ...]) -> tuple[str, ...]:
    known = ("ONNX", "TensorFlow", "CoreML", "OpenVino", "DockerFile", "VAIDK")
    chosen = []
    for value in given:
        if value.lower() == "none":
            return ()
        match = next((k for k in known if k.lower() == value.lower()), None)
        if match is None:
            raise click.BadParameter(
                f"{value!r}; one of {', '.join(known)} or none", param_hint="--model-platform"
            )
        chosen.append(match)
    return tuple(dict.fromkeys(chosen))
