"""`cvspec predict`: classify images with the published iteration."""

from __future__ import annotations

from pathlib import Path

import click

from cvspec.commands.common import SPEC, session


@click.command()
@SPEC
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False)
)
@click.option("--store", is_flag=True, help="Store the images and results in the project.")
def predict(spec: Path, images: tuple[Path, ...], store: bool) -> None:
    """Classify IMAGES with the iteration the spec publishes (Prediction API)."""
    from cvspec.predict import classify

    with session(spec) as (validated, service):
        for image, predictions in classify(validated, service, images, store):
            click.echo(f"{image}:")
            for name, probability in predictions:
                click.echo(f"  {name:<24} {probability:7.2%}")
