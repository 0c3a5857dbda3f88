"""Classify images through the Prediction API with the iteration the spec publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cvspec.errors import CvspecError
from cvspec.live import read_live
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.spec import ValidatedSpec


def classify(
    validated: ValidatedSpec, service: Service, images: tuple[Path, ...], store: bool
) -> Iterator[tuple[Path, list[tuple[str, float]]]]:
    """Yield each image with its (tag, probability) pairs, most probable first."""
    spec = validated.spec
    if spec.publish is None:
        raise CvspecError("the spec publishes nothing (no `publish:` section)")
    if service.prediction is None:
        raise CvspecError(
            "no prediction endpoint: set CVSPEC_PREDICTION_ENDPOINT and CVSPEC_PREDICTION_KEY"
        )
    live = read_live(service, spec.project.name)
    if live.project is None:
        raise CvspecError(f"project {spec.project.name!r} does not exist; run `cvspec apply` first")
    client = service.prediction
    method = client.classify_image if store else client.classify_image_with_no_store
    for image in images:
        with image.open("rb") as data:
            result = call(method, live.project.id, spec.publish.name, data)
        ranked = sorted(
            ((p.tag_name, p.probability) for p in result.predictions), key=lambda x: -x[1]
        )
        yield image, ranked
